"""Tune the keyword context weight and the fusion (RRF k, dense weight) on training data only.

Runs on an existing store (``AWSOMECHAT_DATA_DIR``) that already holds the corpus. For each
context weight the BM25 postings are rebuilt (``awsomechat reindex`` keeps the vectors), every
training query is searched once per retriever (dense once, BM25 once per weight), and the fusion
grid is replayed offline from those passage rankings exactly as ``HybridRetriever`` fuses them
(weighted RRF over passages, then passages mapped to pages/documents, first hit wins).

    # SciFact: nDCG@10 on qrels/train.tsv (never test)
    python bench/fusion_tuning.py --beir ../shared/data/scifact --split train
    # AWS docs: page recall@5 on a QA set disjoint from what `eval answers` reports
    python bench/fusion_tuning.py --qa src/awsomechat/eval/data/qa_calibration.jsonl

The store is left indexed with ``--restore`` (default: the weight it had). Figures go to stdout,
the last line one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from awsomechat.container import Container
from awsomechat.eval.answers import load_qa, relevant
from awsomechat.eval.beir import load_beir
from awsomechat.eval.metrics import evaluate_run, mean
from awsomechat.retrieval.fusion import reciprocal_rank_fusion
from awsomechat.settings import load_settings
from awsomechat.types import AccessScope, SearchRequest

RRF_KS = (10, 20, 40, 60, 100)
DENSE_WEIGHTS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
Ranking = list[tuple[str, str]]  # (chunk id, page/document key) in rank order


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def rankings(
    c: Container, queries: dict[str, str], mode: str, depth: int, key: Callable[[str], str]
) -> dict[str, Ranking]:
    out: dict[str, Ranking] = {}
    for i, (qid, text) in enumerate(queries.items(), start=1):
        req = SearchRequest(text=text, k=depth, access=AccessScope.admin(), mode=mode)  # type: ignore[arg-type]
        out[qid] = [(h.chunk_id, key(h.uri)) for h in c.retriever.search(req).hits]
        if i % 100 == 0:
            log(f"  {mode}: {i}/{len(queries)} queries")
    return out


def fused_pages(dense: Ranking, bm25: Ranking, k: int, w_dense: float, depth: int) -> list[str]:
    page_of = dict(dense) | dict(bm25)
    fused = reciprocal_rank_fusion(
        [[int(c) for c, _ in dense], [int(c) for c, _ in bm25]], [w_dense, 1.0], k=k
    )
    pages: list[str] = []
    for f in fused:
        page = page_of[str(f.chunk_id)]
        if page not in pages:
            pages.append(page)
        if len(pages) == depth:
            break
    return pages


def reindex(settings_weight: int) -> Container:
    settings = load_settings()
    settings.retrieval.bm25_context_weight = settings_weight
    c = Container(settings)
    spec = c.index_guard.current()
    if spec is None or spec.analyzer != c.analyzer.version:
        t0 = time.perf_counter()
        _, _, n = c.reindexer.run()
        log(
            f"reindexed {n} passages for context weight {settings_weight} in {time.perf_counter() - t0:.0f} s"
        )
    return c


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--beir", type=Path, help="BEIR folder (nDCG@10 on --split)")
    ap.add_argument("--split", default="train")
    ap.add_argument("--qa", type=Path, help="QA jsonl with doc_ids (page recall@5)")
    ap.add_argument("--weights", default="1,2,3,4", help="context weights to try")
    ap.add_argument("--restore", type=int, help="context weight to leave the store indexed with")
    args = ap.parse_args(argv)
    if (args.beir is None) == (args.qa is None):
        ap.error("give exactly one of --beir and --qa")
    if args.beir is not None:
        ds = load_beir(args.beir, args.split)
        if args.split == "test":
            log("warning: tuning on the test split; report figures from another split")
        queries = dict(ds.queries)
        prefix = ds.uri("")

        def key(uri: str) -> str:
            return uri.removeprefix(prefix)

        def score(pages: dict[str, list[str]]) -> float:
            return round(evaluate_run(pages, ds.qrels)["ndcg@10"], 4)

        metric, depth = "ndcg@10", 100
    else:
        items = [i for i in load_qa(args.qa) if i.answer is not None and i.doc_ids]
        queries = {i.id: i.question for i in items}
        wanted = {i.id: i.doc_ids for i in items}

        def key(uri: str) -> str:
            return uri

        def score(pages: dict[str, list[str]]) -> float:
            return mean([any(relevant(u, wanted[q]) for u in p[:5]) for q, p in pages.items()])

        metric, depth = "page_recall@5", 10
    first = load_settings().retrieval.bm25_context_weight
    weights = [int(w) for w in args.weights.split(",")]
    results: list[dict[str, Any]] = []
    dense: dict[str, Ranking] | None = None
    for w in weights:
        with reindex(w) as c:
            if dense is None:
                dense = rankings(c, queries, "dense", 200, key)
            bm25 = rankings(c, queries, "bm25", 200, key)
        for k in RRF_KS:
            for wd in DENSE_WEIGHTS:
                run = {q: fused_pages(dense[q], bm25[q], k, wd, depth) for q in queries}
                results.append({"context_weight": w, "rrf_k": k, "dense_weight": wd, metric: score(run)})
        bm25_only = {q: list(dict.fromkeys(p for _, p in bm25[q]))[:depth] for q in queries}
        log(f"context weight {w}: bm25 alone {metric} {score(bm25_only)}")
    assert dense is not None
    dense_only = {q: list(dict.fromkeys(p for _, p in dense[q]))[:depth] for q in queries}
    results.sort(key=lambda r: -r[metric])
    default = next(r for r in results if (r["context_weight"], r["rrf_k"], r["dense_weight"]) == (1, 60, 1.0))
    for r in results[:10]:
        print(json.dumps(r))
    with reindex(args.restore or first):
        pass
    print(json.dumps({"metric": metric, "queries": len(queries), "dense_alone": score(dense_only),
                      "default": default, "best": results[0]}))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
