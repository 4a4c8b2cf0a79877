"""Judges a ZIP-based file (DOCX) from its central directory before anything is inflated.

A few hundred KB of deflate can expand to gigabytes; python-docx would inflate and parse it all.
The central directory says how large every entry is once inflated, and Python's ``zipfile``
never inflates an entry past that declared size (a lying entry fails its CRC instead), so the
declared sizes are a safe bound. The entry count is read from the end record first, so a file
of a million empty entries is refused before ``zipfile`` builds an object for each.
"""

from __future__ import annotations

import io
import struct
import zipfile
from dataclasses import dataclass

from awsomechat.errors import FileTooLargeError, LoaderError

__all__ = ["ZipLimits", "check_zip"]

_MB = 1024 * 1024
_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"
# Small entries may compress extremely well (an empty-ish XML part) and cost nothing to inflate;
# the ratio is judged only for entries larger than this once inflated.
RATIO_FLOOR_BYTES = _MB


@dataclass(frozen=True)
class ZipLimits:
    """Bounds for one archive: total inflated size, per-entry ratio and number of entries."""

    max_unzipped_bytes: int = 100 * _MB
    max_ratio: float = 100.0
    max_entries: int = 10_000


def _entry_count(data: bytes) -> int | None:
    """Entries announced by the end-of-central-directory record (ZIP64 too); None if not found."""
    at = data.rfind(_EOCD, max(0, len(data) - 65_557))
    if at < 0 or len(data) < at + 22:
        return None
    count: int = struct.unpack_from("<H", data, at + 10)[0]
    if count != 0xFFFF:
        return count
    loc = at - 20
    if loc < 0 or data[loc : loc + 4] != _EOCD64_LOCATOR:
        return None
    offset: int = struct.unpack_from("<Q", data, loc + 8)[0]
    if data[offset : offset + 4] != _EOCD64 or len(data) < offset + 56:
        return None
    count64: int = struct.unpack_from("<Q", data, offset + 32)[0]
    return count64


def check_zip(name: str, data: bytes, limits: ZipLimits, *, kind: str = "DOCX") -> None:
    """Raise LoaderError (``FileTooLargeError`` for the size) when ``data`` exceeds ``limits``.

    An archive that cannot be read at all passes: nothing can be inflated from it, and the
    format's loader reports it as unreadable.
    """
    count = _entry_count(data)
    if count is not None and count > limits.max_entries:
        raise LoaderError(
            f"{name}: the {kind} archive has {count:,} entries, over the limit of {limits.max_entries:,}",
            hint="no real document has that many parts; check the file",
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, struct.error):
        return  # not a bomb: nothing can be inflated from it; the loader says why it is unreadable
    if len(infos) > limits.max_entries:
        raise LoaderError(
            f"{name}: the {kind} archive has {len(infos):,} entries, over the limit of "
            f"{limits.max_entries:,}",
            hint="no real document has that many parts; check the file",
        )
    total = sum(info.file_size for info in infos)
    if total > limits.max_unzipped_bytes:
        raise FileTooLargeError(
            f"{name}: expands to {total / _MB:,.0f} MB when unzipped, over the "
            f"{limits.max_unzipped_bytes / _MB:,.0f} MB limit",
            hint="a file this small that inflates this much is a decompression bomb; if it is a real "
            "document, raise AWSOMECHAT_INGEST__MAX_UNZIPPED_MB",
        )
    for info in infos:
        if info.file_size <= RATIO_FLOOR_BYTES:
            continue
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_ratio:
            raise LoaderError(
                f"{name}: its part {info.filename} is compressed {ratio:,.0f}:1, over the "
                f"{limits.max_ratio:,.0f}:1 limit",
                hint="real documents compress far less; if this one is real, raise "
                "AWSOMECHAT_INGEST__MAX_ZIP_RATIO",
            )
