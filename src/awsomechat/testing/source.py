"""What every collection ``Source`` (a folder, an S3 prefix, ...) must do for the ingest pipeline.

Subclass :class:`SourceContract` and provide a ``place`` fixture: a function that stores
``{relative name: bytes}`` in the backend (files under a folder, objects under a prefix) and
returns ``open_source`` options' ``spec`` for it; the contract opens it with
:func:`~awsomechat.ingest.sources.open_source`, exactly as ``awsomechat ingest`` does. The
folder runs it in ``tests/test_sources.py``, S3 (moto in server mode) in ``tests/test_ingest_s3.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from awsomechat.ingest.sources import LazyItem, Source, SourceFailure, open_source
from awsomechat.types import SourceItem

__all__ = ["Place", "SourceContract", "read_all"]

Place = Callable[[dict[str, bytes]], str]
FILES = {
    "guide/intro.md": b"# Intro\n\nHello.\n",
    "guide/deep/limits.md": b"# Limits\n\nUp to five layers.\n",
    "faq.csv": b"question,answer\nWhat?,That.\n",
}


def open_spec(spec: str, **overrides: Any) -> Source:
    options: dict[str, Any] = dict(
        include=[], exclude=[], max_bytes=10 * 1024 * 1024, crawl_depth=0, crawl_max_pages=10, timeout_s=10.0,
        user_agent="awsomechat-contract",
    )  # fmt: skip
    options.update(overrides)
    return open_source(spec, **options)


def read_all(source: Source) -> tuple[dict[str, SourceItem], dict[str, str], list[SourceFailure]]:
    """(items by name, versions of lazy items by name, failures), fetching lazy items."""
    items: dict[str, SourceItem] = {}
    versions: dict[str, str] = {}
    failures: list[SourceFailure] = []
    for entry in source.iter_items():
        if isinstance(entry, LazyItem):
            versions[entry.name] = entry.version
            fetched = entry.fetch()
            if isinstance(fetched, SourceFailure):
                failures.append(fetched)
                continue
            entry = fetched
        if isinstance(entry, SourceFailure):
            failures.append(entry)
        else:
            items[entry.name] = entry
    return items, versions, failures


class SourceContract:
    """The behaviours every collection source must show; a backend adds the ``place`` fixture."""

    def test_every_document_once_with_its_bytes(self, place: Place) -> None:
        source = open_spec(place(FILES))
        items, _, failures = read_all(source)
        assert failures == []
        assert sorted(items) == sorted(FILES)
        for name, item in items.items():
            assert item.data == FILES[name]
            assert item.source == source.name
        assert len({i.uri for i in items.values()}) == len(FILES)
        assert source.describe()

    def test_uris_are_stable_and_listed(self, place: Place) -> None:
        spec = place(FILES)
        first, _, _ = read_all(open_spec(spec))
        again, _, _ = read_all(open_spec(spec))
        assert {n: i.uri for n, i in first.items()} == {n: i.uri for n, i in again.items()}
        source = open_spec(spec)
        list_uris = getattr(source, "list_uris", None)
        if list_uris is not None:  # what --prune keeps
            assert sorted(list_uris()) == sorted(i.uri for i in first.values())

    def test_a_changed_document_is_seen_as_changed(self, place: Place) -> None:
        spec = place(FILES)
        before, versions_before, _ = read_all(open_spec(spec))
        place({"guide/intro.md": b"# Intro\n\nHello again, changed.\n"})
        after, versions_after, _ = read_all(open_spec(spec))
        assert after["guide/intro.md"].data.endswith(b"changed.\n")
        assert after["faq.csv"].data == before["faq.csv"].data
        if versions_before:  # a versioned source: only the changed document has a new version
            assert versions_after["guide/intro.md"] != versions_before["guide/intro.md"]
            assert versions_after["faq.csv"] == versions_before["faq.csv"]

    def test_include_and_exclude_globs(self, place: Place) -> None:
        spec = place(FILES)
        only_md, _, _ = read_all(open_spec(spec, include=["*.md"]))
        assert sorted(only_md) == ["guide/deep/limits.md", "guide/intro.md"]
        no_deep, _, _ = read_all(open_spec(spec, exclude=["guide/deep/*"]))
        assert "guide/deep/limits.md" not in no_deep and "faq.csv" in no_deep

    def test_an_oversize_document_fails_alone_naming_its_size(self, place: Place) -> None:
        spec = place({**FILES, "big.txt": b"x" * 5000})
        items, _, failures = read_all(open_spec(spec, max_bytes=1000))
        assert sorted(items) == sorted(FILES)
        assert [f.name for f in failures] == ["big.txt"]
        assert "KB" in failures[0].reason or "MB" in failures[0].reason or "limit" in failures[0].reason
