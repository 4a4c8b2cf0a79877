"""``awsomechat eval retrieval``."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import typer
from rich.table import Table

from awsomechat.cli.common import console, container
from awsomechat.cli.progress import IngestBar, make_progress

app = typer.Typer(help="Measure retrieval (and later answer) quality.", no_args_is_help=True)


@app.command("retrieval")
def retrieval_command(
    dataset: Path = typer.Option(..., "--dataset", exists=True, file_okay=False, help="BEIR folder"),
    split: str = typer.Option("test", "--split", help="qrels split"),
    modes: str = typer.Option("bm25,dense,hybrid", "--modes", help="comma-separated retrievers"),
    limit: int | None = typer.Option(None, "--limit", min=1, help="evaluate only the first N queries"),
) -> None:
    """Ingest a BEIR dataset's corpus (skipping what is stored) and report nDCG@10, Recall@10/100, MRR@10."""
    from awsomechat.eval.beir import MODES, evaluate, load_beir, run_retrieval
    from awsomechat.ingest.pipeline import IngestOptions, IngestReport

    wanted = [m.strip() for m in modes.split(",") if m.strip()]
    if not wanted or any(m not in MODES for m in wanted):
        raise typer.BadParameter(f"choose from {', '.join(MODES)}", param_hint="--modes")
    with container() as c:
        ds = load_beir(dataset, split)
        if limit:
            keep = list(ds.queries.items())[:limit]
            ds.queries.clear()
            ds.queries.update(keep)
        report = IngestReport()
        with make_progress(console) as progress:
            bar = IngestBar(progress)
            bar.source_started(f"ingest {ds.name}", ds.corpus_size())
            c.ingestion.ingest_items(ds.corpus_items(), ds.source, IngestOptions(), bar, report)
        console.print(f"corpus: {report.summary()}", highlight=False)
        results: dict[str, dict[str, float]] = {}
        with make_progress(console) as progress:
            for mode in wanted:
                task = progress.add_task(f"{mode} queries", total=len(ds.queries), current="")
                run = run_retrieval(ds, c.retriever, mode, on_query=partial(progress.advance, task))
                results[mode] = evaluate(ds, run)
        table = Table(
            "retriever", "nDCG@10", "Recall@10", "Recall@100", "MRR@10", title=f"{ds.name} ({split})"
        )
        for mode, m in results.items():
            table.add_row(mode, *(f"{m[k]:.4f}" for k in ("ndcg@10", "recall@10", "recall@100", "mrr@10")))
        console.print(table)
        print(json.dumps({"dataset": ds.name, **results}))
