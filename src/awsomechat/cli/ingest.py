"""``awsomechat ingest`` and ``awsomechat reindex``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from awsomechat.cli.common import console, container
from awsomechat.cli.progress import CountBar, IngestBar, make_progress
from awsomechat.filters import parse_attribute

if TYPE_CHECKING:
    from awsomechat.container import Container
    from awsomechat.ingest.pipeline import IngestOptions


def ingest_command(
    sources: list[str] = typer.Argument(..., help="files, folders, http(s) URLs or s3://bucket/prefix/"),
    attr: list[str] = typer.Option([], "--attr", "-a", help="attribute key=value for every document"),
    groups: str = typer.Option("", "--groups", "-g", help="comma-separated access groups (empty = public)"),
    include: list[str] = typer.Option([], "--include", help="glob of files to take from folders"),
    exclude: list[str] = typer.Option([], "--exclude", help="glob of files to skip"),
    prune: bool = typer.Option(False, "--prune", help="delete documents that disappeared from the source"),
    depth: int | None = typer.Option(None, "--depth", help="crawl depth for URLs (0 = just the page)"),
    max_pages: int | None = typer.Option(None, "--max-pages", help="crawl page limit"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="list every document"),
    queue: bool = typer.Option(
        False, "--queue", help="store the documents as jobs for `awsomechat worker` processes and return"
    ),
) -> None:
    """Ingest documents (PDF, HTML, Markdown, DOCX, text, CSV/JSON FAQ), skipping unchanged ones."""
    from awsomechat.ingest.pipeline import IngestOptions

    with container() as c:
        if c.settings.retriever.kind != "hybrid":
            console.print(
                f"[yellow]note:[/] retriever.kind is {c.settings.retriever.kind}: searches go there, not to"
                " the store these documents are written to (load them into that backend instead)",
                highlight=False,
            )
        attributes = dict(parse_attribute(a) for a in attr)
        group_list = tuple(g.strip() for g in groups.split(",") if g.strip())
        options = IngestOptions(
            attributes=attributes,
            groups=group_list,
            prune=prune,
            include=tuple(include),
            exclude=tuple(exclude),
            crawl_depth=depth,
            crawl_max_pages=max_pages,
        )
        if queue:
            _queue(c, sources, options)
            return
        with make_progress(console) as progress:
            report = c.ingestion.ingest(sources, options, IngestBar(progress, verbose))
        for note in report.notes:
            console.print(f"[yellow]note:[/] {note}", highlight=False)
        style = "green" if report.ok else "yellow"
        console.print(f"[{style}]{report.summary()}[/]", highlight=False)
        if report.failed:
            console.print(f"[red]{len(report.failed)} failed:[/]")
            for name, reason in report.failed:
                console.print(f"  {name}: {reason}", highlight=False, markup=False)
            raise typer.Exit(1)


def _queue(c: Container, sources: list[str], options: IngestOptions) -> None:
    """``ingest --queue``: jobs of ``jobs.files_per_job`` documents, watched at ``/v1/jobs``."""
    from awsomechat.ingest.queue_split import queue_sources
    from awsomechat.ingest.worker import QueuedJobRunner

    runner = QueuedJobRunner(c.jobs, c.ingest_queue)
    report = queue_sources(runner, c.ingestion, sources, options, c.settings)
    unchanged = f"; {report.unchanged} unchanged (not read again)" if report.unchanged else ""
    console.print(
        f"queued {report.files} documents ({report.bytes / 1e6:.1f} MB) in {len(report.jobs)} jobs"
        f"{unchanged}; `awsomechat worker` processes run them (progress: GET /v1/jobs)",
        highlight=False,
    )
    for job in report.jobs:
        console.print(f"  job {job.id}: {job.total} documents", highlight=False)
    if report.failed:
        console.print(f"[red]{len(report.failed)} could not be read:[/]")
        for name, reason in report.failed:
            console.print(f"  {name}: {reason}", highlight=False, markup=False)
        raise typer.Exit(1)


def reindex_command(
    yes: bool = typer.Option(False, "--yes", "-y", help="do not ask for confirmation"),
) -> None:
    """Rebuild every vector and BM25 posting with the configured embedder and analyzer."""
    with container() as c:
        n = c.documents.stats()["chunks"]
        if not yes and n and not typer.confirm(f"re-embed {n} passages now?"):
            raise typer.Exit(1)
        with make_progress(console) as progress:
            old, new, count = c.reindexer.run(CountBar(progress, "reindex"))
        before = f"{old.embedder} / {old.analyzer}" if old else "(empty)"
        console.print(
            f"reindexed {count} passages: {before} → {new.embedder} / {new.analyzer}", highlight=False
        )
