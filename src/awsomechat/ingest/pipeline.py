"""Incremental ingestion: source → loader → chunker → embedder + BM25 terms → store.

Sync semantics: a document whose bytes and ingest options are unchanged is skipped before it is
parsed (an item whose source version, an S3 ETag, is the recorded one, before it is even
downloaded: a lazy item, or the queued copy of one); a changed one is replaced in one
transaction; with ``prune`` a document that vanished from its source is deleted. A file that
cannot be read or parsed is reported by name and the batch goes on. Work is batched across
documents so the embedder sees full batches.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from awsomechat.errors import AwsomeChatError, DocumentRejectedError
from awsomechat.ingest.chunker import StructuredChunker
from awsomechat.ingest.loaders.registry import LoaderRegistry
from awsomechat.ingest.sources import LazyItem, SourceFailure, open_source
from awsomechat.seams import Embedder
from awsomechat.settings import Settings
from awsomechat.store.documents import DocumentStore, DocumentWrite, ExistingDocument, IndexedChunk
from awsomechat.store.index_meta import IndexGuard, IndexSpec
from awsomechat.text.analyzer import Analyzer
from awsomechat.text.context import context_length
from awsomechat.types import ChunkDraft, JsonScalar, LoadedDocument, SourceItem

# Documents are written once this many passages are waiting (one embedder call per batch).
BATCH_PASSAGES = 256
# Bump when loaders or the chunker change what they make of the same bytes: the next sync then
# re-processes every document instead of skipping it as unchanged.
PIPELINE_VERSION = 5  # 3: tables cut by rows under their header; 4, 5: caption = the sentence introducing it


@dataclass(frozen=True)
class IngestOptions:
    """Per-run options: applied to every document of the run."""

    attributes: dict[str, JsonScalar] = field(default_factory=dict)
    groups: tuple[str, ...] = ()
    prune: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    crawl_depth: int | None = None
    crawl_max_pages: int | None = None


@dataclass
class IngestReport:
    """What a run did. ``failed`` lists (name, reason) for every document that was not stored."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    passages: int = 0
    reused_vectors: int = 0  # passages of updated documents whose text, and so vector, was kept
    bytes: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    document_ids: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        return (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.deleted} deleted, {len(self.failed)} failed; {self.passages} passages"
            + (f" ({self.reused_vectors} kept their vectors)" if self.reused_vectors else "")
            + f" in {self.seconds:.1f} s"
        )


class IngestProgress(Protocol):
    """Where long runs report progress (a Rich bar in the CLI, a job record in the API)."""

    def source_started(self, spec: str, total: int | None) -> None: ...

    def item_done(self, name: str, status: str, detail: str = "") -> None: ...


class _NoProgress:
    def source_started(self, spec: str, total: int | None) -> None:
        pass

    def item_done(self, name: str, status: str, detail: str = "") -> None:
        pass


def _version_recorded(old: ExistingDocument | None, version: str, options_hash: str) -> bool:
    """Whether the stored document ``old`` records the source ``version`` of an item (an S3 ETag)
    under the same ingest options: the item is then unchanged without reading its bytes."""
    return bool(old and version and old.source_version == version and old.options_hash == options_hash)


@dataclass
class _Pending:
    item: SourceItem
    doc: LoadedDocument
    drafts: list[ChunkDraft]
    write: DocumentWrite
    replaces: int | None  # the stored document this one replaces


class IngestionService:
    """Runs ingestion against the store. Build it once; call :meth:`ingest` per run."""

    def __init__(
        self,
        store: DocumentStore,
        guard: IndexGuard,
        embedder: Callable[[], Embedder],
        analyzer: Analyzer,
        loaders: LoaderRegistry,
        settings: Settings,
    ) -> None:
        self._store = store
        self._guard = guard
        self._embedder = embedder
        self._analyzer = analyzer
        self._loaders = loaders
        self._settings = settings
        self._chunker: StructuredChunker | None = None

    # ---------------------------------------------------------------- public
    def ingest(
        self, specs: Sequence[str], options: IngestOptions, progress: IngestProgress | None = None
    ) -> IngestReport:
        """Ingest every path or URL in ``specs`` (a bad spec is a failure, not an abort)."""
        progress = progress or _NoProgress()
        report = IngestReport()
        t0 = time.perf_counter()
        ing = self._settings.ingest
        for spec in specs:
            try:
                source = open_source(
                    spec,
                    include=list(options.include),
                    exclude=list(options.exclude),
                    max_bytes=ing.max_bytes,
                    crawl_depth=ing.crawl_depth if options.crawl_depth is None else options.crawl_depth,
                    crawl_max_pages=(
                        ing.crawl_max_pages if options.crawl_max_pages is None else options.crawl_max_pages
                    ),
                    timeout_s=ing.http_timeout_s,
                    user_agent=ing.user_agent,
                )
            except AwsomeChatError as exc:
                report.failed.append((spec, str(exc)))
                progress.item_done(spec, "failed", str(exc))
                continue
            list_uris = getattr(source, "list_uris", None)
            progress.source_started(spec, len(list_uris()) if callable(list_uris) else None)
            seen = self.ingest_items(source.iter_items(), source.name, options, progress, report)
            if options.prune and getattr(source, "complete", True):
                self._prune(source.name, seen, progress, report)
            elif options.prune:
                report.notes.append(
                    f"{spec}: not pruned, the crawl stopped at its page limit before visiting every link"
                    " (raise --max-pages)"
                )
        report.seconds = time.perf_counter() - t0
        return report

    def ingest_items(
        self,
        items: Iterable[SourceItem | LazyItem | SourceFailure],
        source_name: str,
        options: IngestOptions,
        progress: IngestProgress | None = None,
        report: IngestReport | None = None,
    ) -> set[str]:
        """Ingest items from any source (uploads too).

        Returns the URIs that still exist at the source: every item, and every failure except
        those the source reports as gone (a 404), so ``--prune`` keeps documents that merely
        failed to load this time.
        """
        progress = progress or _NoProgress()
        report = report if report is not None else IngestReport()
        seen: set[str] = set()
        batch: list[SourceItem | LazyItem] = []
        for entry in items:
            if not (isinstance(entry, SourceFailure) and entry.gone):
                seen.add(entry.uri)
            if isinstance(entry, SourceFailure):
                report.failed.append((entry.name, entry.reason))
                progress.item_done(entry.name, "failed", entry.reason)
                continue
            batch.append(entry)
            if len(batch) >= 64:
                self._process_batch(batch, options, progress, report)
                batch = []
        if batch:
            self._process_batch(batch, options, progress, report)
        return seen

    def unchanged_by_version(
        self, items: Sequence[SourceItem | LazyItem], options: IngestOptions
    ) -> set[str]:
        """URIs of the ``items`` whose stored document records their source version under
        ``options``: a sync skips them unread (``ingest --queue`` neither downloads nor queues them)."""
        existing = self._store.existing([i.uri for i in items])
        options_hash = self._options_hash(options)
        return {i.uri for i in items if _version_recorded(existing.get(i.uri), i.version, options_hash)}

    def precheck(self, item: SourceItem) -> str:
        """The item's format after the cheap checks (size, type, binary-as-text); raises LoaderError."""
        return self._loaders.precheck(item, max_bytes=self._settings.ingest.max_bytes)

    def supported_extensions(self) -> list[str]:
        return self._loaders.supported_extensions()

    # --------------------------------------------------------------- private
    def _options_hash(self, options: IngestOptions) -> str:
        c = self._settings.chunking
        payload = {
            "pipeline": PIPELINE_VERSION,
            "attributes": options.attributes,
            "groups": sorted(options.groups),
            "chunking": [c.max_tokens, c.overlap_tokens, c.min_tokens, c.split_tables],
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def _get_chunker(self, embedder: Embedder) -> StructuredChunker:
        if self._chunker is None:
            c = self._settings.chunking
            self._chunker = StructuredChunker(
                embedder.count_tokens,
                max_tokens=min(c.max_tokens, embedder.max_tokens),
                overlap_tokens=c.overlap_tokens,
                min_tokens=c.min_tokens,
                split_tables=c.split_tables,
            )
        return self._chunker

    def _process_batch(
        self,
        items: list[SourceItem | LazyItem],
        options: IngestOptions,
        progress: IngestProgress,
        report: IngestReport,
    ) -> None:
        existing = self._store.existing([i.uri for i in items])
        options_hash = self._options_hash(options)
        embedder = self._embedder()
        self._guard.ensure(IndexSpec(embedder.name, embedder.dim, self._analyzer.version))
        chunker = self._get_chunker(embedder)
        pending: list[_Pending] = []
        n_waiting = 0
        for entry in items:
            old = existing.get(entry.uri)
            version = entry.version  # a lazy item's, or a queued copy's ("" for most sources)
            if _version_recorded(old, version, options_hash):
                report.unchanged += 1  # the recorded version: not even downloaded (or parsed)
                progress.item_done(entry.name, "unchanged")
                continue
            if isinstance(entry, LazyItem):
                fetched = entry.fetch()
                if isinstance(fetched, SourceFailure):
                    report.failed.append((fetched.name, fetched.reason))
                    progress.item_done(fetched.name, "failed", fetched.reason)
                    continue
                item = fetched
            else:
                item = entry
            content_hash = hashlib.sha256(item.data).hexdigest()
            if old and old.content_hash == content_hash and old.options_hash == options_hash:
                if version and old.source_version != version:  # same bytes under a new version
                    self._store.set_source_version(old.id, version)
                report.unchanged += 1
                progress.item_done(item.name, "unchanged")
                continue
            try:
                doc = self._loaders.load(item, max_bytes=self._settings.ingest.max_bytes)
                drafts = chunker.chunk(doc)
                if not drafts:
                    raise AwsomeChatError("no passages after chunking (no text?)")
            except AwsomeChatError as exc:
                reason = exc.message.removeprefix(f"{item.name}: ")  # the name is reported beside it
                report.failed.append((item.name, reason))
                progress.item_done(item.name, "failed", reason)
                continue
            attributes: dict[str, Any] = {
                k: v
                for k, v in doc.metadata.items()
                if k != "title" and isinstance(v, str | int | float | bool)
            }
            attributes.update(options.attributes)
            write = DocumentWrite(
                source=item.source,
                uri=item.uri,
                title=doc.title,
                format=doc.format,
                content_hash=content_hash,
                size_bytes=len(item.data),
                options_hash=options_hash,
                attributes=attributes,
                groups=tuple(sorted(set(options.groups))),
                source_version=version,
            )
            pending.append(_Pending(item, doc, drafts, write, replaces=old.id if old else None))
            n_waiting += len(drafts)
            if n_waiting >= BATCH_PASSAGES:
                self._embed_and_write(pending, embedder, progress, report)
                pending, n_waiting = [], 0
        if pending:
            self._embed_and_write(pending, embedder, progress, report)

    def _embed_and_write(
        self, pending: list[_Pending], embedder: Embedder, progress: IngestProgress, report: IngestReport
    ) -> None:
        # A passage whose text the replaced version already had keeps its vector (the index guard
        # has checked that the stored vectors are this embedder's): an edit, or a chunker change,
        # re-embeds only the passages that changed.
        known = self._store.vectors_by_text([p.replaces for p in pending if p.replaces is not None])
        texts = list(dict.fromkeys(d.text for p in pending for d in p.drafts if d.text not in known))
        fresh = dict(zip(texts, embedder.embed_passages(texts), strict=True)) if texts else {}
        report.reused_vectors += sum(1 for p in pending for d in p.drafts if d.text in known)
        for p in pending:
            chunks = []
            for draft in p.drafts:
                context = context_length(draft.text, p.doc.title, draft.heading_path)
                tf, n_terms = self._analyzer.term_frequencies(draft.text, context)
                vector = fresh[draft.text] if draft.text in fresh else known[draft.text]
                chunks.append(IndexedChunk(draft, vector, tf, n_terms))
            try:
                doc_id = self._store.write(p.write, chunks)
            except DocumentRejectedError as exc:
                report.failed.append((p.item.name, exc.message))
                progress.item_done(p.item.name, "failed", exc.message)
                continue
            report.document_ids.append(doc_id)
            report.passages += len(chunks)
            report.bytes += p.write.size_bytes
            if p.replaces:
                report.updated += 1
                progress.item_done(p.item.name, "updated", f"{len(chunks)} passages")
            else:
                report.added += 1
                progress.item_done(p.item.name, "added", f"{len(chunks)} passages")

    def _prune(self, source: str, seen: set[str], progress: IngestProgress, report: IngestReport) -> None:
        for uri, doc_id in sorted(self._store.uris_of_source(source).items()):
            if uri not in seen and self._store.delete(doc_id):
                report.deleted += 1
                progress.item_done(uri, "deleted")
