"""Property-based fuzzing of the REST API from its own OpenAPI schema (Schemathesis) against a live
server: valid and invalid requests for every operation (examples, coverage and fuzzing phases),
checked for server errors, for 2xx JSON bodies that match the schema, and for the error contract
(RFC 9457 problem documents carrying the request id). Well-formed ids in paths are swapped for
ones that exist, so bodies reach the code behind the 404. Inputs the fuzzer hits only by chance
and that broke the server (U+0000 in text) are pinned in their own test.

The run is deterministic (a fixed seed; ``FUZZ_SEED=<n>`` explores other inputs) and bounded: the
two operations that run the model get a handful of examples, the others ``MAX_EXAMPLES``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from awsomechat.api.app import create_app
from awsomechat.seams import Embedder
from awsomechat.settings import Settings
from tests.api.conftest import ARTIFACTS, seed
from tests.live import LiveServer, live_server

SEED = int(os.environ.get("FUZZ_SEED", "20261127"))
MAX_EXAMPLES = 20  # per operation and generation mode (fuzzing phase)
MODEL_OPERATIONS = r"^/v1/chat"  # /v1/chat and /v1/chat/completions: each answer runs the model
MODEL_EXAMPLES = 4
TIMEOUT = 300  # s per request: on a loaded 2-core machine one small-model answer has taken ~60 s


@pytest.fixture(scope="module")
def fuzz_server(data_dir: Path, embedder: Embedder) -> Iterator[LiveServer]:
    # A server of its own: the fuzzer sends thousands of requests (no rate limit) and, with an
    # administrator's key, deletes documents and sessions.
    env = {"AWSOMECHAT_API__RATE_LIMIT_PER_MINUTE": "0"}
    with live_server(data_dir, embedder, ARTIFACTS / "logs", setup=seed, env=env) as s:
        yield s


def _openapi() -> dict[str, Any]:
    """The schema, built in-process at collection time (creating the app opens nothing); the
    first test checks that the live server serves the same one."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        app = create_app(Settings(data_dir=Path(tempfile.gettempdir()) / "awsomechat-openapi"))
    finally:  # create_app configures logging for a server process; not ours to change here
        root.handlers[:] = handlers
        root.setLevel(level)
    return app.openapi()


OPENAPI = _openapi()
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "request-timeout": TIMEOUT,
        "max-stream-events": 10_000,  # read answers to the end (the default stops at 20 events)
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
        "operations": [
            {
                "include-path-regex": MODEL_OPERATIONS,
                # Shrinking a failure here would run the model many more times.
                "generation": {"max-examples": MODEL_EXAMPLES, "no-shrink": True},
            }
        ],
    }
)
schema = schemathesis.openapi.from_dict(OPENAPI, config=CONFIG)


def call_kwargs(server: LiveServer) -> dict[str, Any]:
    return {
        "base_url": server.url,
        "headers": {"Authorization": f"Bearer {server.admin_key}"},
        "timeout": TIMEOUT,
    }


def _content_type(response: Any) -> str:
    return (response.headers.get("content-type") or [""])[0].split(";")[0].strip().lower()


def verify(case: Any, response: Any) -> None:
    """No 5xx; JSON bodies of documented statuses match the schema; errors are problem documents;
    streamed answers carry no error event."""
    ctype = _content_type(response)
    checks = [not_a_server_error]
    if ctype == "application/json":
        # Not for event streams: the schema documents `text/event-stream` as one string, while
        # Schemathesis validates each event against it.
        checks.append(response_schema_conformance)
    case.validate_response(response, checks=checks)

    request_id = (response.headers.get("x-request-id") or [""])[0]
    assert request_id, f"no X-Request-ID on {case.method} {case.path} -> {response.status_code}"
    if response.status_code >= 400:
        assert ctype == "application/problem+json", (response.status_code, ctype, response.text)
        body = response.json()
        assert body["status"] == response.status_code, body
        assert body["request_id"] == request_id, body
        assert isinstance(body["detail"], str) and body["detail"], body
    elif ctype == "text/event-stream":
        text = response.text_lossy()
        # The native stream's `error` event, or the OpenAI stream's error object.
        assert "event: error" not in text and 'data: {"error"' not in text, text[-2000:]
        if case.path == "/v1/chat/completions":
            assert text.rstrip().endswith("data: [DONE]"), text[-2000:]
        else:
            assert "event: final" in text, text[-2000:]


@pytest.fixture(scope="module")
def turn(fuzz_server: LiveServer) -> dict[str, Any]:
    """A stored (abstained, so model-free) turn of the admin: a session and a message to act on."""
    with fuzz_server.client(fuzz_server.admin_key) as http:
        r = http.post("/v1/chat", json={"message": "zebra xylophone quartz", "stream": False})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.fixture(scope="module")
def real_ids(fuzz_server: LiveServer, turn: dict[str, Any]) -> dict[str, str]:
    """Ids of resources that exist, so that fuzzed bodies and queries reach more than a 404."""
    with fuzz_server.client(fuzz_server.admin_key) as http:
        r = http.post(
            "/v1/documents",
            params={"wait": "true"},
            files={"files": ("fuzz.md", b"# Fuzz\n\nA document uploaded before fuzzing.")},
        )
    assert r.status_code == 202, r.text
    return {"session_id": turn["session_id"], "message_id": turn["message_id"], "job_id": r.json()["id"]}


def use_real_ids(case: Any, ids: dict[str, str]) -> None:
    """Replace well-formed generated ids with existing ones (malformed ones stay, to be refused).
    Not for DELETE: the first example would delete what the following ones need."""
    if case.method.upper() == "DELETE":
        return
    for name, value in list((case.path_parameters or {}).items()):
        if name in ids:
            try:
                uuid.UUID(str(value))
            except ValueError:
                continue
            case.path_parameters[name] = ids[name]


def test_served_schema_is_the_fuzzed_one(fuzz_server: LiveServer) -> None:
    assert httpx.get(fuzz_server.url + "/openapi.json", timeout=60).json() == OPENAPI


@schema.parametrize()
@hypothesis.settings(
    deadline=None,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_api_operations(case: Any, fuzz_server: LiveServer, real_ids: dict[str, str]) -> None:
    # Examples, coverage and fuzzing phases, positive and negative data. Nothing is excluded; the
    # model-running operations get MODEL_EXAMPLES fuzzing examples (see CONFIG).
    use_real_ids(case, real_ids)
    verify(case, case.call(**call_kwargs(fuzz_server)))


NUL = "a\x00b"  # PostgreSQL text cannot hold U+0000: such input must be refused (422), not stored
UPLOAD_WITH_NUL_ATTRIBUTE = {
    "files": {"files": ("n.md", b"# N\n\nA document with a NUL in an attribute value.")},
    "data": {"attributes": '{"k": "a\\u0000b"}'},
}


@pytest.mark.parametrize(
    "method, path, kwargs",
    [
        ("GET", "/v1/documents", {"params": {"q": NUL}}),
        ("GET", "/v1/documents", {"params": {"source": NUL}}),
        ("POST", "/v1/query", {"json": {"query": NUL}}),
        ("POST", "/v1/chat", {"json": {"message": f"zebra {NUL}", "stream": False}}),
        ("POST", "/v1/chat", {"json": {"message": f"zebra {NUL}", "stream": True}}),
        (
            "POST",
            "/v1/chat/completions",
            {"json": {"messages": [{"role": "user", "content": f"zebra {NUL}"}], "session_id": "{session}"}},
        ),
        ("PATCH", "/v1/sessions/{session}", {"json": {"title": NUL}}),
        ("POST", "/v1/messages/{message}/feedback", {"json": {"rating": 1, "comment": NUL}}),
        ("POST", "/v1/documents", UPLOAD_WITH_NUL_ATTRIBUTE),
    ],
    ids=[
        "documents-q", "documents-source", "query", "chat", "chat-stream", "completions-session",
        "session-title", "feedback-comment", "upload-attribute",
    ],
)  # fmt: skip
def test_nul_characters_are_refused_cleanly(
    fuzz_server: LiveServer, turn: dict[str, Any], method: str, path: str, kwargs: dict[str, Any]
) -> None:
    """Examples the fuzzer finds only by chance (it does send U+0000): pinned here."""
    ids = {"session": turn["session_id"], "message": turn["message_id"]}
    path = path.format(**ids)
    if "json" in kwargs and kwargs["json"].get("session_id") == "{session}":
        kwargs = {"json": {**kwargs["json"], "session_id": ids["session"]}}
    # A fresh connection each time: after an unhandled error the server drops the keep-alive one.
    headers = {"Authorization": f"Bearer {fuzz_server.admin_key}", "Connection": "close"}
    with httpx.Client(base_url=fuzz_server.url, headers=headers, timeout=TIMEOUT) as http:
        r = http.request(method, path, **kwargs)
    assert r.status_code < 500, f"{method} {path} -> {r.status_code}: {r.text[:500]}"
    rid = r.headers.get("x-request-id")
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/problem+json"), r.text
        assert r.json()["request_id"] == rid
    elif r.headers["content-type"].startswith("text/event-stream"):
        assert "event: error" not in r.text and 'data: {"error"' not in r.text, r.text[-1000:]


def test_server_log_has_no_unhandled_errors(fuzz_server: LiveServer) -> None:
    """Runs last: an exception the handlers caught (a 500) or a failed stream leaves a traceback."""
    log = fuzz_server.log()
    bad = [
        line
        for line in log.splitlines()
        if "unhandled error" in line or "chat stream failed" in line or "Exception in ASGI" in line
    ]
    assert not bad, json.dumps(bad[:10], indent=1)
