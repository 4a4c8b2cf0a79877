"""``awsomechat eval retrieval``."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import typer
from rich.table import Table

from awsomechat.cli.common import console, container
from awsomechat.cli.progress import IngestBar, make_progress
from awsomechat.container import Container

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


def _ingest_corpus(c: Container, corpus: Path) -> None:
    """Ingest an evaluation corpus first (unchanged documents are skipped)."""
    from awsomechat.ingest.pipeline import IngestOptions

    with make_progress(console) as progress:
        ingested = c.ingestion.ingest([str(corpus)], IngestOptions(), IngestBar(progress))
    console.print(f"corpus: {ingested.summary()}", highlight=False)


@app.command("answers")
def answers_command(
    datasets: list[Path] = typer.Option(
        ..., "--dataset", exists=True, dir_okay=False, help="QA jsonl (repeatable)"
    ),
    corpus: Path | None = typer.Option(
        None, "--corpus", exists=True, file_okay=False, help="ingest this first"
    ),
    report: Path = typer.Option(
        Path("eval-reports"), "--report", help="folder for the Markdown and JSON report"
    ),
    limit: int | None = typer.Option(
        None, "--limit", min=1, help="only the first N questions of each dataset"
    ),
) -> None:
    """Answer every question end to end; report recall@5, token recall, citation precision, abstention."""
    from awsomechat.eval.answers import evaluate_answers, load_qa, markdown_report, summarise

    with container() as c:
        if corpus is not None:
            _ingest_corpus(c, corpus)
        items = [item for ds in datasets for item in load_qa(ds)[:limit]]
        with make_progress(console) as progress:
            task = progress.add_task("questions", total=len(items), current="")
            results = evaluate_answers(
                items,
                c.chat,
                c.retriever,
                on_item=lambda r: progress.update(task, advance=1, current=r.item.id),
            )
        summary = summarise(results)
        name = "+".join(ds.stem for ds in datasets)
        report.mkdir(parents=True, exist_ok=True)
        md = markdown_report(name, summary, results)
        (report / f"answers-{name}.md").write_text(md, encoding="utf-8")
        rows = [r.__dict__ | {"item": r.item.__dict__} for r in results]
        (report / f"answers-{name}.json").write_text(
            json.dumps({"summary": summary, "results": rows}, default=str, indent=1), encoding="utf-8"
        )
        table = Table("metric", "value", title=f"answers: {name}")
        for k, v in summary.items():
            table.add_row(k, str(v))
        console.print(table)
        console.print(f"report: {report / f'answers-{name}.md'}", highlight=False)
        print(json.dumps({k: summary[k] for k in (
            "n", "recall@5", "token_recall", "citation_precision", "answered_answerable",
            "abstained_unanswerable", "p50_seconds")}))  # fmt: skip


@app.command("conversations")
def conversations_command(
    datasets: list[Path] = typer.Option(
        ..., "--dataset", exists=True, dir_okay=False, help="multi-turn jsonl (ours or TREC CAsT); repeatable"
    ),
    corpus: Path | None = typer.Option(
        None, "--corpus", exists=True, file_okay=False, help="ingest this first"
    ),
    limit: int | None = typer.Option(
        None, "--limit", min=1, help="only the first N conversations of each file"
    ),
) -> None:
    """Follow-up rewriting: retrieval recall@5 with and without rewriting, rewrite token F1, skip rate."""
    from awsomechat.eval.conversations import evaluate_conversations, load_conversations

    with container() as c:
        if corpus is not None:
            _ingest_corpus(c, corpus)
        results = []
        for ds in datasets:
            n = sum(len(t) - 1 for _, t in load_conversations(ds)[:limit])
            with make_progress(console) as progress:
                task = progress.add_task(f"{ds.stem} follow-ups", total=n, current="")
                results.append(
                    evaluate_conversations(
                        ds, c.chat_model, c.retriever, limit=limit, on_turn=partial(progress.advance, task)
                    )
                )
        for r in results:
            table = Table("metric", "value", title=r["dataset"])
            for k, v in r.items():
                table.add_row(k, str(v))
            console.print(table)
        print(json.dumps({r["dataset"]: r for r in results}))


@app.command("abstention")
def abstention_command(
    datasets: list[Path] = typer.Option(
        ..., "--dataset", exists=True, dir_okay=False, help="QA jsonl (repeatable)"
    ),
    top: int = typer.Option(10, "--top", min=1, help="threshold pairs to show"),
) -> None:
    """Show the relevance signals per question and the best abstention thresholds (no model calls)."""
    from awsomechat.eval.answers import load_qa
    from awsomechat.eval.calibrate import collect, sweep

    with container() as c:
        items = [item for ds in datasets for item in load_qa(ds)]
        s = c.settings.chat
        # The configured retriever's own signal: cosine + coverage (hybrid) or confidence (Kendra).
        signals = collect(items, c.retriever, c.relevance_judge, s.retrieve_k)
        table = Table("id", "answerable", "top dense", "coverage", "question")
        for sig in sorted(signals, key=lambda x: (x.item.answer is None, x.coverage)):
            table.add_row(sig.item.id, str(sig.item.answer is not None), f"{sig.top_dense:.3f}",
                          f"{sig.coverage:.3f}", sig.item.question[:70])  # fmt: skip
        console.print(table)
        best = sweep(signals)[:top]
        out = Table("min_dense", "min_coverage", "answered answerable", "abstained unanswerable")
        for r in best:
            out.add_row(*(str(r[k]) for k in ("min_dense", "min_coverage", "answered_answerable",
                                               "abstained_unanswerable")))  # fmt: skip
        console.print(out)
        print(
            json.dumps(
                {"current": {"min_dense": s.min_dense, "min_coverage": s.min_coverage}, "best": best[0]}
            )
        )


@app.command("replies")
def replies_command(
    dataset: Path = typer.Option(..., "--dataset", exists=True, dir_okay=False, help="e-mail jsonl"),
    corpus: Path | None = typer.Option(
        None, "--corpus", exists=True, file_okay=False, help="ingest this first"
    ),
    report: Path = typer.Option(
        Path("eval-reports"), "--report", help="folder for the Markdown and JSON report"
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="only the first N e-mails"),
) -> None:
    """Draft a reply to every customer e-mail; report answered share, required facts, hand-offs,
    citation precision and seconds per reply (one model call per answered e-mail)."""
    from awsomechat.eval.replies import evaluate_replies, load_emails, markdown_report, summarise

    with container() as c:
        if corpus is not None:
            _ingest_corpus(c, corpus)
        items = load_emails(dataset)[:limit]
        with make_progress(console) as progress:
            task = progress.add_task("e-mails", total=len(items), current="")
            results = evaluate_replies(
                items, c.chat, on_item=lambda r: progress.update(task, advance=1, current=r.item.id)
            )
        summary = summarise(results)
        report.mkdir(parents=True, exist_ok=True)
        (report / f"replies-{dataset.stem}.md").write_text(
            markdown_report(dataset.stem, summary, results), encoding="utf-8"
        )
        rows = [r.__dict__ | {"item": r.item.__dict__, "all_facts": r.all_facts} for r in results]
        (report / f"replies-{dataset.stem}.json").write_text(
            json.dumps({"summary": summary, "results": rows}, default=str, indent=1), encoding="utf-8"
        )
        table = Table("metric", "value", title=f"replies: {dataset.stem}")
        for k, v in summary.items():
            table.add_row(k, str(v))
        console.print(table)
        console.print(f"report: {report / f'replies-{dataset.stem}.md'}", highlight=False)
        print(json.dumps({"dataset": dataset.stem, **summary}))
