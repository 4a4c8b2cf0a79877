"""``awsomechat eval retrieval``."""

from __future__ import annotations

import json
import time
from functools import partial
from pathlib import Path
from typing import Any

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
        t0 = time.perf_counter()
        with make_progress(console) as progress:
            bar = IngestBar(progress)
            bar.source_started(f"ingest {ds.name}", ds.corpus_size())
            c.ingestion.ingest_items(ds.corpus_items(), ds.source, IngestOptions(), bar, report)
        report.seconds = time.perf_counter() - t0
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
            "abstained_unanswerable", "p50_seconds", "answers_with_citations", "supported_sentences",
            "numbers_supported")}))  # fmt: skip


# --- claims (answer trust)
@app.command("claims")
def claims_command(
    dataset: Path | None = typer.Option(
        None,
        "--dataset",
        exists=True,
        dir_okay=False,
        help="labelled claims jsonl (default: the packaged set)",
    ),
    half: str = typer.Option("test", "--half", help="dev (tune on it), test (report on it) or all"),
    coverage: list[float] = typer.Option(
        [],
        "--coverage",
        help="content-term coverage thresholds to compare (default: chat.verify_min_coverage)",
    ),
    model: bool = typer.Option(
        False, "--model", help="also the lexical+model verifier (loads the chat model)"
    ),
    candidates: Path | None = typer.Option(
        None,
        "--candidates",
        exists=True,
        dir_okay=False,
        help="instead: write unlabelled sentences of this `eval answers` JSON report to --out, to label",
    ),
    out_path: Path = typer.Option(Path("claims-candidates.jsonl"), "--out", help="with --candidates"),
) -> None:
    """The answer-sentence verifier against hand labels: precision and recall at finding unsupported
    sentences, the share of supported ones it keeps, seconds per sentence."""
    from awsomechat.chat.verify import ModelJudge
    from awsomechat.eval.claims import DEFAULT_PATH, candidates_from_report, load_claims, run_verifier, score

    if candidates is not None:
        rows = candidates_from_report(json.loads(candidates.read_text(encoding="utf-8")))
        out_path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        console.print(f"{len(rows)} sentences to label: {out_path}", highlight=False)
        return

    if half not in ("dev", "test", "all"):
        raise typer.BadParameter("choose dev, test or all", param_hint="--half")
    claims = [c for c in load_claims(dataset or DEFAULT_PATH) if half == "all" or c.half == half]
    with container() as c:
        terms = c.relevance_judge.term_set
        out: dict[str, Any] = {}
        for cov in coverage or [c.settings.chat.verify_min_coverage]:
            verdicts, seconds = run_verifier(claims, terms, min_coverage=cov)
            out[f"lexical@{cov}"] = score(claims, verdicts, seconds)
            if model:
                judge = ModelJudge(c.chat_model)
                verdicts, seconds = run_verifier(claims, terms, min_coverage=cov, judge=judge)
                out[f"model@{cov}"] = score(claims, verdicts, seconds)
        table = Table("verifier", *next(iter(out.values())).keys(), title=f"claims ({half} half)")
        for name, row in out.items():
            table.add_row(name, *(str(v) for v in row.values()))
        console.print(table)
        print(json.dumps({"half": half, **out}))


# --- end claims


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
    no_model: bool = typer.Option(False, "--no-model", help="only the strategies without a model call"),
    paths: str | None = typer.Option(
        None,
        "--paths",
        help="instead of the strategies: the conversations through the API paths, side by side"
        " (native = POST /v1/chat sessions, openai = /v1/chat/completions messages), e.g. native,openai",
    ),
) -> None:
    """Follow-up handling per strategy (as asked, topic, model, topic+model, human rewrite): token
    F1 against the human rewrites, retrieval recall@5, the skip rule's precision/recall, seconds.
    With --paths: each conversation through the real API in-process, per path (answers generated
    by the configured model)."""
    from awsomechat.eval.conversations import PATHS, evaluate_conversations, load_conversations

    wanted = tuple(p.strip() for p in paths.split(",") if p.strip()) if paths is not None else ()
    if paths is not None and (not wanted or any(p not in PATHS for p in wanted)):
        raise typer.BadParameter(f"choose from {', '.join(PATHS)}", param_hint="--paths")
    with container() as c:
        if corpus is not None:
            _ingest_corpus(c, corpus)
        if wanted:
            _conversation_paths(c, datasets, wanted, limit)
            return
        results = []
        for ds in datasets:
            n = sum(len(t) - 1 for _, t in load_conversations(ds)[:limit])
            with make_progress(console) as progress:
                task = progress.add_task(f"{ds.stem} follow-ups", total=n, current="")
                results.append(
                    evaluate_conversations(
                        ds, None if no_model else c.chat_model, c.retriever, limit=limit,
                        on_turn=partial(progress.advance, task),
                    )
                )  # fmt: skip
        for r in results:
            _conversation_tables(r)
        print(json.dumps({r["dataset"]: r for r in results}))


def _conversation_paths(
    c: Container, datasets: list[Path], paths: tuple[str, ...], limit: int | None
) -> None:
    """``eval conversations --paths``: the app in-process (a TestClient), a throw-away user's key."""
    import uuid

    from fastapi.testclient import TestClient

    from awsomechat.api.app import create_app
    from awsomechat.eval.conversations import evaluate_paths, load_conversations

    api = c.settings.api.model_copy(update={"rate_limit_per_minute": 0})  # the run is one key's burst
    app = create_app(c.settings.model_copy(update={"api": api}), container=c)
    user = f"eval-{uuid.uuid4().hex[:8]}"
    c.keys.add_user(user)
    results = []
    try:
        key = c.keys.create_key(user, "eval conversations")[1]
        with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as client:
            for ds in datasets:
                n = sum(len(t) for _, t in load_conversations(ds)[:limit])
                with make_progress(console) as progress:
                    task = progress.add_task(f"{ds.stem} turns", total=n, current="")
                    results.append(
                        evaluate_paths(
                            ds, client, paths=paths, limit=limit, on_turn=partial(progress.advance, task)
                        )
                    )
    finally:
        c.keys.remove_user(user)
    for r in results:
        table = Table(
            "metric", *paths, title=f"{r['dataset']}: {r['conversations']} conversations, by API path"
        )
        for k in ("follow_ups", "recall@5", "answered", "abstained", "rewritten", "first_turn_answered",
                  "seconds_per_turn"):  # fmt: skip
            table.add_row(k, *(str(r["paths"][p][k]) for p in paths))
        console.print(table)
        if len(paths) > 1:
            console.print(
                f"same standalone question: {r['same_standalone_question']}, same answered/abstained:"
                f" {r['same_answered_or_abstained']}, same passages: {r['same_sources']};"
                f" {len(r['differing'])} follow-ups differ",
                highlight=False,
            )
    print(json.dumps({r["dataset"]: r for r in results}))


def _conversation_tables(r: dict[str, Any]) -> None:
    parts = [("all", r), *r.get("halves", {}).items()]
    metrics = ("token_f1", "token_f1_where_needed", "recall@5", "seconds_per_turn", "model_calls_per_turn")
    keys = [k for k in metrics if k in r]
    strategies = list(r["token_f1"])
    for name, part in parts:
        title = f"{r['dataset']} ({name}): {part['follow_ups']} follow-ups, {part['needed']} needing context"
        table = Table("metric", *strategies, title=title)
        for k in keys:
            table.add_row(k, *(str(part.get(k, {}).get(s, "")) for s in strategies))
        console.print(table)
        console.print(
            f"skip rule: precision {part['needs_context_precision']}, recall {part['needs_context_recall']}",
            highlight=False,
        )


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
        report.mkdir(parents=True, exist_ok=True)
        # One line per reply as it is done: a long run on a busy machine leaves usable results.
        partial = report / f"replies-{dataset.stem}.partial.jsonl"
        partial.write_text("", encoding="utf-8")

        with make_progress(console) as progress:
            task = progress.add_task("e-mails", total=len(items), current="")

            def done(r: Any) -> None:
                with partial.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(r.__dict__ | {"item": r.item.__dict__}, default=str) + "\n")
                progress.update(task, advance=1, current=r.item.id)

            results = evaluate_replies(items, c.chat, on_item=done)
        summary = summarise(results)
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


@app.command("reply-gate")
def reply_gate_command(
    dataset: Path = typer.Option(..., "--dataset", exists=True, dir_okay=False, help="e-mail jsonl"),
    top: int = typer.Option(5, "--top", min=1, help="threshold pairs to show"),
) -> None:
    """Each e-mail request's relevance signals and the best e-mail thresholds (no model calls).
    Calibrate on emails_dev.jsonl, never on the set you report."""
    from awsomechat.chat.abstain import RelevanceGate
    from awsomechat.eval.replies import collect_signals, load_emails, sweep_email_gate

    with container() as c:
        s = c.settings.chat
        gate = RelevanceGate(c.search_queries, c.analyzer, min_dense=-1.0, min_coverage=0.0)
        signals = collect_signals(load_emails(dataset), c.retriever, gate, s.retrieve_k)
        table = Table("id", "kind", "top dense", "coverage", "rules", "request")
        for sig in signals:
            for text, dense, cov, ok in sig.requests:
                table.add_row(sig.item.id, sig.item.kind, f"{dense:.3f}", f"{cov:.3f}",
                              "ok" if ok else "hand off", text[:70])  # fmt: skip
        console.print(table)
        best = sweep_email_gate(signals)[:top]
        out = Table("min_dense", "min_coverage", "answered", "every request", "hand-off unanswerable")
        keys = ("min_dense", "min_coverage", "answered_answerable", "every_request_answered",
                "handoff_unanswerable")  # fmt: skip
        for r in best:
            out.add_row(*(str(r[k]) for k in keys))
        console.print(out)
        current = {"email_min_dense": s.email_min_dense, "email_min_coverage": s.email_min_coverage}
        print(json.dumps({"current": current, "best": best[0]}))


@app.command("pages")
def pages_command(
    datasets: list[Path] = typer.Option(
        ..., "--dataset", exists=True, dir_okay=False, help="QA jsonl (repeatable)"
    ),
    corpus: Path | None = typer.Option(
        None, "--corpus", exists=True, file_okay=False, help="ingest this first"
    ),
) -> None:
    """Page recall@1/5/10 and MRR@10 of the answering page, without a model call (the retrieval half
    of `eval answers`, fast enough for a whole corpus); lists the misses."""
    from awsomechat.eval.answers import load_qa
    from awsomechat.eval.pages import evaluate_pages, summarise_pages

    with container() as c:
        if corpus is not None:
            _ingest_corpus(c, corpus)
        items = [item for ds in datasets for item in load_qa(ds)]
        with make_progress(console) as progress:
            task = progress.add_task("questions", total=sum(i.answer is not None for i in items), current="")
            results = evaluate_pages(
                items, c.retriever, on_item=lambda r: progress.update(task, advance=1, current=r.item.id)
            )
        summary = summarise_pages(results)
        misses = summary.pop("misses@5")
        table = Table("id", "question", "answering page", "top 5 came from")
        for m in misses:
            table.add_row(m["id"], m["question"][:60], ", ".join(m["want"]), "; ".join(m["got"])[:90])
        console.print(table)
        console.print(" ".join(f"{k} {v}" for k, v in summary.items()), highlight=False)
        print(json.dumps(summary | {"misses@5": [m["id"] for m in misses]}))
