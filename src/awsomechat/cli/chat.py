"""``awsomechat ask``, ``awsomechat chat`` and ``awsomechat reply``: answers in the terminal."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import typer
from rich.markup import escape

from awsomechat.chat.events import ErrorEvent, FinalEvent, SourcesEvent, StandaloneQuestionEvent, TokenEvent
from awsomechat.chat.service import ChatRequest, ChatService
from awsomechat.chat.types import Citation
from awsomechat.cli.common import console, container, err_console
from awsomechat.cli.search import scope_from
from awsomechat.filters import parse_filter

LOCAL_USER = "local"


def run_turn(service: ChatService, request: ChatRequest, show_sources: bool = True) -> FinalEvent | None:
    """Stream one turn to the terminal; return its final event (None after an error)."""
    final: FinalEvent | None = None
    shown: tuple[Citation, ...] = ()
    for event in service.stream(request):
        if isinstance(event, StandaloneQuestionEvent) and event.rewritten:
            console.print(f"[dim]↳ searching for: {escape(event.question)}[/]")
        elif isinstance(event, SourcesEvent):
            shown = event.sources
            if event.abstained:
                console.print("[yellow]not covered by the documents[/]")
        elif isinstance(event, TokenEvent):
            console.print(event.text, end="", markup=False, highlight=False)
        elif isinstance(event, ErrorEvent):
            err_console.print(f"\n[bold red]error:[/] {escape(event.message)}")
        elif isinstance(event, FinalEvent):
            final = event
    console.print()
    if final and show_sources:
        cited = {c.n for c in final.citations}
        if shown:
            console.print("[dim]closest passages:[/]" if final.abstained else "[dim]sources (★ = cited):[/]")
        for c in shown:
            where = " › ".join(c.heading_path)
            page = f" p.{c.page}" if c.page else ""
            star = "★" if c.n in cited else " "
            console.print(f" {star}[cyan]\\[{c.n}][/] {escape(c.title)}{page} [dim]{escape(where)}[/]")
            console.print(f"      [blue]{escape(c.uri)}[/]")
        t = final.timings
        console.print(
            f"[dim]{final.model or 'no model call'} · first token {t.get('ttft_s', 0):.1f} s · total "
            f"{t.get('total_s', 0):.1f} s · session {final.session_id}[/]"
        )
    return final


def ask_command(
    question: str = typer.Argument(..., help="your question"),
    session: uuid.UUID | None = typer.Option(None, "--session", "-s", help="continue this session"),
    filters: list[str] = typer.Option([], "--filter", "-f", help="restrict sources, e.g. team=platform"),
    groups: str = typer.Option("", "--groups", "-g", help="your access groups"),
    profile: str = typer.Option("chat", "--profile", "-p", help="prompt profile (chat, email_reply, ...)"),
    user: str = typer.Option(LOCAL_USER, "--user", help="whose conversation memory to use"),
) -> None:
    """Answer one question from the documents, with cited sources (streams as it is generated)."""
    with container() as c:
        request = ChatRequest(
            user_id=user, message=question, access=scope_from(groups, False), session_id=session,
            filters=tuple(parse_filter(f) for f in filters), profile=profile,
        )  # fmt: skip
        final = run_turn(c.chat, request)
        if final is None:
            raise typer.Exit(1)


def chat_command(
    session: uuid.UUID | None = typer.Option(None, "--session", "-s", help="resume this session"),
    groups: str = typer.Option("", "--groups", "-g", help="your access groups"),
    user: str = typer.Option(LOCAL_USER, "--user", help="whose conversation memory to use"),
) -> None:
    """Interactive conversation with memory: follow-up questions understand what came before."""
    with container() as c:
        current = session
        if current is not None:
            for turn in c.conversations.turns(user, current):
                console.print(f"[bold green]you:[/] {escape(turn.question)}\n{escape(turn.answer)}\n")
        console.print("[dim]Ask away. Empty line or Ctrl-D to quit; /new starts a new session.[/]")
        while True:
            try:
                line = console.input("[bold green]you:[/] ").strip()
            except EOFError:
                break
            if not line:
                break
            if line == "/new":
                current = None
                continue
            request = ChatRequest(
                user_id=user, message=line, access=scope_from(groups, False), session_id=current
            )
            final = run_turn(c.chat, request)
            if final is not None:
                current = final.session_id


def reply_command(
    source: str = typer.Argument(..., help="file holding the customer e-mail, or - for standard input"),
    groups: str = typer.Option("", "--groups", "-g", help="your access groups"),
    user: str = typer.Option(LOCAL_USER, "--user", help="whose conversation memory to use"),
) -> None:
    """Draft a grounded reply to a customer e-mail (or a hand-off when the documents do not cover it)."""
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8", errors="replace")
    with container() as c:
        request = ChatRequest(
            user_id=user, message=text, access=scope_from(groups, False), profile="email_reply"
        )
        if run_turn(c.chat, request) is None:
            raise typer.Exit(1)
