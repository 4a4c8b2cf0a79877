"""Property-based fuzzing of the REST API from its own OpenAPI schema (Schemathesis) against a live
server: valid and invalid requests for every operation, checked for server errors, for 2xx
bodies that match the schema, and for the error contract (RFC 9457 problem documents carrying the
request id).

The run is deterministic (a fixed seed; ``FUZZ_SEED=<n>`` explores other inputs) and bounded: the
two operations that run the model get a handful of examples, the others ``MAX_EXAMPLES``.
"""

from __future__ import annotations

import json
import os
import tempfile
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
TIMEOUT = 180  # s per request: a loaded 2-core machine may queue answers behind each other


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
    app = create_app(Settings(data_dir=Path(tempfile.gettempdir()) / "awsomechat-openapi"))
    return app.openapi()


OPENAPI = _openapi()
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "request-timeout": TIMEOUT,
        "max-stream-events": 10_000,  # read answers to the end (the default stops at 20 events)
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
        "operations": [
            {"include-path-regex": MODEL_OPERATIONS, "generation": {"max-examples": MODEL_EXAMPLES}}
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


def test_served_schema_is_the_fuzzed_one(fuzz_server: LiveServer) -> None:
    assert httpx.get(fuzz_server.url + "/openapi.json", timeout=60).json() == OPENAPI


@schema.parametrize()
@hypothesis.settings(
    deadline=None,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_api_operations(case: Any, fuzz_server: LiveServer) -> None:
    # Examples, coverage and fuzzing phases, positive and negative data. Nothing is excluded; the
    # model-running operations get MODEL_EXAMPLES fuzzing examples (see CONFIG).
    verify(case, case.call(**call_kwargs(fuzz_server)))


def test_stateful_links(fuzz_server: LiveServer) -> None:
    """Sequences of calls following the links Schemathesis infers (a session from /v1/chat renamed,
    read, rated and deleted; a job from an upload polled...)."""

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return call_kwargs(fuzz_server)

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            verify(case, response)

    Workflow.run(
        settings=hypothesis.settings(
            max_examples=15,
            stateful_step_count=6,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )


def test_server_log_has_no_unhandled_errors(fuzz_server: LiveServer) -> None:
    """Runs last: an exception the handlers caught (a 500) or a failed stream leaves a traceback."""
    log = fuzz_server.log()
    bad = [
        line
        for line in log.splitlines()
        if "unhandled error" in line or "chat stream failed" in line or "Exception in ASGI" in line
    ]
    assert not bad, json.dumps(bad[:10], indent=1)
