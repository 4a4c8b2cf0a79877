"""Uploads against a real server (issue 11): the key (and the administrator's right) is checked
before any byte of the body is read; files are streamed to disk within the per-file and
per-upload limits and refused (413 naming the limit) as soon as one is passed; only so many
uploads are read at once."""

from __future__ import annotations

import io
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import docx
import pytest

from awsomechat.seams import Embedder
from tests.api.conftest import ARTIFACTS, seed
from tests.live import LiveServer, live_server
from tests.security.rawhttp import (
    BOUNDARY,
    Exchange,
    chunked,
    connect,
    filler,
    multipart_file_head,
    multipart_headers,
    request_head,
    send_watching,
)

pytestmark = pytest.mark.security

MB = 1024 * 1024
HOSTILE_BYTES = 200 * MB  # what the attacker sent
# Loopback socket buffers hold a few MB whatever the server does; a server that reads the body
# before refusing it takes all of it (or up to its 41 MB body limit, before this fix).
READ_BEFORE_REFUSAL_MAX = 12 * MB

ENV = {
    "AWSOMECHAT_INGEST__MAX_FILE_MB": "2",
    "AWSOMECHAT_API__MAX_UPLOAD_MB": "5",
    "AWSOMECHAT_API__MAX_CONCURRENT_UPLOADS": "1",
    "AWSOMECHAT_API__RETRY_AFTER_S": "9",
    "AWSOMECHAT_API__BODY_TIMEOUT_S": "60",
}


@pytest.fixture(scope="module")
def server_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server-tmp")


@pytest.fixture(scope="module")
def upload_server(data_dir: Path, embedder: Embedder, server_tmp: Path) -> Iterator[LiveServer]:
    env = {**ENV, "TMPDIR": str(server_tmp)}  # where the server spools uploads
    with live_server(data_dir, embedder, ARTIFACTS / "logs", env=env, setup=seed) as s:
        yield s


def test_a_normal_multipart_upload_still_works_field_by_field(upload_server: LiveServer) -> None:
    body = (
        multipart_file_head("fields.md")
        + b"# Fields\n\nThe Zanzibar gateway closes at nine.\n\r\n"
        + f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="groups"\r\n\r\nops\r\n'.encode()
        + f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="collection"\r\n\r\nsec\r\n'.encode()
        + f"--{BOUNDARY}--\r\n".encode()
    )
    with upload_server.client(upload_server.admin_key) as c:
        r = c.post(
            "/v1/documents", params={"wait": "true"}, content=body,
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        )  # fmt: skip
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["status"] == "succeeded" and job["collection"] == "sec" and job["groups"] == ["ops"]


def _hostile_upload(server: LiveServer, tmp: Path, key: str | None, total: int = HOSTILE_BYTES) -> Exchange:
    """One file of ``total`` bytes, chunked (no Content-Length to refuse it by), sent as fast as
    the server takes it while watching for an early answer."""
    sock = connect(server.url)
    try:
        head = request_head(server.url, "POST", "/v1/documents", multipart_headers(key), chunked=True)
        body = chunked(iter([multipart_file_head("big.md"), *filler(total)]))
        return send_watching(sock, head, body, pid=server.procs[0].pid, tmpdir=tmp)
    finally:
        sock.close()


def test_upload_without_a_key_is_refused_before_its_body_is_read(
    upload_server: LiveServer, server_tmp: Path
) -> None:
    ex = _hostile_upload(upload_server, server_tmp, None)
    assert ex.status == 401, ex
    assert ex.sent < READ_BEFORE_REFUSAL_MAX, f"{ex.sent / MB:.0f} MB were taken before the 401"
    assert ex.peak_temp_bytes < MB, f"the server spooled {ex.peak_temp_bytes / MB:.0f} MB to disk"
    assert ex.peak_rss_growth < 64 * MB, f"server RSS grew {ex.peak_rss_growth / MB:.0f} MB"
    assert b"API key" in ex.body


def test_upload_with_a_non_admin_key_is_refused_before_its_body_is_read(
    upload_server: LiveServer, server_tmp: Path
) -> None:
    key = upload_server.create_user("reader")
    ex = _hostile_upload(upload_server, server_tmp, key)
    assert ex.status == 403, ex
    assert ex.sent < READ_BEFORE_REFUSAL_MAX, f"{ex.sent / MB:.0f} MB were taken before the 403"
    assert ex.peak_temp_bytes < MB
    assert b"administrator" in ex.body


def test_a_file_over_the_limit_is_refused_as_soon_as_it_passes_it(
    upload_server: LiveServer, server_tmp: Path
) -> None:
    ex = _hostile_upload(upload_server, server_tmp, upload_server.admin_key)
    assert ex.status == 413, ex
    assert b"big.md" in ex.body and b"2 MB limit per file" in ex.body, ex.body
    assert ex.sent < 2 * MB + READ_BEFORE_REFUSAL_MAX
    assert ex.peak_temp_bytes <= 2 * MB + 256 * 1024, "more than the limit was spooled"


def test_an_upload_over_the_total_limit_is_refused(upload_server: LiveServer) -> None:
    files = [
        ("files", (f"part{i}.md", b"# Part\n\n" + b"word " * 400_000, "text/markdown")) for i in range(3)
    ]
    with upload_server.client(upload_server.admin_key) as c:
        r = c.post("/v1/documents", files=files)
    assert r.status_code == 413, r.text
    assert "5 MB limit per upload" in r.json()["detail"]
    assert r.headers["content-type"] == "application/problem+json"


def test_concurrent_uploads_past_the_cap_get_503_with_retry_after(upload_server: LiveServer) -> None:
    # The first upload is being read (its body stalls half-way); a second one is refused at once.
    first = connect(upload_server.url)
    try:
        first.sendall(request_head(upload_server.url, "POST", "/v1/documents",
                                   multipart_headers(upload_server.admin_key), chunked=True))  # fmt: skip
        first.sendall(next(chunked(iter([multipart_file_head("slow.md") + b"# Slow\n\nstill coming"]))))
        with upload_server.client(upload_server.admin_key) as c:
            refused = c.post("/v1/documents", files={"files": ("quick.md", b"# Quick\n\nA quick upload.")})
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "9"
        assert "uploads" in refused.json()["detail"]
    finally:
        first.close()
    # Once the first upload has gone, uploads are accepted again.
    with upload_server.client(upload_server.admin_key) as c:
        for _ in range(50):
            ok = c.post("/v1/documents", files={"files": ("quick.md", b"# Quick\n\nA quick upload.")})
            if ok.status_code != 503:
                break
            threading.Event().wait(0.1)
    assert ok.status_code == 202, ok.text


def _docx_bomb(inflated: int) -> bytes:
    """A real Word document whose body XML inflates to ``inflated`` bytes (deflate, ~1000:1)."""
    buf = io.BytesIO()
    docx.Document().save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for info in src.infolist():
            if info.filename != "word/document.xml":
                z.writestr(info, src.read(info))
        xml = src.read("word/document.xml")
        head, tail = xml.split(b"<w:body>", 1)
        with z.open("word/document.xml", "w", force_zip64=True) as f:
            f.write(head + b"<w:body><w:p><w:r><w:t>")
            piece = b"A" * MB
            for _ in range(inflated // MB):
                f.write(piece)
            f.write(b"</w:t></w:r></w:p>" + tail)
    return out.getvalue()


def test_a_docx_bomb_is_refused_at_the_upload(upload_server: LiveServer) -> None:
    bomb = _docx_bomb(150 * MB)
    assert len(bomb) < 2 * MB  # under the per-file limit: only its inflated size gives it away
    with upload_server.client(upload_server.admin_key) as c:
        r = c.post("/v1/documents", files={"files": ("bomb.docx", bomb, "application/octet-stream")})
    assert r.status_code == 413, r.text
    detail = r.json()["detail"]
    assert "bomb.docx" in detail and "unzipped" in detail and "MAX_UNZIPPED_MB" in detail, detail


def test_the_server_keeps_serving_after_the_hostile_uploads(upload_server: LiveServer) -> None:
    assert upload_server.procs[0].poll() is None, upload_server.log()[-3000:]
    with upload_server.client(upload_server.admin_key) as c:
        assert c.get("/v1/documents").status_code == 200
