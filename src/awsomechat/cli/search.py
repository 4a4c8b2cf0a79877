"""``awsomechat search``."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer
from rich.markup import escape
from rich.text import Text

from awsomechat.cli.common import console, container
from awsomechat.filters import parse_filter
from awsomechat.types import AccessScope, SearchHit, SearchRequest


def scope_from(groups: str, all_access: bool) -> AccessScope:
    if all_access:
        return AccessScope.admin()
    return AccessScope(groups=frozenset(g.strip() for g in groups.split(",") if g.strip()))


def search_command(
    text: str = typer.Argument(..., help="what to look for"),
    k: int = typer.Option(5, "-k", min=1, max=1000, help="number of passages"),
    filters: list[str] = typer.Option(
        [], "--filter", "-f", help="e.g. team=platform, year>=2020, 'lang in en,de'"
    ),
    groups: str = typer.Option("", "--groups", "-g", help="caller's access groups (public documents always)"),
    all_access: bool = typer.Option(False, "--all", help="see every document (administrator)"),
    mode: str = typer.Option("hybrid", "--mode", help="hybrid, dense or bm25"),
    as_json: bool = typer.Option(False, "--json", help="print hits as JSON lines"),
) -> None:
    """Search the knowledge base (hybrid dense + BM25) and print ranked passages."""
    if mode not in ("hybrid", "dense", "bm25"):
        raise typer.BadParameter("mode must be hybrid, dense or bm25", param_hint="--mode")
    with container() as c:
        request = SearchRequest(
            text=text,
            k=k,
            filters=tuple(parse_filter(f) for f in filters),
            access=scope_from(groups, all_access),
            mode=mode,  # type: ignore[arg-type]
        )
        response = c.retriever.search(request)
        if as_json:
            for hit in response.hits:
                print(json.dumps(asdict(hit), default=str))
            return
        if not response.hits:
            console.print("[yellow]no matching passages[/] (check filters and groups)")
        for rank, hit in enumerate(response.hits, start=1):
            _print_hit(rank, hit)
        t = response.timings_ms
        console.print(f"[dim]{len(response.hits)} hits in {t.get('total_ms', 0):.0f} ms[/]")


def _print_hit(rank: int, hit: SearchHit) -> None:
    where = " > ".join(hit.heading_path)
    page = f" p.{hit.page}" if hit.page else ""
    s = hit.scores
    console.print(
        f"[bold cyan]{rank}.[/] [bold]{escape(hit.title)}[/]{escape(page)}  [dim]{escape(where)}[/]"
    )
    console.print(f"   [blue]{escape(hit.uri)}[/]")
    excerpt = Text("   " + hit.excerpt)
    for h in hit.highlights:
        excerpt.stylize("bold yellow", h.start + 3, h.end + 3)
    console.print(excerpt)
    parts = [f"fused {s.fused:.4f}"]
    if s.dense is not None:
        parts.append(f"dense {s.dense:.3f} (#{s.dense_rank})")
    if s.bm25 is not None:
        parts.append(f"bm25 {s.bm25:.2f} (#{s.bm25_rank})")
    if hit.attributes:
        parts.append(json.dumps(hit.attributes))
    console.print("   [dim]" + escape(" · ".join(parts)) + "[/]")
