"""The supervised model runner behind a real ``awsomechat serve``: crash mid-answer, 503 while it is
down, restart, crash loop, a model that cannot generate, and one runner for several workers."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from awsomechat.container import Container
from awsomechat.seams import Embedder
from tests.api.sse_client import events
from tests.helpers import ingest_texts
from tests.live import LiveServer, live_server

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
DOCS = {
    "lambda.md": "# Lambda quotas\n\nThe maximum deployment package size for AWS Lambda is 50 MB zipped"
    " and 250 MB unzipped. A function can use up to five layers at a time. The timeout is 900 seconds.\n",
}
# Every question reaches the model (the relevance gate would abstain on some), and answers are long
# enough to be interrupted.
ANSWERING = {
    "AWSOMECHAT_CHAT__MIN_COVERAGE": "0",
    "AWSOMECHAT_CHAT__MIN_DENSE": "0",
    "AWSOMECHAT_LLM__MAX_ANSWER_TOKENS": "160",
    "AWSOMECHAT_LLM__TEMPERATURE": "0.9",
}
QUESTION = "Describe AWS Lambda deployment packages, layers and timeouts in detail."


def seed(c: Container) -> None:
    ingest_texts(c, DOCS)


def readyz(server: LiveServer) -> tuple[int, dict[str, Any]]:
    resp = httpx.get(f"{server.url}/readyz", timeout=10)
    return resp.status_code, resp.json()


def wait_for(server: LiveServer, pred: Any, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        _, body = readyz(server)
        if pred(body):
            return body
        time.sleep(0.2)
    raise AssertionError(f"/readyz never matched; last: {body}\n{server.log()[-3000:]}")


def stored_turns(server: LiveServer, user: str) -> int:
    conv = server.container.conversations
    return sum(len(conv.turns(user, s.id)) for s in conv.list_sessions(user))


@pytest.fixture(scope="module")
def server(data_dir: Path, embedder: Embedder) -> Iterator[LiveServer]:
    with live_server(data_dir, embedder, ARTIFACTS / "logs", env=ANSWERING, setup=seed) as s:
        yield s


def test_readyz_reports_the_runner_after_its_self_test(server: LiveServer) -> None:
    status, body = readyz(server)
    assert status == 200, body
    runner = body["model_runner"]
    assert runner["state"] == "ready"
    assert runner["selftest"]["tokens"] >= 1  # a real generation happened before "ready"
    assert isinstance(runner["pid"], int) and runner["pid"] != server.procs[0].pid
    assert runner["last_error"] is None


def test_runner_killed_mid_answer(server: LiveServer) -> None:
    key = server.create_user("kill-test")
    runner_pid = readyz(server)[1]["model_runner"]["pid"]
    restarts = readyz(server)[1]["model_runner"]["restarts"]
    seen: list[str] = []
    with server.client(key) as client:
        with client.stream("POST", "/v1/chat", json={"message": QUESTION}) as resp:
            assert resp.status_code == 200
            for event in events(resp):
                seen.append(event.name)
                if event.name == "token" and seen.count("token") == 2:
                    os.kill(runner_pid, signal.SIGKILL)  # a native crash, as far as anyone can tell
                if event.name == "error":
                    error = event.data
        assert "final" not in seen, seen
        assert seen[-1] == "error", seen
        assert "model" in error["message"] or "runner" in error["message"]
        assert stored_turns(server, "kill-test") == 0  # nothing half-stored

        # While it is down or reloading: 503 at once, with Retry-After and a problem document.
        t0 = time.monotonic()
        resp = client.post("/v1/chat", json={"message": QUESTION, "stream": False})
        assert resp.status_code == 503, resp.text
        assert time.monotonic() - t0 < 5
        assert int(resp.headers["Retry-After"]) >= 1
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.json()["type"].endswith("/model-unavailable")
        resp = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": QUESTION}]})
        assert resp.status_code == 503
        # Search does not need the model.
        assert client.post("/v1/query", json={"query": "Lambda layers"}).status_code == 200
        down = readyz(server)
        assert down[0] == 503 and down[1]["model_runner"]["state"] in ("restarting", "starting")
        assert "SIGKILL" in down[1]["model_runner"]["last_error"]

        body = wait_for(server, lambda b: b["model_runner"]["state"] == "ready")
        assert body["model_runner"]["restarts"] == restarts + 1
        assert body["model_runner"]["pid"] != runner_pid
        resp = client.post("/v1/chat", json={"message": QUESTION, "stream": False})
        assert resp.status_code == 200, resp.text
        assert resp.json()["answer"]
        assert stored_turns(server, "kill-test") == 1


def test_one_runner_serves_two_workers(data_dir: Path, embedder: Embedder) -> None:
    with live_server(
        data_dir, embedder, ARTIFACTS / "logs", env=ANSWERING, setup=seed, args=("--workers", "2")
    ) as s:
        runner_pid = readyz(s)[1]["model_runner"]["pid"]
        ps = os.popen(f"ps -o pid= --ppid {s.procs[0].pid}").read().split()
        children = [int(p) for p in ps]
        assert runner_pid in children
        # Only the runner holds the weights: a worker maps the vocabulary alone.
        model_rss = _rss_kb(runner_pid)
        workers = [p for p in children if p != runner_pid and "spawn_main" in _cmdline(p)]
        assert len(workers) == 2
        with s.client(s.admin_key) as client:
            for _ in range(2):  # whichever worker takes it, the same runner answers
                resp = client.post("/v1/chat", json={"message": QUESTION, "stream": False})
                assert resp.status_code == 200, resp.text
        assert readyz(s)[1]["model_runner"]["restarts"] == 0
        assert model_rss > 50_000


def test_crash_loop_stays_down_with_its_reason(data_dir: Path, embedder: Embedder) -> None:
    env = {**ANSWERING, "AWSOMECHAT_LLM__RUNNER_MAX_RESTARTS": "0"}
    with live_server(data_dir, embedder, ARTIFACTS / "logs", env=env, setup=seed) as s:
        os.kill(readyz(s)[1]["model_runner"]["pid"], signal.SIGSEGV)
        body = wait_for(s, lambda b: b["model_runner"]["state"] == "failed", timeout=20)
        assert "SIGSEGV" in body["model_runner"]["last_error"]
        assert body["status"] == "not ready"
        time.sleep(2)
        assert readyz(s)[1]["model_runner"]["state"] == "failed"  # not restarted again
        with s.client(s.admin_key) as client:
            resp = client.post("/v1/chat", json={"message": QUESTION})
            assert resp.status_code == 503
            assert "repeated crashes" in resp.json()["detail"]
            assert client.post("/v1/query", json={"query": "Lambda layers"}).status_code == 200
            assert client.get("/v1/sessions").status_code == 200
            assert client.get("/").status_code == 200  # the UI


def test_a_model_that_cannot_load_is_never_ready(data_dir: Path, embedder: Embedder, tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + os.urandom(4096))
    env = {
        **ANSWERING,
        "AWSOMECHAT_LLM__MODEL_PATH": str(broken),
        "AWSOMECHAT_LLM__RUNNER_MAX_RESTARTS": "1",
        "AWSOMECHAT_LLM__RUNNER_BACKOFF_MAX_S": "0.5",
    }
    # The API workers read only the vocabulary, which this file does not have either: their
    # warm-up fails, but they serve; so the runner's state decides.
    with live_server(data_dir, embedder, ARTIFACTS / "logs", env=env, setup=seed, wait=False) as s:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                status, body = readyz(s)
            except httpx.HTTPError:
                time.sleep(0.3)
                continue
            if body.get("model_runner", {}).get("state") == "failed":
                break
            assert status == 503, body  # never ready on the way
            time.sleep(0.3)
        else:
            raise AssertionError(s.log()[-3000:])
        error = body["model_runner"]["last_error"]
        assert "exited with code 3" in error and "could not load" in error
        with s.client(s.admin_key) as client:
            assert client.post("/v1/chat", json={"message": QUESTION}).status_code == 503
            assert client.post("/v1/query", json={"query": "Lambda layers"}).status_code == 200


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
