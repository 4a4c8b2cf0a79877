"""``awsomechat ingest --queue``: split a large folder, S3 prefix or site into queued jobs.

The command reads each document once (as the inline ingest would) and stores its bytes with a job
of ``jobs.files_per_job`` documents in PostgreSQL, so the workers need no access to the folder or
the bucket: any machine that reaches the database can run them. Each job holds documents of one
source, so their short names are unique within it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from awsomechat.errors import AwsomeChatError
from awsomechat.ingest.jobs_pg import IngestJob
from awsomechat.ingest.pipeline import IngestOptions
from awsomechat.ingest.sources import LazyItem, SourceFailure, open_source
from awsomechat.ingest.worker import QueuedJobRunner
from awsomechat.settings import Settings
from awsomechat.types import SourceItem

CLI_USER = "cli"


@dataclass
class QueueReport:
    """What ``ingest --queue`` queued, and what it could not read."""

    jobs: list[IngestJob] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


def _items(spec: str, options: IngestOptions, settings: Settings) -> Iterator[SourceItem | SourceFailure]:
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
    for entry in source.iter_items():
        yield entry.fetch() if isinstance(entry, LazyItem) else entry


def queue_sources(
    runner: QueuedJobRunner,
    specs: Sequence[str],
    options: IngestOptions,
    settings: Settings,
    on_job: Callable[[IngestJob], None] | None = None,
) -> QueueReport:
    """Queue every document of ``specs`` in jobs of ``jobs.files_per_job``; a bad spec or an
    unreadable document is reported, not an abort."""
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
            for entry in _items(spec, options, settings):
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
