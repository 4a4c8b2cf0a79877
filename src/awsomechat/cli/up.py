"""``awsomechat up``: the main job on the embedded defaults.

Starts the store, ingests the bundled sample knowledge base when the store is empty, runs a
sample search and answers a sample question with the default model. (The REST API and web UI
will be served from here once they exist.)
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import typer

from awsomechat.cli.common import console, container
from awsomechat.cli.progress import IngestBar, make_progress
from awsomechat.cli.search import _print_hit
from awsomechat.types import AccessScope, SearchRequest

SAMPLE_QUESTION = "How do I add documents to an Amazon Kendra index?"
SAMPLE_ASK = "What is the maximum unzipped deployment package size in AWS Lambda?"


def sample_kb_path() -> Path:
    """The bundled AWS documentation sample (CC BY 4.0, see its README)."""
    return Path(str(resources.files("awsomechat").joinpath("sample_kb")))


def up_command(
    question: str = typer.Option(SAMPLE_QUESTION, "--question", "-q", help="sample search to run"),
    ask: str = typer.Option(SAMPLE_ASK, "--ask", help="sample question to answer ('' to skip)"),
    skip_sample: bool = typer.Option(False, "--no-sample", help="do not ingest the sample knowledge base"),
    sample: Path | None = typer.Option(
        None, "--sample", exists=True, file_okay=False, help="folder to ingest instead of the bundled sample"
    ),
) -> None:
    """Start the store, ingest the sample knowledge base if the store is empty, run a sample search."""
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
