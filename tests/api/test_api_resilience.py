"""Statelessness and recovery: turns of one session on different server processes, several
workers behind one port, and the database going away and coming back."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import httpx

from awsomechat.seams import Embedder
from awsomechat.store import embedded
from tests.api.conftest import ARTIFACTS, seed
from tests.live import LiveServer, launch, live_server

LAMBDA_Q = "What is the maximum deployment package size for AWS Lambda?"


def test_a_session_continues_on_another_server_process(server: LiveServer) -> None:
    other, other_url = launch(server.env, server.log_path)
    try:
        headers = {"Authorization": f"Bearer {server.admin_key}"}
        first = httpx.post(
            f"{server.url}/v1/chat", json={"message": LAMBDA_Q, "stream": False}, headers=headers, timeout=120
        )
        sid = first.json()["session_id"]
        second = httpx.post(
            f"{other_url}/v1/chat",
            json={"message": "And what is it for container images?", "session_id": sid, "stream": False},
            headers=headers,
            timeout=120,
        )
        assert second.status_code == 200, second.text
        # The second process loaded turn 1 from the shared store and rewrote the follow-up with it
        # (the conversation's subject in place of "it").
        assert second.json()["standalone_question"] == "And what is AWS Lambda for container images?"
        turns = httpx.get(f"{other_url}/v1/sessions/{sid}/messages", headers=headers).json()["messages"]
        assert [t["question"] for t in turns] == [LAMBDA_Q, "And what is it for container images?"]
    finally:
        other.terminate()
        other.wait(timeout=20)


def test_several_workers_share_one_port_and_the_metrics(server: LiveServer) -> None:
    proc, url = launch(server.env, server.log_path, "--workers", "2")
    try:
        headers = {"Authorization": f"Bearer {server.admin_key}"}
        codes = [
            httpx.post(f"{url}/v1/query", json={"query": "VPN tunnel bandwidth"}, headers=headers).status_code
            for _ in range(12)
        ]
        assert codes == [200] * 12
        answer = httpx.post(
            f"{url}/v1/chat", json={"message": LAMBDA_Q, "stream": False}, headers=headers, timeout=120
        )
        assert answer.status_code == 200
        metrics = httpx.get(f"{url}/metrics").text
        line = next(
            x
            for x in metrics.splitlines()
            if x.startswith("awsomechat_http_requests_total{") and "/v1/query" in x
        )
        assert float(line.rsplit(" ", 1)[1]) == 12.0  # summed over both workers
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_database_outage_gives_503_and_the_service_recovers(embedder: Embedder) -> None:
    own_dir = Path(tempfile.mkdtemp(prefix="awsomechat-outage-"))  # its own PostgreSQL server to stop
    try:
        with live_server(own_dir, embedder, ARTIFACTS / "logs", setup=seed) as s:
            headers = {"Authorization": f"Bearer {s.admin_key}"}
            with httpx.Client(base_url=s.url, headers=headers, timeout=60) as c:
                assert c.post("/v1/query", json={"query": "VPN"}).status_code == 200
                embedded.stop(own_dir)
                t_down = time.monotonic()
                for r in (
                    c.post("/v1/query", json={"query": "VPN"}),
                    c.get("/v1/sessions"),
                    c.post("/v1/chat", json={"message": LAMBDA_Q, "stream": False}),
                ):
                    assert r.status_code == 503, r.text
                    assert r.headers["content-type"] == "application/problem+json"
                    assert int(r.headers["retry-after"]) > 0
                print(f"three 503s in {time.monotonic() - t_down:.1f} s")
                assert c.get("/healthz").status_code == 200
                ready = c.get("/readyz")
                assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith(
                    "unavailable"
                )
                embedded.start(own_dir, "postgres")
                t_back = time.monotonic()
                deadline = time.monotonic() + 60
                while c.get("/readyz").status_code != 200 and time.monotonic() < deadline:
                    time.sleep(0.5)
                print(f"recovered {time.monotonic() - t_back:.1f} s after the database came back")
                assert c.post("/v1/query", json={"query": "VPN"}).status_code == 200
                assert c.post("/v1/chat", json={"message": LAMBDA_Q, "stream": False}).status_code == 200
    finally:
        embedded.stop(own_dir)
        shutil.rmtree(own_dir, ignore_errors=True)
