"""`ingest s3://bucket/prefix/` against moto in server mode (real boto3 clients, real files):
incremental by ETag (unchanged objects are not downloaded), content hash for re-uploads, prune,
per-object failures, bucket errors as SourceError, and the CLI's summary line."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import docx
import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

import awsomechat.ingest.sources.s3 as s3_source
from awsomechat.container import Container
from awsomechat.errors import SourceError
from awsomechat.ingest.pipeline import IngestOptions
from awsomechat.ingest.sources import open_source
from awsomechat.ingest.sources.s3 import parse_s3_spec
from awsomechat.settings import Settings
from awsomechat.testing.source import Place, SourceContract
from awsomechat.types import AccessScope, SearchRequest
from tests.helpers import consistency_problems
from tests.moto_aws import CREDENTIALS, S3_ACCESS_DENIED, aws_client, failing_endpoint, moto_server


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def s3(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[str]]:
    """A boto3 S3 client on moto, the standard AWS environment pointing at it, and the names of
    the S3 calls the ingest source makes (its own client is built from that environment)."""
    for key, value in {**CREDENTIALS, "AWS_ENDPOINT_URL_S3": endpoint}.items():
        monkeypatch.setenv(key, value)
    calls: list[str] = []
    build = s3_source.client

    def counted(service: str, **kw: Any) -> Any:
        made = build(service, **kw)
        made.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
        return made

    monkeypatch.setattr(s3_source, "client", counted)
    return aws_client("s3", endpoint), calls


def _bucket(client: Any) -> str:
    name = f"kb-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return name


def _pdf(lines: list[str]) -> bytes:
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, pagesize=A4)
    pdf.setTitle("Quarterly Report")
    for text in lines:
        pdf.drawString(72, 750, text)
        pdf.showPage()
    pdf.save()
    return buf.getvalue()


def _docx() -> bytes:
    document = docx.Document()
    document.core_properties.title = "Employee Handbook"
    document.add_heading("Leave", level=1)
    document.add_paragraph("Employees accrue twenty-five vacation days per year, booked in the portal.")
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


GUIDE = "# Onboarding guide\n\nNew starters collect their badge from the front desk on day one.\n"
PAGE = (
    "<html><head><title>Travel policy</title></head><body><main><h1>Travel policy</h1>"
    "<p>Economy class is booked for flights under six hours; receipts go to finance.</p></main></body></html>"
)
FILES: dict[str, tuple[bytes, str | None]] = {
    "kb/guide.md": (GUIDE.encode(), "text/markdown"),
    "kb/policies/travel": (PAGE.encode(), "text/html"),  # no extension: chosen by Content-Type
    "kb/report.pdf": (_pdf(["Revenue grew by eleven percent in the third quarter."]), None),
    "kb/handbook.docx": (_docx(), None),
    "kb/broken.pdf": (b"%PDF-1.4 this is not really a PDF \x00\x01" * 20, "application/pdf"),
    "kb/folder/": (b"", None),  # a console-made "folder"
    "kb/.DS_Store": (b"\x00\x00\x00\x01Bud1", None),
    "other/outside.md": (b"# Outside\n\nNot under the prefix.\n", None),
}


def _put(client: Any, bucket: str, key: str, data: bytes, content_type: str | None = None) -> None:
    extra = {"ContentType": content_type} if content_type else {}
    client.put_object(Bucket=bucket, Key=key, Body=data, **extra)


def _titles(c: Container, text: str) -> list[str]:
    return [h.title for h in c.retriever.search(SearchRequest(text=text, k=10, mode="bm25")).hits]


def test_an_s3_prefix_syncs_incrementally(container: Container, s3: tuple[Any, list[str]]) -> None:
    client, calls = s3
    bucket = _bucket(client)
    for key, (data, content_type) in FILES.items():
        _put(client, bucket, key, data, content_type)
    spec = f"s3://{bucket}/kb/"
    ing = container.ingestion

    first = ing.ingest([spec], IngestOptions())
    assert (first.added, first.updated, first.unchanged, first.deleted) == (4, 0, 0, 0)
    assert [name for name, _ in first.failed] == ["broken.pdf"]  # it fails alone
    assert "PDF" in first.failed[0][1]
    assert (calls.count("ListObjectsV2"), calls.count("GetObject")) == (1, 5)
    docs = {d.uri: d for d in container.documents.list_documents(AccessScope.admin())}
    assert sorted(docs) == [f"s3://{bucket}/kb/{k}" for k in ("guide.md", "handbook.docx", "policies/travel",
                                                               "report.pdf")]  # fmt: skip
    assert {d.format for d in docs.values()} == {"markdown", "html", "pdf", "docx"}
    assert {d.source for d in docs.values()} == {spec}
    assert _titles(container, "vacation portal")[:1] == ["Employee Handbook"]
    assert _titles(container, "revenue third quarter")[:1] == ["Quarterly Report"]
    assert _titles(container, "economy class flights")[:1] == ["Travel policy"]

    calls.clear()
    second = ing.ingest([spec], IngestOptions())
    assert (second.added, second.updated, second.unchanged, second.deleted) == (0, 0, 4, 0)
    assert calls.count("GetObject") == 1  # only the object that failed: the others by ETag

    calls.clear()
    _put(client, bucket, "kb/guide.md", b"# Onboarding guide\n\nBadges now come by internal mail.\n")
    third = ing.ingest([spec], IngestOptions())
    assert (third.added, third.updated, third.unchanged) == (0, 1, 3)
    assert calls.count("GetObject") == 2
    assert _titles(container, "badges internal mail")[:1] == ["Onboarding guide"]

    # The same bytes uploaded again in parts: a new ETag, so one download, then the content hash
    # says unchanged and the new ETag is recorded (the next sync does not download it).
    data = FILES["kb/handbook.docx"][0]
    upload = client.create_multipart_upload(Bucket=bucket, Key="kb/handbook.docx")["UploadId"]
    part = client.upload_part(Bucket=bucket, Key="kb/handbook.docx", UploadId=upload, PartNumber=1, Body=data)
    client.complete_multipart_upload(
        Bucket=bucket, Key="kb/handbook.docx", UploadId=upload,
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )  # fmt: skip
    calls.clear()
    fourth = ing.ingest([spec], IngestOptions())
    assert (fourth.updated, fourth.unchanged, calls.count("GetObject")) == (0, 4, 2)
    calls.clear()
    ing.ingest([spec], IngestOptions())
    assert calls.count("GetObject") == 1

    client.delete_object(Bucket=bucket, Key="kb/report.pdf")
    kept = ing.ingest([spec], IngestOptions())
    assert kept.deleted == 0 and container.documents.count() == 4
    pruned = ing.ingest([spec], IngestOptions(prune=True))
    assert pruned.summary().startswith("0 added, 0 updated, 3 unchanged, 1 deleted, 1 failed")
    assert "Quarterly Report" not in _titles(container, "revenue third quarter")
    assert consistency_problems(container) == []


def test_changed_ingest_options_reprocess_objects(container: Container, s3: tuple[Any, list[str]]) -> None:
    client, calls = s3
    bucket = _bucket(client)
    _put(client, bucket, "guide.md", GUIDE.encode())
    spec = f"s3://{bucket}"
    container.ingestion.ingest([spec], IngestOptions())
    calls.clear()
    report = container.ingestion.ingest([spec], IngestOptions(groups=("hr",), attributes={"team": "hr"}))
    assert (report.updated, calls.count("GetObject")) == (1, 1)
    assert container.documents.list_documents(AccessScope.public()) == []


def test_globs_select_keys_relative_to_the_prefix(container: Container, s3: tuple[Any, list[str]]) -> None:
    client, _ = s3
    bucket = _bucket(client)
    for key in ("docs/a.md", "docs/drafts/b.md", "docs/c.txt"):
        _put(client, bucket, key, f"# {key}\n\nSome text about {key}.\n".encode())
    report = container.ingestion.ingest(
        [f"s3://{bucket}/docs/"], IngestOptions(include=("*.md",), exclude=("drafts/",))
    )
    assert report.added == 1
    assert [d.uri for d in container.documents.list_documents(AccessScope.admin())] == [
        f"s3://{bucket}/docs/a.md"
    ]


def test_oversize_objects_fail_by_name_without_a_download(
    container: Container, settings: Settings, s3: tuple[Any, list[str]]
) -> None:
    client, calls = s3
    bucket = _bucket(client)
    _put(client, bucket, "big.txt", b"word " * 2000)  # 10 kB
    _put(client, bucket, "small.md", GUIDE.encode())
    settings.ingest.max_file_mb = 0.005  # 5 kB
    report = container.ingestion.ingest([f"s3://{bucket}/"], IngestOptions())
    assert report.added == 1 and [n for n, _ in report.failed] == ["big.txt"]
    assert report.failed[0][1] == "object is 9.8 KB, over the 5.1 KB limit"
    assert calls.count("GetObject") == 1


def test_bucket_errors_are_source_errors_with_a_hint(
    container: Container, s3: tuple[Any, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    report = container.ingestion.ingest(["s3://no-such-bucket-here/docs/"], IngestOptions())
    assert report.failed[0][0] == "s3://no-such-bucket-here/docs/"
    assert "no such S3 bucket: no-such-bucket-here" in report.failed[0][1]
    assert "AWS_REGION" in report.failed[0][1]
    with failing_endpoint(S3_ACCESS_DENIED) as (url, _):
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", url)
        with pytest.raises(SourceError) as info:
            open_source("s3://locked-bucket/", include=[], exclude=[], max_bytes=1 << 20, crawl_depth=0,
                        crawl_max_pages=1, timeout_s=5, user_agent="test")  # fmt: skip
    assert "access denied listing s3://locked-bucket/" in info.value.message
    assert "s3:ListBucket" in str(info.value.hint)


def test_bad_s3_locations_and_a_missing_boto3(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_s3_spec("s3://my-bucket/a/b c/") == ("my-bucket", "a/b c/")
    assert parse_s3_spec("s3://my-bucket") == ("my-bucket", "")
    for bad in ("s3://", "s3:///prefix", "s3://Upper_Case/", "s3://ab/"):
        with pytest.raises(SourceError):
            parse_s3_spec(bad)
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(Exception) as info:
        open_source("s3://my-bucket/", include=[], exclude=[], max_bytes=1, crawl_depth=0,
                    crawl_max_pages=1, timeout_s=5, user_agent="test")  # fmt: skip
    assert "awsomechat[aws]" in str(info.value)


def test_the_cli_ingests_an_s3_prefix(
    container: Container, settings: Settings, s3: tuple[Any, list[str]]
) -> None:
    client, _ = s3
    bucket = _bucket(client)
    _put(client, bucket, "kb/guide.md", GUIDE.encode())
    _put(client, bucket, "kb/travel.html", PAGE.encode())
    env = {
        **os.environ,
        "COLUMNS": "200",
        "AWSOMECHAT_DATA_DIR": str(settings.data_dir),
        "AWSOMECHAT_DATABASE__NAME": settings.database.name,
    }  # the AWS variables are set by the fixture

    def ingest(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "awsomechat", "ingest", f"s3://{bucket}/kb/", *args]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)

    first = ingest()
    assert first.returncode == 0, first.stdout + first.stderr
    assert "2 added, 0 updated, 0 unchanged, 0 deleted, 0 failed" in first.stdout
    client.delete_object(Bucket=bucket, Key="kb/travel.html")
    second = ingest("--prune")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "0 added, 0 updated, 1 unchanged, 1 deleted, 0 failed" in second.stdout


class TestS3SourceContract(SourceContract):
    @pytest.fixture
    def place(self, s3: tuple[Any, list[str]]) -> Place:
        client, _ = s3
        bucket = _bucket(client)

        def put(files: dict[str, bytes]) -> str:
            for rel, data in files.items():
                client.put_object(Bucket=bucket, Key=f"docs/{rel}", Body=data)
            return f"s3://{bucket}/docs/"

        return put
