"""BEIR datasets (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``) and their evaluation."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from awsomechat.errors import SourceError
from awsomechat.eval.metrics import evaluate_run
from awsomechat.seams import Retriever
from awsomechat.types import AccessScope, SearchRequest, SourceItem

MODES = ("bm25", "dense", "hybrid")


@dataclass(frozen=True)
class BeirDataset:
    name: str
    root: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]

    @property
    def source(self) -> str:
        return f"beir://{self.name}"

    def uri(self, doc_id: str) -> str:
        return f"beir://{self.name}/{doc_id}"

    def corpus_items(self) -> Iterator[SourceItem]:
        """Each corpus record as a Markdown document (``# title`` then the text)."""
        with (self.root / "corpus.jsonl").open(encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                rec = json.loads(line)
                doc_id = str(rec["_id"])
                title = (rec.get("title") or "").strip() or doc_id
                body = f"# {title}\n\n{rec.get('text', '')}\n"
                yield SourceItem(
                    uri=self.uri(doc_id),
                    source=self.source,
                    name=f"{doc_id}.md",
                    data=body.encode("utf-8"),
                    content_type="text/markdown",
                )

    def corpus_size(self) -> int:
        with (self.root / "corpus.jsonl").open(encoding="utf-8") as f:
            return sum(1 for line in f if line.strip())


def load_beir(root: Path, split: str = "test") -> BeirDataset:
    """Read queries and judgements; the corpus is streamed later."""
    for need in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv"):
        if not (root / need).is_file():
            raise SourceError(
                f"{root} is not a BEIR dataset: {need} is missing",
                hint="expected corpus.jsonl, queries.jsonl and qrels/<split>.tsv",
            )
    qrels: dict[str, dict[str, int]] = {}
    with (root / f"qrels/{split}.tsv").open(encoding="utf-8") as f:
        for n, line in enumerate(f):
            parts = line.rstrip("\n").split("\t")
            if n == 0 and not parts[-1].lstrip("-").isdigit():
                continue  # header
            if len(parts) < 3:
                continue
            qrels.setdefault(parts[0], {})[parts[-2]] = int(parts[-1])
    queries: dict[str, str] = {}
    with (root / "queries.jsonl").open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rec = json.loads(line)
                if str(rec["_id"]) in qrels:
                    queries[str(rec["_id"])] = rec["text"]
    return BeirDataset(root.resolve().name, root, queries, qrels)


def run_retrieval(
    dataset: BeirDataset,
    retriever: Retriever,
    mode: str,
    *,
    depth: int = 100,
    on_query: Callable[[], None] | None = None,
) -> dict[str, list[str]]:
    """Ranked document ids per query: passages are mapped to documents, first hit wins."""
    prefix = dataset.uri("")
    run: dict[str, list[str]] = {}
    for qid, text in dataset.queries.items():
        hits = retriever.search(
            SearchRequest(text=text, k=depth * 2, access=AccessScope.admin(), mode=mode)  # type: ignore[arg-type]
        ).hits
        ranked: list[str] = []
        for hit in hits:
            doc = hit.uri.removeprefix(prefix)
            if hit.uri.startswith(prefix) and doc not in ranked:
                ranked.append(doc)
        run[qid] = ranked[:depth]
        if on_query:
            on_query()
    return run


def evaluate(dataset: BeirDataset, run: dict[str, list[str]]) -> dict[str, float]:
    return evaluate_run(run, dataset.qrels)
