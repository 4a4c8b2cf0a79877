"""An S3 prefix as a source: ``awsomechat ingest s3://bucket/prefix/`` (boto3, the ``aws`` extra).

- The prefix is listed once, page by page (ListObjectsV2), when the source is opened: a bucket
  that cannot be listed (no such bucket, access denied, unreachable) is a SourceError before
  anything is read or pruned, and a listing is never partial.
- Every object becomes a :class:`~awsomechat.ingest.sources.LazyItem` versioned by its ETag: the
  pipeline downloads it (GetObject) only when the stored document records another ETag, so a
  re-sync of an unchanged bucket downloads nothing. A changed ETag over the same bytes (a
  re-upload) is compared by content hash and only the new ETag is recorded. The downloaded item
  carries the ETag too, so a queued copy (``ingest --queue``) records it when a worker stores it.
- Objects over the size limit fail by name without being downloaded; bodies are read to at most
  one byte past it. The loader is chosen as for files: by extension, then by the object's
  Content-Type (unless it is the generic ``binary/octet-stream``), then by the bytes.
- Keys ending in ``/`` (folder markers) and keys with a hidden segment (``.git/…``,
  ``.DS_Store``) are skipped; ``--include``/``--exclude`` globs match the key relative to the
  prefix, as they match paths relative to a folder.
- The source (``--prune`` scope) is ``s3://bucket/prefix``; a document's URI is
  ``s3://bucket/<key>`` with the key percent-encoded (``/`` kept).
- Object metadata (``x-amz-meta-*``) is not read: attributes and groups come from ``--attr`` and
  ``--groups`` for every object. (Changing metadata keeps an object's ETag, so metadata-borne
  groups could not be synced incrementally anyway.)
"""

from __future__ import annotations

import functools
import mimetypes
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from awsomechat.aws import client, describe_error, error_code, is_aws_error
from awsomechat.errors import SourceError
from awsomechat.ingest.sources import LazyItem, SourceFailure, format_size
from awsomechat.ingest.sources.files import PathFilter
from awsomechat.types import SourceItem

__all__ = ["S3Object", "S3Source", "parse_s3_spec"]

_GENERIC_TYPES = frozenset({"binary/octet-stream", "application/octet-stream", ""})
_GONE_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_WHAT = "the S3 source"


def parse_s3_spec(spec: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix/`` → ``("bucket", "some/prefix/")``.

    Raises:
        SourceError: no bucket name, or one S3 would not accept.
    """
    parts = urlsplit(spec.strip())
    bucket = parts.netloc
    if parts.scheme.lower() != "s3" or not bucket:
        raise SourceError(f"invalid S3 location: {spec!r}", hint="write it as s3://bucket/prefix/")
    if not (3 <= len(bucket) <= 63) or not all(c.islower() or c.isdigit() or c in ".-_" for c in bucket):
        raise SourceError(
            f"invalid S3 bucket name {bucket!r} in {spec!r}",
            hint="bucket names are 3-63 characters: lower-case letters, digits, dots and hyphens",
        )
    return bucket, unquote(parts.path.lstrip("/"))


@dataclass(frozen=True)
class S3Object:
    """One listed object."""

    key: str
    size: int
    etag: str


def _hidden(rel: str) -> bool:
    return any(part.startswith(".") for part in rel.split("/"))


class S3Source:
    """Every object under ``prefix`` in ``bucket`` (see the module docstring)."""

    def __init__(
        self,
        bucket: str,
        prefix: str,
        *,
        s3: Any,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        max_bytes: int,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.name = f"s3://{bucket}/{prefix}"
        self.include = list(include)
        self.exclude = list(exclude)
        self.max_bytes = max_bytes
        self._s3 = s3
        self._filter = PathFilter(include, exclude)
        self.objects = self._list()

    @classmethod
    def from_spec(
        cls, spec: str, *, include: Sequence[str] = (), exclude: Sequence[str] = (), max_bytes: int
    ) -> S3Source:
        """The source for ``s3://bucket/prefix`` with an S3 client from the standard AWS environment."""
        bucket, prefix = parse_s3_spec(spec)
        return cls(
            bucket,
            prefix,
            s3=client("s3", what=_WHAT),
            include=include,
            exclude=exclude,
            max_bytes=max_bytes,
        )

    def describe(self) -> str:
        """One-line summary."""
        rules = [f"include {', '.join(self.include)}"] if self.include else []
        rules += [f"exclude {', '.join(self.exclude)}"] if self.exclude else []
        return f"S3 {self.name}" + (f" ({'; '.join(rules)})" if rules else "")

    def uri_of(self, key: str) -> str:
        return f"s3://{self.bucket}/{quote(key, safe='/')}"

    def list_uris(self) -> list[str]:
        """URIs of the selected objects (from the listing made when the source was opened)."""
        return [self.uri_of(o.key) for o in self.objects]

    def iter_items(self) -> Iterator[LazyItem | SourceFailure]:
        """One lazy item per object; oversize objects fail here without a download."""
        for obj in self.objects:
            uri, name = self.uri_of(obj.key), self._rel(obj.key)
            if self.max_bytes > 0 and obj.size > self.max_bytes:
                reason = f"object is {format_size(obj.size)}, over the {format_size(self.max_bytes)} limit"
                yield SourceFailure(uri, name, reason)
                continue
            yield LazyItem(uri, name, obj.etag, functools.partial(self._fetch, obj))

    # ----------------------------------------------------------------- private
    def _rel(self, key: str) -> str:
        rel = key[len(self.prefix) :].lstrip("/")
        return rel or key.rsplit("/", 1)[-1]

    def _list(self) -> list[S3Object]:
        found: list[S3Object] = []
        try:
            pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
            for page in pages:
                for entry in page.get("Contents", []):
                    key = str(entry["Key"])
                    rel = self._rel(key)
                    if key.endswith("/") or _hidden(rel) or not self._filter.accepts(rel):
                        continue
                    found.append(S3Object(key, int(entry.get("Size", 0)), str(entry.get("ETag", ""))))
        except Exception as exc:
            if not is_aws_error(exc):
                raise
            raise self._listing_error(exc) from exc
        found.sort(key=lambda o: o.key)
        return found

    def _listing_error(self, exc: BaseException) -> SourceError:
        code = error_code(exc)
        if code == "NoSuchBucket":
            return SourceError(
                f"no such S3 bucket: {self.bucket}",
                hint="check the bucket name and the region (AWS_REGION)",
            )
        if code in ("AccessDenied", "AllAccessDisabled"):
            return SourceError(
                f"access denied listing {self.name}",
                hint="the credentials need s3:ListBucket on the bucket and s3:GetObject on its objects"
                " (docs/aws.md)",
            )
        message, hint = describe_error(exc, f"cannot list {self.name}")
        return SourceError(message, hint=hint)

    def _fetch(self, obj: S3Object) -> SourceItem | SourceFailure:
        uri, name = self.uri_of(obj.key), self._rel(obj.key)
        try:
            resp = self._s3.get_object(Bucket=self.bucket, Key=obj.key)
            body = resp["Body"]
            try:
                data: bytes = body.read(self.max_bytes + 1) if self.max_bytes > 0 else body.read()
            finally:
                body.close()
        except Exception as exc:
            if not is_aws_error(exc):
                raise
            code = error_code(exc)
            if code in _GONE_CODES:
                return SourceFailure(uri, name, "object was deleted before it could be read", gone=True)
            if code in ("AccessDenied", "AllAccessDisabled"):
                return SourceFailure(uri, name, "access denied (the credentials need s3:GetObject)")
            return SourceFailure(uri, name, describe_error(exc, "cannot read the object")[0])
        if self.max_bytes > 0 and len(data) > self.max_bytes:
            return SourceFailure(uri, name, f"object grew over the {format_size(self.max_bytes)} limit")
        content_type = str(resp.get("ContentType") or "").split(";", 1)[0].strip().lower()
        if content_type in _GENERIC_TYPES:
            content_type = mimetypes.guess_type(obj.key)[0] or ""
        return SourceItem(
            uri=uri,
            source=self.name,
            name=name,
            data=data,
            content_type=content_type or None,
            modified_at=resp.get("LastModified"),
            version=obj.etag,  # the listed ETag, which the pipeline records
        )
