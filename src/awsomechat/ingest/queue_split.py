"""``awsomechat ingest --queue``: split a large folder, S3 prefix or site into queued jobs.

The command reads each document once (as the inline ingest would) and stores its bytes with a job
of ``jobs.files_per_job`` documents in PostgreSQL, so the workers need no access to the folder or
the bucket: any machine that reaches the database can run them. Each job holds documents of one
source, so their short names are unique within it.

A versioned source (an S3 prefix: every object listed with its ETag) is checked against the store
before anything is read, as the inline ingest checks it: an object whose stored document records
its version is counted unchanged and neither downloaded nor queued. The others are stored with
their version, which the worker records on the document.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from awsomechat.errors import AwsomeChatError
from awsomechat.ingest.jobs_pg import IngestJob
from awsomechat.ingest.pipeline import IngestionService, IngestOptions
from awsomechat.ingest.sources import LazyItem, SourceFailure, open_source
from awsomechat.ingest.worker import QueuedJobRunner
from awsomechat.settings import Settings
from awsomechat.types import SourceItem

CLI_USER = "cli"
# Listed (lazy) items checked against the stored versions in one query.
CHECK_BATCH = 64


@dataclass
class QueueReport:
    """What ``ingest --queue`` queued, and what it could not read."""

    jobs: list[IngestJob] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    unchanged: int = 0  # listed with the version already recorded: not read
    failed: list[tuple[str, str]] = field(default_factory=list)


def _items(
    spec: str, options: IngestOptions, settings: Settings, ingestion: IngestionService, report: QueueReport
) -> Iterator[SourceItem | SourceFailure]:
    """The documents of ``spec`` to queue: lazy items whose version is recorded are counted in
    ``report.unchanged`` instead, without being fetched."""
    ing = settings.ingest
    source = open_source(
        spec,
        include=list(options.include),
        exclude=list(options.exclude),
        max_bytes=ing.max_bytes,
        crawl_depth=ing.crawl_depth if options.crawl_depth is None else options.crawl_depth,
        crawl_max_pages=ing.crawl_max_pages if options.crawl_max_pages is None else options.crawl_max_pages,
        timeout_s=ing.http_timeout_s,
        user_agent=ing.user_agent,
    )
    lazy: list[LazyItem] = []
    for entry in source.iter_items():
        if not isinstance(entry, LazyItem):
            yield entry
            continue
        lazy.append(entry)
        if len(lazy) >= CHECK_BATCH:
            yield from _fetch_changed(lazy, options, ingestion, report)
            lazy = []
    yield from _fetch_changed(lazy, options, ingestion, report)


def _fetch_changed(
    lazy: list[LazyItem], options: IngestOptions, ingestion: IngestionService, report: QueueReport
) -> Iterator[SourceItem | SourceFailure]:
    if not lazy:
        return
    unchanged = ingestion.unchanged_by_version(lazy, options)
    report.unchanged += len(unchanged)
    for entry in lazy:
        if entry.uri not in unchanged:
            yield entry.fetch()


def queue_sources(
    runner: QueuedJobRunner,
    ingestion: IngestionService,
    specs: Sequence[str],
    options: IngestOptions,
    settings: Settings,
    on_job: Callable[[IngestJob], None] | None = None,
) -> QueueReport:
    """Queue every document of ``specs`` in jobs of ``jobs.files_per_job``, except those that
    ``ingestion`` finds unchanged by their source version; a bad spec or an unreadable document is
    reported, not an abort."""
    if options.prune:
        raise AwsomeChatError(
            "--prune cannot be queued", hint="run the pruning ingest without --queue once the jobs are done"
        )
    report = QueueReport()
    size = settings.jobs.files_per_job
    meta = {"collection": "", "attributes": options.attributes, "groups": list(options.groups)}

    def flush(batch: list[SourceItem]) -> None:
        job = runner.enqueue(CLI_USER, batch, {**meta, "source": batch[0].source})
        report.jobs.append(job)
        if on_job is not None:
            on_job(job)

    for spec in specs:
        batch: list[SourceItem] = []
        try:
            for entry in _items(spec, options, settings, ingestion, report):
                if isinstance(entry, SourceFailure):
                    report.failed.append((entry.name, entry.reason))
                    continue
                report.files += 1
                report.bytes += len(entry.data)
                batch.append(entry)
                if len(batch) >= size:
                    flush(batch)
                    batch = []
        except AwsomeChatError as exc:
            report.failed.append((spec, str(exc)))
        if batch:
            flush(batch)
    return report
