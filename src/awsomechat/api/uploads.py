"""Reads a multipart upload from the request stream, after the caller has been authenticated.

FastAPI parses ``File``/``Form`` parameters before any dependency runs, so a route declaring them
would receive (and spool to disk) a whole body before learning that the caller has no key. The
upload route declares none: its dependencies authenticate first, then this module streams the
body through python-multipart's parser, writing each file to a spooled temporary file and
refusing the request as soon as a limit is passed (413 naming it), however much is still coming.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import IO, Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from awsomechat.api.context import ApiContext
from awsomechat.api.problems import ApiProblem
from awsomechat.errors import ValidationFailedError

FILES_FIELD = "files"
FORM_FIELDS = ("attributes", "groups", "collection")
MAX_FIELD_BYTES = 64 * 1024
_SPOOL_IN_MEMORY = 1024 * 1024
_MB = 1024 * 1024

_FILES_DOC = "one or more files (PDF, HTML, Markdown, DOCX, text, CSV/JSON FAQ)"
# The request body as OpenAPI describes it (the route reads it itself, so FastAPI cannot).
OPENAPI_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILES_FIELD],
                    "properties": {
                        FILES_FIELD: {
                            "type": "array",
                            "items": {"type": "string", "contentMediaType": "application/octet-stream"},
                            "description": _FILES_DOC,
                        },
                        "attributes": {
                            "type": "string",
                            "description": 'JSON object, e.g. {"team": "finance"}',
                        },
                        "groups": {
                            "type": "string",
                            "description": "comma-separated groups that may read the documents",
                        },
                        "collection": {
                            "type": "string",
                            "default": "uploads",
                            "description": "upload collection; same name = new version",
                        },
                    },
                }
            }
        },
    }
}


@dataclass(frozen=True)
class UploadLimits:
    max_files: int
    max_file_mb: float
    max_total_mb: float

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * _MB)

    @property
    def max_total_bytes(self) -> int:
        return int(self.max_total_mb * _MB)


@dataclass
class ReceivedFile:
    index: int
    name: str
    content_type: str | None
    file: IO[bytes]
    size: int = 0

    def read(self) -> bytes:
        self.file.seek(0)
        return self.file.read()


@dataclass
class ReceivedUpload:
    """The form fields and the spooled files of one upload; ``close()`` deletes the files."""

    fields: dict[str, str] = field(default_factory=dict)
    files: list[ReceivedFile] = field(default_factory=list)

    def close(self) -> None:
        for f in self.files:
            f.file.close()


def safe_name(raw: str | None, index: int) -> str:
    """The file name without any directory part; 422 when nothing usable is left."""
    name = PurePath((raw or "").replace("\\", "/")).name.strip()
    if not name or name in (".", "..") or len(name) > 255 or any(ord(c) < 32 for c in name):
        raise ValidationFailedError(f"files[{index}]", f"file name {raw!r} is not usable")
    return name


class _FormReader:
    """python-multipart callbacks that keep the limits while the body streams in."""

    def __init__(self, limits: UploadLimits, upload: ReceivedUpload) -> None:
        self.limits = limits
        self.upload = upload
        self.total = 0
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._file: ReceivedFile | None = None
        self._field: str | None = None  # a form field being read (None: a part to skip)
        self._value = bytearray()

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    def on_part_begin(self) -> None:
        self._headers, self._file, self._field = {}, None, None
        self._value = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_name.strip().lower()] = self._header_value.strip()
        self._header_name, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if name == FILES_FIELD:
            index = len(self.upload.files)
            if filename is None:
                raise ValidationFailedError(f"files[{index}]", "must be a file (a part with a filename)")
            if index >= self.limits.max_files:
                raise ValidationFailedError(
                    FILES_FIELD, f"more than {self.limits.max_files} files, over the limit of "
                    f"{self.limits.max_files} per upload",
                )  # fmt: skip
            clean = safe_name(filename.decode("utf-8", "replace"), index)
            if any(f.name == clean for f in self.upload.files):
                raise ValidationFailedError(f"files[{index}]", f"{clean} appears twice in this upload")
            ctype = self._headers.get(b"content-type", b"").decode("latin-1") or None
            spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 - closed by close()
            self._file = ReceivedFile(index, clean, ctype, spool)
            self.upload.files.append(self._file)
        elif name in FORM_FIELDS and filename is None:
            self._field = name

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        n = end - start
        self.total += n
        if self.total > self.limits.max_total_bytes:
            raise ApiProblem(
                413, f"the upload is over the {self.limits.max_total_mb:g} MB limit per upload"
                " (setting api.max_upload_mb)",
                errors=[{"field": FILES_FIELD, "message": "upload too large"}],
            )  # fmt: skip
        if self._file is not None:
            f = self._file
            f.size += n
            if f.size > self.limits.max_file_bytes:
                raise ApiProblem(
                    413, f"{f.name} is over the {self.limits.max_file_mb:g} MB limit per file"
                    " (setting ingest.max_file_mb)",
                    errors=[{"field": f"files[{f.index}]", "message": "file too large"}],
                )  # fmt: skip
            f.file.write(data[start:end])
        elif self._field is not None:
            if len(self._value) + n > MAX_FIELD_BYTES:
                raise ValidationFailedError(self._field, f"over the limit of {MAX_FIELD_BYTES // 1024} KB")
            self._value += data[start:end]

    def on_part_end(self) -> None:
        if self._field is not None:
            self.upload.fields[self._field] = self._value.decode("utf-8", "replace")
        self._file, self._field = None, None


async def receive_upload(request: Request, limits: UploadLimits) -> ReceivedUpload:
    """Stream the multipart body to spooled files within ``limits``; the caller closes the result."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        raise ValidationFailedError(FILES_FIELD, "send the files as multipart/form-data (with a boundary)")
    upload = ReceivedUpload()
    reader = _FormReader(limits, upload)
    parser = MultipartParser(params[b"boundary"], reader.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        upload.close()
        raise ValidationFailedError(FILES_FIELD, f"the multipart body is malformed ({exc})") from None
    except ClientDisconnect:
        upload.close()
        raise ApiProblem(400, "the client went away during the upload") from None
    except BaseException:
        upload.close()
        raise
    if not upload.files:
        upload.close()
        raise ValidationFailedError(FILES_FIELD, "no files in the upload")
    return upload


@contextlib.contextmanager
def upload_slot(ctx: ApiContext) -> Iterator[None]:
    """One of ``api.max_concurrent_uploads`` per process, or 503 + Retry-After at once."""
    api = ctx.settings.api
    if ctx.uploads_in_progress >= api.max_concurrent_uploads:
        ctx.metrics.rejected.labels("uploads_busy").inc()
        raise ApiProblem(
            503, f"{api.max_concurrent_uploads} uploads are being received already"
            " (setting api.max_concurrent_uploads); try again shortly",
            retry_after=api.retry_after_s, code="uploads-busy",
        )  # fmt: skip
    ctx.uploads_in_progress += 1
    try:
        yield
    finally:
        ctx.uploads_in_progress -= 1
