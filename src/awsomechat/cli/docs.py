"""``awsomechat docs list|show|delete``."""

from __future__ import annotations

import json

import typer
from rich.markup import escape
from rich.table import Table

from awsomechat.cli.common import console, container
from awsomechat.cli.search import scope_from

app = typer.Typer(help="Stored documents.", no_args_is_help=True)


@app.command("list")
def list_command(
    source: str | None = typer.Option(None, "--source", help="only documents of this source"),
    query: str | None = typer.Option(None, "--query", "-q", help="match in title or URI"),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000),
    offset: int = typer.Option(0, "--offset", min=0),
    groups: str = typer.Option("", "--groups", "-g", help="list as a caller with these groups"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List documents, newest first (as an administrator unless --groups is given)."""
    with container() as c:
        docs = c.documents.list_documents(
            scope_from(groups, all_access=not groups), source=source, query=query, limit=limit, offset=offset
        )
        if as_json:
            for d in docs:
                print(json.dumps({**d.__dict__, "groups": list(d.groups)}, default=str))
            return
        table = Table("id", "title", "format", "passages", "groups", "updated", "uri")
        for d in docs:
            table.add_row(
                str(d.id),
                escape(d.title[:60]),
                d.format,
                str(d.chunk_count),
                ",".join(d.groups) or "-",
                d.updated_at.strftime("%Y-%m-%d %H:%M"),
                escape(d.uri),
            )
        console.print(table)
        console.print(f"[dim]{len(docs)} shown; {c.documents.count()} documents in the store[/]")


@app.command("show")
def show_command(
    doc_id: int = typer.Argument(..., help="document id (see docs list)"),
    passages: bool = typer.Option(False, "--passages", "-p", help="print every passage"),
) -> None:
    """Show one document's metadata (and passages)."""
    from awsomechat.types import AccessScope

    with container() as c:
        d = c.documents.get(doc_id, AccessScope.admin())
        for key in (
            "id",
            "title",
            "uri",
            "source",
            "format",
            "content_hash",
            "size_bytes",
            "chunk_count",
            "created_at",
            "updated_at",
        ):
            console.print(f"[bold]{key}[/]: {escape(str(getattr(d, key)))}")
        console.print(f"[bold]groups[/]: {', '.join(d.groups) or '(public)'}")
        console.print(f"[bold]attributes[/]: {escape(json.dumps(d.attributes))}")
        if passages:
            for ch in c.documents.chunks(doc_id):
                head = " > ".join(ch.heading_path)
                page = f" p.{ch.page}" if ch.page else ""
                console.print(
                    f"\n[cyan]#{ch.position}[/] [dim]{escape(head)}{page} · {ch.token_count} tokens[/]"
                )
                console.print(escape(ch.text))


@app.command("delete")
def delete_command(
    doc_ids: list[int] = typer.Argument(..., help="document ids"),
    yes: bool = typer.Option(False, "--yes", "-y", help="do not ask for confirmation"),
) -> None:
    """Delete documents with their passages and index entries."""
    with container() as c:
        if not yes and not typer.confirm(f"delete {len(doc_ids)} document(s)?"):
            raise typer.Exit(1)
        missing = [i for i in doc_ids if not c.documents.delete(i)]
        console.print(f"deleted {len(doc_ids) - len(missing)}")
        if missing:
            console.print(f"[red]not found:[/] {', '.join(map(str, missing))}")
            raise typer.Exit(1)
