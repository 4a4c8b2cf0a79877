"""Documents over HTTP: multipart upload → background job with per-file status → answers cite
the upload; bad uploads are refused whole with a clear error and leave nothing behind."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from awsomechat.seams import Embedder
from tests.api.conftest import ARTIFACTS, seed
from tests.live import LiveServer, live_server

GLACIER = b"# Glacier retrieval\n\nExpedited retrievals from the Zorblax vault finish within 5 minutes.\n"
RUNBOOK = b"Incident runbook\n\nPage the Quokka on-call engineer when the error budget burns twice as fast.\n"


@pytest.fixture(scope="module")
def docs_server(data_dir: Path, embedder: Embedder) -> Iterator[LiveServer]:
    env = {"AWSOMECHAT_INGEST__MAX_FILE_MB": "0.05", "AWSOMECHAT_API__MAX_UPLOAD_FILES": "3"}
    with live_server(data_dir, embedder, ARTIFACTS / "logs", env=env, setup=seed) as s:
        yield s


def _poll(c: httpx.Client, job_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = c.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "partial"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


def _state(s: LiveServer) -> tuple[int, int]:
    with s.container.database.pool.connection() as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM ingest_jobs)"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_upload_runs_a_job_then_answers_cite_the_document(docs_server: LiveServer) -> None:
    with docs_server.client(docs_server.admin_key) as c:
        r = c.post(
            "/v1/documents",
            files=[
                ("files", ("glacier.md", GLACIER, "text/markdown")),
                ("files", ("runbook.txt", RUNBOOK, "text/plain")),
            ],
            data={"attributes": '{"team": "storage", "year": 2026}', "groups": "ops, storage"},
        )
        assert r.status_code == 202, r.text
        assert r.json()["total"] == 2 and r.json()["status"] in ("queued", "running", "succeeded")
        job = _poll(c, r.json()["id"])
        assert job["status"] == "succeeded" and job["done"] == 2
        assert {f["status"] for f in job["files"]} == {"added"} and all(
            f["document_id"] for f in job["files"]
        )
        doc = c.get(f"/v1/documents/{job['files'][0]['document_id']}", params={"passages": "true"}).json()
        assert doc["title"] == "Glacier retrieval" and doc["uri"] == "upload://uploads/glacier.md"
        assert doc["attributes"] == {"team": "storage", "year": 2026} and doc["groups"] == ["ops", "storage"]
        assert "Zorblax" in doc["passage_list"][0]["text"]
        listed = c.get("/v1/documents", params={"q": "glacier"}).json()["documents"]
        assert [d["title"] for d in listed] == ["Glacier retrieval"]
        answer = c.post(
            "/v1/chat",
            json={
                "message": "How fast do expedited retrievals from the Zorblax vault finish?",
                "stream": False,
            },
        ).json()
        assert answer["sources"][0]["title"] == "Glacier retrieval"
        facets = c.get("/v1/facets").json()
        assert {"value": "storage", "count": 2} in facets["attributes"]["team"]
        # The same name again is a new version of that document, not a second one.
        again = c.post(
            "/v1/documents", files=[("files", ("glacier.md", GLACIER + b"\nUpdated.\n", "text/markdown"))]
        )
        assert _poll(c, again.json()["id"])["files"][0]["status"] == "updated"
        assert len(c.get("/v1/documents", params={"q": "glacier"}).json()["documents"]) == 1


def test_group_restricted_upload_is_invisible_to_other_groups(docs_server: LiveServer) -> None:
    outsider = docs_server.create_user("outsider", groups=("sales",))
    with docs_server.client(docs_server.admin_key) as admin, docs_server.client(outsider) as other:
        up = admin.post(
            "/v1/documents",
            files=[
                (
                    "files",
                    ("secret.md", b"# Merger plan\n\nThe Wombat merger closes in March.\n", "text/markdown"),
                )
            ],
            data={"groups": "board"},
            params={"wait": "true"},
        )
        assert up.json()["status"] == "succeeded"
        doc_id = up.json()["files"][0]["document_id"]
        assert other.get(f"/v1/documents/{doc_id}").status_code == 404
        hits = other.post("/v1/query", json={"query": "Wombat merger"}).json()["results"]
        assert all(h["document_id"] != doc_id for h in hits)
        assert other.get(f"/v1/jobs/{up.json()['id']}").status_code == 404


@pytest.mark.parametrize(
    ("files", "status", "needle"),
    [
        (
            [("evil.exe", b"MZ\x90\x00\x03" + bytes(200), "application/octet-stream")],
            415,
            "unsupported file type",
        ),
        ([("fake.pdf", b"this is not a pdf at all", "application/pdf")], 415, "not a PDF"),
        ([("image.md", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "text/markdown")], 415, "binary"),
        ([("big.md", b"# Big\n\n" + b"word " * 20_000, "text/markdown")], 413, "limit per file"),
        ([("empty.txt", b"   \n", "text/plain")], 422, "empty file"),
        ([("a.md", GLACIER, "text/markdown")] * 2, 422, "appears twice"),
        ([(f"f{i}.md", GLACIER, "text/markdown") for i in range(4)], 422, "over the limit of 3"),
    ],
)
def test_bad_uploads_are_refused_whole_and_store_nothing(
    docs_server: LiveServer, files: list[tuple[str, bytes, str]], status: int, needle: str
) -> None:
    before = _state(docs_server)
    good = ("good.md", b"# Good\n\nA perfectly fine document.\n", "text/markdown")
    with docs_server.client(docs_server.admin_key) as c:
        r = c.post("/v1/documents", files=[("files", good), *[("files", f) for f in files]])
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert needle in r.json()["detail"]
    assert r.json()["errors"][0]["field"].startswith("files")
    assert _state(docs_server) == before  # no document, no job: not even the good file


def test_corrupt_file_fails_alone_in_its_job(docs_server: LiveServer) -> None:
    corrupt = b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\nthis is not really a pdf\n%%EOF"
    with docs_server.client(docs_server.admin_key) as c:
        r = c.post(
            "/v1/documents",
            files=[
                ("files", ("broken.pdf", corrupt, "application/pdf")),
                ("files", ("fine.md", b"# Fine\n\nThe Kiwi cluster has twelve nodes.\n", "text/markdown")),
            ],
            params={"wait": "true"},
        )
        job = r.json()
        assert job["status"] == "partial"
        by_name = {f["name"]: f for f in job["files"]}
        assert by_name["broken.pdf"]["status"] == "failed" and by_name["broken.pdf"]["detail"]
        assert by_name["broken.pdf"]["document_id"] is None
        assert by_name["fine.md"]["status"] == "added"
        assert c.get("/v1/documents", params={"q": "broken"}).json()["documents"] == []
        assert any(j["id"] == job["id"] for j in c.get("/v1/jobs").json()["jobs"])


def test_bad_form_fields_name_the_field(docs_server: LiveServer) -> None:
    f = [("files", ("ok.md", GLACIER, "text/markdown"))]
    with docs_server.client(docs_server.admin_key) as c:
        for data, field in (
            ({"attributes": "{not json"}, "attributes"),
            ({"attributes": '["a"]'}, "attributes"),
            ({"attributes": '{"k": {"nested": 1}}'}, "attributes.k"),
            ({"groups": "ok, bad group!"}, "groups"),
            ({"collection": "../etc"}, "collection"),
        ):
            r = c.post("/v1/documents", files=f, data=data)
            assert r.status_code == 422, (data, r.text)
            assert r.json()["errors"][0]["field"] == field


def test_delete_document(docs_server: LiveServer) -> None:
    with docs_server.client(docs_server.admin_key) as c:
        up = c.post(
            "/v1/documents", files=[("files", ("gone.md", b"# Gone\n\nTemporary text.\n", "text/markdown"))],
            params={"wait": "true"},
        )  # fmt: skip
        doc_id = up.json()["files"][0]["document_id"]
        assert c.delete(f"/v1/documents/{doc_id}").status_code == 204
        assert c.get(f"/v1/documents/{doc_id}").status_code == 404
        assert c.delete(f"/v1/documents/{doc_id}").status_code == 404
        # Ids are opaque strings: one that is not ours (a Kendra id, an overflowing number) is a 404,
        # named in the problem, never a 422 or a 500.
        for foreign in ("a1b2c3-kendra-doc", "9" * 30, "%E2%85%A0"):
            r = c.get(f"/v1/documents/{foreign}")
            assert r.status_code == 404, (foreign, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
        assert isinstance(doc_id, str) and doc_id.isdigit()
