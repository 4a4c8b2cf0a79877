"""``POST /v1/chat`` over a real server: streamed events, JSON mode, sessions, follow-ups,
abstention, profiles, filters, validation, and cancellation by disconnecting."""

from __future__ import annotations

import time

import httpx

from tests.api.sse_client import chat, events
from tests.live import LiveServer

LAMBDA_Q = "What is the maximum deployment package size for AWS Lambda?"


def test_stream_sends_question_sources_tokens_then_final(server: LiveServer) -> None:
    with server.client(server.admin_key) as c:
        evs = chat(c, message=LAMBDA_Q)
    names = [e.name for e in evs]
    assert names[0] == "question" and names[1] == "sources" and names[-1] == "final"
    tokens = [e for e in evs if e.name == "token"]
    # Checked sentences stream one by one (chat.verify): the pieces make up the stored answer.
    assert tokens and "".join(t.data["text"] for t in tokens).strip() == evs[-1].data["answer"].strip()
    final = evs[-1]
    assert tokens[0].at <= final.at
    assert evs[1].data["abstained"] is False
    assert evs[1].data["sources"][0]["title"] == "Lambda quotas"
    body = final.data
    assert body["answer"] and body["session_id"] and body["message_id"]
    assert body["question"] == LAMBDA_Q
    assert body["sources"][0]["title"] == "Lambda quotas"
    assert body["prompt_tokens"] > 0 and body["completion_tokens"] > 0
    assert {"retrieve_s", "total_s"} <= set(body["timings"])


def test_json_mode_and_session_follow_up(server: LiveServer) -> None:
    with server.client(server.admin_key) as c:
        first = c.post("/v1/chat", json={"message": LAMBDA_Q, "stream": False})
        assert first.status_code == 200, first.text
        sid = first.json()["session_id"]
        second = c.post(
            "/v1/chat",
            json={"message": "And what about container images?", "session_id": sid, "stream": False},
        )
        assert second.status_code == 200, second.text
        assert second.json()["session_id"] == sid
        history = c.get(f"/v1/sessions/{sid}/messages").json()
    assert [m["seq"] for m in history["messages"]] == [1, 2]
    assert history["session"]["title"].startswith("What is the maximum deployment")
    assert history["messages"][0]["sources"][0]["title"] == "Lambda quotas"


def test_question_outside_the_documents_abstains_with_closest_sources(server: LiveServer) -> None:
    with server.client(server.admin_key) as c:
        r = c.post(
            "/v1/chat", json={"message": "Who won the 1998 football world cup final?", "stream": False}
        )
    body = r.json()
    assert r.status_code == 200 and body["abstained"] is True
    assert body["citations"] == [] and "do not cover" in body["answer"]
    assert body["model"] == ""  # the model was not called


def test_email_reply_profile_drafts_a_grounded_reply(server: LiveServer) -> None:
    email = (
        "Hello support,\n\nwhat is the maximum deployment package size for AWS Lambda, zipped and"
        " unzipped?\n\nThanks, Maria"
    )
    with server.client(server.admin_key) as c:
        r = c.post("/v1/chat", json={"message": email, "profile": "email_reply", "stream": False})
    assert r.status_code == 200, r.text
    body = r.json()
    assert not body["abstained"] and body["sources"][0]["title"] == "Lambda quotas"
    assert body["standalone_question"] != email  # searched with the request, not the greeting


def test_filters_narrow_the_sources(server: LiveServer) -> None:
    with server.client(server.admin_key) as c:
        r = c.post(
            "/v1/chat",
            json={
                "message": "How much bandwidth does a VPN tunnel support?",
                "filters": [{"field": "uri", "op": "eq", "value": "test://kb/lambda.md"}],
                "stream": False,
            },
        )
    assert r.status_code == 200
    assert {s["uri"] for s in r.json()["sources"]} <= {"test://kb/lambda.md"}


def test_invalid_requests_name_the_field(server: LiveServer) -> None:
    with server.client(server.admin_key) as c:
        cases = {
            "profile": c.post("/v1/chat", json={"message": "hi", "profile": "pirate"}),
            "message": c.post("/v1/chat", json={"message": "x" * 9000}),
            "filters[0]": c.post(
                "/v1/chat",
                json={"message": "hi", "filters": [{"field": "bad field!", "op": "eq", "value": 1}]},
            ),
            "session_id": c.post("/v1/chat", json={"message": "hi", "session_id": "not-a-uuid"}),
            "stream": c.post("/v1/chat", json={"message": "hi", "stream": "maybe"}),
        }
        for field, r in cases.items():
            assert r.status_code == 422, (field, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert any(e["field"].startswith(field) for e in r.json()["errors"]), (field, r.json())
        missing = c.post(
            "/v1/chat", json={"message": "hi", "session_id": "5b0c9c3e-1f7e-4f43-9d7b-3c3b0c4a7e10"}
        )
        assert missing.status_code == 404 and missing.json()["request_id"]


def test_disconnecting_stops_generation_and_stores_nothing(server: LiveServer) -> None:
    with server.client(server.admin_key) as c:
        before = len(c.get("/v1/sessions").json()["sessions"])
        with c.stream("POST", "/v1/chat", json={"message": LAMBDA_Q}) as response:
            for ev in events(response):
                if ev.name == "token":
                    break  # the user pressed stop: close the connection mid-answer
        time.sleep(1.0)
        assert len(c.get("/v1/sessions").json()["sessions"]) == before
        # The model slot was given back: the next answer is served at once.
        t0 = time.monotonic()
        again = c.post("/v1/chat", json={"message": LAMBDA_Q, "stream": False})
        assert again.status_code == 200 and time.monotonic() - t0 < 60
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'awsomechat_answers_total{outcome="cancelled"}' in metrics


def test_metrics_count_requests_tokens_and_timings(server: LiveServer) -> None:
    with server.client(server.admin_key) as c:
        assert c.post("/v1/chat", json={"message": LAMBDA_Q, "stream": False}).status_code == 200
        assert c.post("/v1/query", json={"query": "VPN bandwidth"}).status_code == 200
    text = httpx.get(f"{server.url}/metrics").text
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert samples['awsomechat_http_requests_total{method="POST",route="/v1/chat",status="200"}'] >= 1
    assert samples['awsomechat_tokens_total{kind="completion"}'] > 0
    assert samples["awsomechat_time_to_first_token_seconds_count"] >= 1
    assert samples['awsomechat_retrieval_seconds_count{endpoint="query"}'] >= 1
    assert samples['awsomechat_answers_total{outcome="answered"}'] >= 1
    assert "awsomechat_generation_queue_depth" in samples
    assert 'awsomechat_http_request_seconds_bucket{le="0.1",method="POST",route="/v1/query"}' in samples
