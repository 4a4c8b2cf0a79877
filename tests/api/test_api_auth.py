"""Authentication and isolation: user A can never read B's conversations, nor documents outside
A's groups, through any endpoint, including by guessing ids. Keys are hashed and never logged."""

from __future__ import annotations

import subprocess
import sys
import uuid

import httpx
import psycopg
import pytest

from tests.live import LiveServer, launch

# Part of the adversarial suite (issue 11): the access probes across every endpoint.
pytestmark = pytest.mark.security

PAYROLL_Q = "When are salaries paid at Octank?"


@pytest.fixture(scope="module")
def keys(server: LiveServer) -> dict[str, str]:
    return {
        "alice": server.create_user("alice", groups=("finance",)),
        "bob": server.create_user("bob", groups=("engineering",)),
    }


def test_requests_without_a_valid_key_are_refused(server: LiveServer) -> None:
    for headers in ({}, {"Authorization": "Bearer awc_aaaaaaaa_" + "x" * 32}, {"Authorization": "Basic abc"}):
        r = httpx.get(f"{server.url}/v1/sessions", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert "keys create" in r.json()["detail"]


def test_revoked_key_stops_working(server: LiveServer) -> None:
    key = server.create_user("carol")
    assert httpx.get(f"{server.url}/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    server.keys.revoke_key(key[4:12])
    assert httpx.get(f"{server.url}/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_me_reports_the_principal(server: LiveServer, keys: dict[str, str]) -> None:
    with server.client(keys["alice"]) as c:
        assert c.get("/v1/me").json() == {
            "user_id": "alice", "groups": ["finance"], "admin": False, "local_mode": False
        }  # fmt: skip


def test_conversations_are_private_even_by_guessed_ids(server: LiveServer, keys: dict[str, str]) -> None:
    with server.client(keys["alice"]) as alice, server.client(keys["bob"]) as bob:
        turn = alice.post("/v1/chat", json={"message": PAYROLL_Q, "stream": False}).json()
        sid, mid = turn["session_id"], turn["message_id"]
        assert bob.get("/v1/sessions").json()["sessions"] == []
        attempts = [
            bob.get(f"/v1/sessions/{sid}"),
            bob.get(f"/v1/sessions/{sid}/messages"),
            bob.patch(f"/v1/sessions/{sid}", json={"title": "mine now"}),
            bob.delete(f"/v1/sessions/{sid}"),
            bob.post(f"/v1/messages/{mid}/feedback", json={"rating": -1}),
            bob.post("/v1/chat", json={"message": "and then?", "session_id": sid, "stream": False}),
            bob.post(
                "/v1/chat/completions",
                json={"messages": [{"role": "user", "content": "x"}], "session_id": sid},
            ),
        ]
        for r in attempts:
            assert r.status_code == 404, (r.request.method, r.request.url, r.text)
            assert "session" in r.json()["detail"] or "message" in r.json()["detail"]
        # Indistinguishable from an id that does not exist.
        ghost = bob.get(f"/v1/sessions/{uuid.uuid4()}")
        assert ghost.status_code == 404 and ghost.json()["title"] == "Not found"
        # Alice still has everything, untouched.
        kept = alice.get(f"/v1/sessions/{sid}/messages").json()
        assert kept["session"]["title"] != "mine now" and kept["messages"][0]["rating"] is None


def test_documents_outside_the_callers_groups_are_invisible(server: LiveServer, keys: dict[str, str]) -> None:
    finance_doc = server.container.documents.find_by_uri("test://finance/payroll.md", _admin())
    assert finance_doc is not None
    with server.client(keys["alice"]) as alice, server.client(keys["bob"]) as bob:
        seen = alice.post("/v1/query", json={"query": PAYROLL_Q}).json()["results"]
        assert seen[0]["title"] == "Payroll calendar"
        # Bob: not in search, chat sources, document list, document by id, facets, nor via filters.
        hits = bob.post("/v1/query", json={"query": PAYROLL_Q, "page_size": 100}).json()["results"]
        assert all(h["source"] != "test://finance" for h in hits)
        narrowed = bob.post(
            "/v1/query",
            json={
                "query": PAYROLL_Q,
                "filters": [{"field": "source", "op": "eq", "value": "test://finance"}],
            },
        )
        assert narrowed.json()["results"] == []
        answer = bob.post("/v1/chat", json={"message": PAYROLL_Q, "stream": False}).json()
        assert all(s["document_id"] != str(finance_doc.id) for s in answer["sources"])
        assert "25th" not in answer["answer"]
        docs = bob.get("/v1/documents", params={"limit": 500}).json()["documents"]
        assert finance_doc.id not in {d["id"] for d in docs}
        assert bob.get(f"/v1/documents/{finance_doc.id}").status_code == 404
        assert "test://finance" not in str(bob.get("/v1/facets").json())
        completion = bob.post(
            "/v1/chat/completions", json={"messages": [{"role": "user", "content": PAYROLL_Q}]}
        )
        assert "Payroll" not in str(completion.json()["awsomechat"]["sources"])


def test_admin_routes_need_the_admin_flag(server: LiveServer, keys: dict[str, str]) -> None:
    with server.client(keys["alice"]) as alice:
        up = alice.post(
            "/v1/documents", files=[("files", ("x.md", b"# X\n\nSome text here.\n", "text/markdown"))]
        )
        assert up.status_code == 403 and "administrator" in up.json()["detail"]
        assert alice.delete("/v1/documents/1").status_code == 403


def test_keys_are_stored_hashed_and_never_logged(server: LiveServer, keys: dict[str, str]) -> None:
    with psycopg.connect(server.container.database.url) as conn:
        stored = conn.execute("SELECT secret_hash, prefix FROM api_keys").fetchall()
    for key in keys.values():
        assert all(key.encode() not in bytes(h) and p in key for h, p in stored if p in key)
        assert key not in server.log()
        assert key[len("awc_xxxxxxxx_") :] not in server.log()


def test_local_mode_is_refused_off_loopback(tmp_path: object) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "awsomechat", "serve", "--host", "0.0.0.0", "--local"],
        capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "AWSOMECHAT_DATA_DIR": str(tmp_path)},
    )  # fmt: skip
    assert out.returncode == 2
    assert "AWSOMECHAT_API__LOCAL_MODE" in out.stderr or "local_mode" in out.stderr
    assert "loopback" in out.stderr


def _admin():  # type: ignore[no-untyped-def]
    from awsomechat.types import AccessScope

    return AccessScope.admin()


def test_local_mode_serves_loopback_callers_without_a_key(server: LiveServer) -> None:
    proc, url = launch({**server.env, "AWSOMECHAT_API__LOCAL_MODE": "true"}, server.log_path)
    try:
        assert httpx.get(f"{url}/v1/info").json()["local_mode"] is True
        me = httpx.get(f"{url}/v1/me").json()
        assert me == {"user_id": "local", "groups": [], "admin": True, "local_mode": True}
        answer = httpx.post(f"{url}/v1/chat", json={"message": PAYROLL_Q, "stream": False}, timeout=120)
        assert answer.status_code == 200
        # A key still identifies its own user in local mode, and a bad key is still refused.
        bob = httpx.get(f"{url}/v1/me", headers={"Authorization": f"Bearer {server.admin_key}"}).json()
        assert bob["user_id"] == "admin" and bob["local_mode"] is False
        assert httpx.get(f"{url}/v1/me", headers={"Authorization": "Bearer nope"}).status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_streamed_answers_and_jobs_reveal_nothing_hidden(server: LiveServer, keys: dict[str, str]) -> None:
    """The SSE stream (question, sources, tokens, final) and the job list of an outsider hold no
    trace of a document outside its groups; a non-admin cannot delete or upload."""
    from tests.api.sse_client import chat

    finance_doc = server.container.documents.find_by_uri("test://finance/payroll.md", _admin())
    assert finance_doc is not None
    with server.client(keys["bob"]) as bob:
        for filters in ([], [{"field": "team", "op": "eq", "value": "finance"}]):
            events = chat(bob, message=PAYROLL_Q, filters=filters)
            text = str([e.data for e in events])
            assert "Payroll calendar" not in text and "test://finance" not in text and "25th" not in text
        jobs = bob.get("/v1/jobs")
        assert "payroll" not in jobs.text.lower()
        assert bob.delete(f"/v1/documents/{finance_doc.id}").status_code in (403, 404)
        upload = bob.post("/v1/documents", files={"files": ("x.md", b"# x\n\ny\n", "text/markdown")})
        assert upload.status_code == 403
    assert server.container.documents.find_by_uri("test://finance/payroll.md", _admin()) is not None
