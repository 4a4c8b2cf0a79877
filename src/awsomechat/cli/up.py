"""``awsomechat up``: the main job on the embedded defaults.

Starts the store, ingests the bundled sample knowledge base when the store is empty, makes sure
an administrator key exists (kept in ``<data dir>/admin.key``, readable only by you), then serves
the REST API and web UI and prints the URL and the key. ``--no-serve`` instead runs a sample
search and answers a sample question in the terminal.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import typer

from awsomechat.cli.common import console, container, handled
from awsomechat.cli.progress import IngestBar, make_progress
from awsomechat.cli.search import _print_hit
from awsomechat.cli.serve import run_server, url_of
from awsomechat.container import Container
from awsomechat.types import AccessScope, SearchRequest

SAMPLE_QUESTION = "How do I add documents to an Amazon Kendra index?"
SAMPLE_ASK = "What is the maximum unzipped deployment package size in AWS Lambda?"


def sample_kb_path() -> Path:
    """The bundled AWS documentation sample (CC BY 4.0, see its README)."""
    return Path(str(resources.files("awsomechat").joinpath("sample_kb")))


def admin_key(c: Container) -> str:
    """The local administrator's key: reused from ``admin.key`` while valid, else created."""
    from awsomechat.errors import AuthenticationError, AwsomeChatError

    store = c.keys
    path = c.settings.data_dir / "admin.key"
    if path.is_file():
        key = path.read_text(encoding="utf-8").strip()
        try:
            if store.authenticate(key).principal.admin:
                return key
        except AuthenticationError:
            pass  # revoked, or the database was replaced: make a new one
    try:
        store.add_user("admin", admin=True)
    except AwsomeChatError:
        store.update_user("admin", admin=True, disabled=False)
    _, key = store.create_key("admin", "awsomechat up")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
    return key


def up_command(
    serve: bool = typer.Option(True, "--serve/--no-serve", help="serve the API and web UI (default)"),
    question: str = typer.Option(
        SAMPLE_QUESTION, "--question", "-q", help="--no-serve: sample search to run"
    ),
    ask: str = typer.Option(SAMPLE_ASK, "--ask", help="--no-serve: sample question to answer ('' to skip)"),
    skip_sample: bool = typer.Option(False, "--no-sample", help="do not ingest the sample knowledge base"),
    sample: Path | None = typer.Option(
        None, "--sample", exists=True, file_okay=False, help="folder to ingest instead of the bundled sample"
    ),
) -> None:
    """Start the store, ingest the sample knowledge base if the store is empty, serve API and web UI."""
    from awsomechat.ingest.pipeline import IngestOptions
    from awsomechat.store.database import describe_url

    with container() as c:
        console.print(f"[bold]store[/]: {describe_url(c.database.url)}", highlight=False)
        n_docs = c.documents.count()
        if n_docs == 0 and not skip_sample:
            kb = sample or sample_kb_path()
            console.print(f"store is empty: ingesting the sample knowledge base from {kb}", highlight=False)
            with make_progress(console) as progress:
                report = c.ingestion.ingest(
                    [str(kb)], IngestOptions(exclude=("README.md", "LICENSE*")), IngestBar(progress)
                )
            console.print(report.summary(), highlight=False)
        else:
            console.print(f"store holds {n_docs} documents")
        if serve:
            key = admin_key(c)
            settings = c.settings
        else:
            _sample(c, question, ask)
            return
    url = url_of(settings)
    console.print(
        f"\n[bold green]AWSomeChat is up[/]\n  web UI and API: [bold]{url}[/]   (API docs: {url}/docs)\n"
        f"  admin API key:  [bold]{key}[/]   (also in {settings.data_dir / 'admin.key'})\n"
        f"  try: curl -s {url}/v1/chat -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json'"
        f' -d \'{{"message": "{SAMPLE_ASK}", "stream": false}}\'\n'
        "  add users: .venv/bin/awsomechat users add NAME --groups a,b · stop: Ctrl+C",
        highlight=False,
        soft_wrap=True,
    )
    with handled():
        run_server(settings)


def _sample(c: Container, question: str, ask: str) -> None:
    """The terminal demo: a sample search and a sample answer."""
    console.print(f"\n[bold]sample search:[/] {question}\n", highlight=False)
    response = c.retriever.search(SearchRequest(text=question, k=3, access=AccessScope.public()))
    for rank, hit in enumerate(response.hits, start=1):
        _print_hit(rank, hit)
    if ask:
        from awsomechat.chat.service import ChatRequest
        from awsomechat.cli.chat import run_turn

        console.print(
            f"\n[bold]sample question:[/] {ask}\n[dim](loading the answer model)[/]", highlight=False
        )
        run_turn(c.chat, ChatRequest(user_id="local", message=ask, access=AccessScope.public()))
    console.print(
        '\nnext: [bold].venv/bin/awsomechat ask "your question"[/] · [bold].venv/bin/awsomechat chat[/]'
        " · [bold].venv/bin/awsomechat ingest PATH|URL[/] · [bold].venv/bin/awsomechat --help[/]"
    )
