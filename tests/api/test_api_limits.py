"""Limits: per-key rate (429 + Retry-After), the bounded answer queue (503 + Retry-After, never a
hang), request body size, and errors as problem documents with request ids."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from awsomechat.seams import Embedder
from tests.api.conftest import ARTIFACTS, seed
from tests.api.sse_client import events
from tests.live import LiveServer, live_server

LIMITED = {
    "AWSOMECHAT_API__RATE_LIMIT_PER_MINUTE": "6",
    "AWSOMECHAT_API__GENERATION_QUEUE_DEPTH": "0",
    "AWSOMECHAT_API__RETRY_AFTER_S": "7",
    "AWSOMECHAT_API__MAX_BODY_KB": "4",
    "AWSOMECHAT_LLM__MAX_ANSWER_TOKENS": "600",
}


@pytest.fixture(scope="module")
def limited(data_dir: Path, embedder: Embedder) -> Iterator[LiveServer]:
    with live_server(data_dir, embedder, ARTIFACTS / "logs", env=LIMITED, setup=seed) as s:
        yield s


def test_rate_limit_per_key_gives_429_with_retry_after(limited: LiveServer) -> None:
    key = limited.create_user("busy")
    other = limited.create_user("calm")
    with limited.client(key) as c:
        codes = [c.get("/v1/sessions").status_code for _ in range(8)]
        assert codes[:6] == [200] * 6 and codes[6:] == [429, 429]
        r = c.get("/v1/sessions")
        assert 1 <= int(r.headers["retry-after"]) <= 61  # the window counts whole seconds: 60 s + under 1
        assert r.json()["retry_after"] == int(r.headers["retry-after"])
        assert "6 requests per minute" in r.json()["detail"]
    with limited.client(other) as c:  # limits are per key
        assert c.get("/v1/sessions").status_code == 200


def test_full_answer_queue_refuses_at_once_with_503(limited: LiveServer) -> None:
    key_a = limited.create_user("first")
    key_b = limited.create_user("second")
    # A question the documents answer: one they do not cover abstains without the model and never
    # meets the queue (tests/security/test_abstain_no_slot.py).
    question = (
        "Explain the maximum AWS Lambda deployment package size zipped and unzipped and the container"
        " image size."
    )
    refused = None
    with limited.client(key_a) as a, limited.client(key_b) as b:
        # While A's answer is generating (its first token has arrived), B is refused at once. The small
        # model may finish a short answer before B's request lands, so try a few times.
        for _ in range(5):
            with a.stream("POST", "/v1/chat", json={"message": question}) as response:
                for ev in events(response):
                    if ev.name == "token":
                        r = b.post("/v1/chat", json={"message": question, "stream": False}, timeout=10)
                        break
            assert r.status_code in (200, 503), r.text
            if r.status_code == 503:
                refused = r
                break
        assert refused is not None, "the queue never refused while an answer was generating"
        assert refused.headers["retry-after"] == "7"
        assert refused.json()["type"].endswith("queue-full")
    metrics = httpx.get(f"{limited.url}/metrics").text
    assert 'awsomechat_rejected_total{reason="queue_full"}' in metrics


def test_oversized_body_is_refused_before_it_is_read(limited: LiveServer) -> None:
    key = limited.create_user("verbose")
    with limited.client(key) as c:
        r = c.post(
            "/v1/query", json={"query": "x" * 1500, "filters": [{"field": "title", "value": "y" * 5000}]}
        )
        assert r.status_code == 413
        assert r.headers["content-type"] == "application/problem+json"
        assert "4 KiB" in r.json()["detail"] and r.json()["request_id"]


def test_every_error_is_a_problem_document_with_the_request_id(limited: LiveServer) -> None:
    key = limited.create_user("curious")
    with limited.client(key) as c:
        for r in (
            c.get("/v1/nowhere"),
            c.put("/v1/chat"),
            c.get("/v1/sessions/not-a-uuid"),
            c.post("/v1/query", content=b"{not json", headers={"content-type": "application/json"}),
            c.get("/v1/sessions", headers={"X-Request-ID": "trace-123"}),
        ):
            if r.status_code == 200:
                assert r.headers["x-request-id"] == "trace-123"
                continue
            body = r.json()
            assert r.headers["content-type"] == "application/problem+json"
            assert body["status"] == r.status_code and body["title"] and body["detail"]
            assert body["request_id"] == r.headers["x-request-id"]
