"""Decompression bombs (issue 11): a DOCX is judged from its ZIP central directory, before any
part is inflated: too large when unzipped, compressed too well, or too many entries is refused
with a LoaderError that names the limit. Real Word files still load."""

from __future__ import annotations

import io
import resource
import zipfile

import docx
import pytest

from awsomechat.errors import FileTooLargeError, LoaderError
from awsomechat.ingest.loaders.registry import LoaderRegistry
from awsomechat.types import SourceItem

pytestmark = pytest.mark.security

MB = 1024 * 1024
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _word_file(*paragraphs: str) -> bytes:
    document = docx.Document()
    document.add_heading("Travel policy", level=1)
    for text in paragraphs or ("Plain body text.",):
        document.add_paragraph(text)
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def _rebuilt(extra: dict[str, int] | None = None, body_bytes: int = 0, entries: int = 0) -> bytes:
    """A real document, with its body XML padded to ``body_bytes`` of one repeated character
    (inside a text run: python-docx reads it), ``extra`` parts of N zero bytes, and ``entries``
    extra empty entries."""
    src = zipfile.ZipFile(io.BytesIO(_word_file()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for info in src.infolist():
            if info.filename == "word/document.xml" and body_bytes:
                xml = src.read(info)
                head, tail = xml.split(b"<w:body>", 1)
                with z.open("word/document.xml", "w", force_zip64=True) as f:
                    f.write(head + b"<w:body>")
                    para = b"<w:p><w:r><w:t>" + b"A" * 4000 + b"</w:t></w:r></w:p>"
                    for _ in range(body_bytes // len(para)):
                        f.write(para)
                    f.write(tail)
            else:
                z.writestr(info, src.read(info))
        for name, size in (extra or {}).items():
            with z.open(name, "w", force_zip64=True) as f:
                for _ in range(size // MB):
                    f.write(bytes(MB))
        for i in range(entries):
            z.writestr(f"customXml/pad{i}.xml", b"")
    return out.getvalue()


def _item(name: str, data: bytes) -> SourceItem:
    return SourceItem(
        uri=f"test://bombs/{name}", source="test://bombs", name=name, data=data, content_type=DOCX
    )


def _load(name: str, data: bytes) -> None:
    LoaderRegistry().load(_item(name, data), max_bytes=50 * MB)


def test_a_body_that_inflates_past_the_limit_is_refused_before_it_is_inflated() -> None:
    bomb = _rebuilt(body_bytes=150 * MB)
    assert len(bomb) < MB  # like the 408 KB file of the report
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(FileTooLargeError) as caught:
        _load("bomb.docx", bomb)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    message = caught.value.message
    assert message.startswith("bomb.docx:") and "unzipped" in message and "100 MB" in message, message
    assert "AWSOMECHAT_INGEST__MAX_UNZIPPED_MB" in (caught.value.hint or "")
    assert grown_mb < 100, f"peak memory grew {grown_mb:.0f} MB while refusing the bomb"


def test_the_upload_precheck_refuses_the_bomb_too() -> None:
    with pytest.raises(FileTooLargeError, match="unzipped"):
        LoaderRegistry().precheck(_item("bomb.docx", _rebuilt(body_bytes=150 * MB)), max_bytes=50 * MB)


def test_a_part_compressed_past_the_ratio_limit_is_refused() -> None:
    # 40 MB of zeros: under the size limit, but deflated about 1000:1, as no real part is.
    bomb = _rebuilt(extra={"word/media/image1.png": 40 * MB})
    with pytest.raises(LoaderError) as caught:
        _load("ratio.docx", bomb)
    message = caught.value.message
    assert "word/media/image1.png" in message and "100:1" in message, message
    assert "AWSOMECHAT_INGEST__MAX_ZIP_RATIO" in (caught.value.hint or "")


def test_too_many_entries_are_refused_from_the_end_record() -> None:
    bomb = _rebuilt(entries=12_000)
    with pytest.raises(LoaderError, match=r"12,0\d\d entries, over the limit of 10,000"):
        _load("entries.docx", bomb)


def test_a_real_word_file_still_loads() -> None:
    doc = LoaderRegistry().load(_item("policy.docx", _word_file("Book trains for trips under 500 km.")),
                                max_bytes=50 * MB)  # fmt: skip
    assert doc.title == "Travel policy"
    assert "Book trains" in doc.sections[0].text


def test_a_long_but_ordinary_word_file_still_loads() -> None:
    # Ordinary prose deflates a few times over: megabytes of it are a big document, not a bomb.
    paragraphs = [
        " ".join(f"w{(i * 31 + j) % 9973}x{(i * 7 + j) % 613}" for j in range(100)) for i in range(3000)
    ]
    data = _word_file(*paragraphs)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.getinfo("word/document.xml").file_size > 2 * MB
    doc = LoaderRegistry().load(_item("long.docx", data), max_bytes=50 * MB)
    assert sum(len(s.text) for s in doc.sections) > 2 * MB
