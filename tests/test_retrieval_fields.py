"""Field-aware BM25 (the context line weighs more), near-duplicate removal, and page recall."""

from __future__ import annotations

from pathlib import Path

from awsomechat.container import Container
from awsomechat.eval.answers import QAItem
from awsomechat.eval.pages import evaluate_pages, summarise_pages
from awsomechat.ingest.pipeline import IngestOptions
from awsomechat.retrieval.dedup import near_duplicates
from awsomechat.seams import Embedder
from awsomechat.settings import Settings
from awsomechat.text.analyzer import Analyzer
from awsomechat.text.context import context_length
from awsomechat.types import SearchRequest

SHARED = (
    "To rotate the key, open the console, choose the key, and choose Rotate now. Rotation takes a"
    " minute, and the old key material stays available to decrypt what it encrypted before. You can"
    " also turn on automatic rotation, which rotates the key material every year on the same date."
)


def test_context_terms_count_by_weight() -> None:
    text = "Lambda quotas > Function timeout\n\nThe timeout is 900 seconds."
    n = context_length(text, "Lambda quotas", ("Function timeout",))
    assert text[:n] == "Lambda quotas > Function timeout"
    plain, plain_len = Analyzer().term_frequencies(text, n)
    tf, length = Analyzer(3).term_frequencies(text, n)
    assert plain["timeout"] == 2 and tf["timeout"] == 1 + 3  # once in the body, thrice in the context
    assert tf["900"] == 1 and length == plain_len + 2 * 4  # 4 context terms, counted 2 more times
    assert Analyzer(3).version != Analyzer().version  # a different index: reindex needed
    assert context_length("No context here.\n\nBody.", "Title", ()) == 0


def test_near_duplicates_keep_the_best_ranked() -> None:
    a = f"Guide A > Keys\n\n{SHARED}"
    b = f"Guide B > Keys\n\n{SHARED.replace('a minute', 'one minute')}"
    c = "Guide C > Other\n\nBuckets hold objects and have a globally unique name in every partition."
    assert near_duplicates([a, b, c], 0.8) == [False, True, False]
    assert near_duplicates([a, b, c], 1.0) == [False, False, False]  # not identical
    assert near_duplicates([a, a], 1.0) == [False, True]


def _kb(root: Path) -> Path:
    root.mkdir()
    for name in ("linux", "windows"):
        (root / f"{name}.md").write_text(f"# Keys on {name}\n\n## Rotating keys\n\n{SHARED}\n")
    (root / "limits.md").write_text(
        "# Key limits\n\n## Rotating keys\n\nAn account may rotate each key at most once a day.\n"
    )
    return root


def test_near_duplicate_pages_do_not_crowd_results(container: Container, tmp_path: Path) -> None:
    container.ingestion.ingest([str(_kb(tmp_path / "kb"))], IngestOptions())
    hits = container.retriever.search(SearchRequest(text="how do I rotate a key now", k=3)).hits
    titles = [h.title for h in hits]
    assert len(titles) == 2 and "Key limits" in titles  # one of the two copies, then the other page
    container.settings.retrieval.duplicate_similarity = 1.0
    assert len(container.retriever.search(SearchRequest(text="how do I rotate a key now", k=3)).hits) == 3


def test_reindex_for_a_new_context_weight_keeps_the_vectors(
    settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "timeout.md").write_text("# Visibility timeout\n\nSet it per queue or per message.\n")
    (kb / "queues.md").write_text(
        "# Queues\n\nA queue has a visibility timeout; the visibility timeout hides received messages"
        " and the visibility of a message returns after the timeout.\n"
    )
    query = SearchRequest(text="visibility timeout", k=2, mode="bm25")
    with Container(settings, embedder=embedder) as c:
        c.ingestion.ingest([str(kb)], IngestOptions())
        assert c.retriever.search(query).hits[0].title == "Queues"
        with c.database.pool.connection() as conn:
            before = conn.execute("SELECT id, embedding::text FROM chunks ORDER BY id").fetchall()
    weighted = settings.model_copy(deep=True)
    weighted.retrieval.bm25_context_weight = 4
    with Container(weighted, embedder=embedder) as c:
        old, new, n = c.reindexer.run()
        assert old is not None and new.analyzer.endswith("+ctx4") and n == len(before)
        with c.database.pool.connection() as conn:
            assert conn.execute("SELECT id, embedding::text FROM chunks ORDER BY id").fetchall() == before
        assert c.retriever.search(query).hits[0].title == "Visibility timeout"


def test_page_recall_counts_the_answering_page(container: Container, tmp_path: Path) -> None:
    container.ingestion.ingest([str(_kb(tmp_path / "kb"))], IngestOptions())
    items = [
        QAItem("q1", "How often may a key be rotated?", "once a day", ("limits.md",)),
        QAItem("q2", "What is a bucket?", "a container", ("buckets.md",)),  # not in the corpus
        QAItem("q3", "Is there a key for pricing?", None, ()),  # unanswerable: not counted
    ]
    summary = summarise_pages(evaluate_pages(items, container.retriever))
    assert summary["n"] == 2 and summary["recall@1"] == 0.5 and summary["recall@10"] == 0.5
    assert [m["id"] for m in summary["misses@5"]] == ["q2"]


def test_one_page_does_not_fill_the_top_of_the_results(container: Container, tmp_path: Path) -> None:
    from awsomechat.retrieval.dedup import spread_documents

    assert spread_documents(["a1", "a2", "b1", "a3", "c1"], lambda x: x[0], 1) == [
        "a1",
        "b1",
        "c1",
        "a2",
        "a3",
    ]
    assert spread_documents(["a1", "a2", "b1", "a3"], lambda x: x[0], 2) == ["a1", "a2", "b1", "a3"]
    assert spread_documents(["a1", "a2", "b1"], lambda x: x[0], 0) == ["a1", "a2", "b1"]
    kb = tmp_path / "kb"
    kb.mkdir()
    sections = "\n\n".join(
        f"## Key rotation part {i}\n\nKey rotation step {i}: rotate the key and check the rotation."
        + " Filler words about other matters." * 30
        for i in range(6)
    )
    (kb / "long.md").write_text(f"# Rotation guide\n\n{sections}\n")
    (kb / "short.md").write_text("# Rotation limits\n\nA key rotation may happen once a day.\n")
    container.ingestion.ingest([str(kb)], IngestOptions())
    container.settings.retrieval.passages_per_document = 1
    query = SearchRequest(text="key rotation", k=3)
    titles = [h.title for h in container.retriever.search(query).hits]
    assert titles[:2] == ["Rotation guide", "Rotation limits"] or titles[:2] == [
        "Rotation limits",
        "Rotation guide",
    ]
    first_page = container.retriever.search(SearchRequest(text="key rotation", k=4)).hits
    second_page = container.retriever.search(SearchRequest(text="key rotation", k=4, offset=4)).hits
    every = container.retriever.search(SearchRequest(text="key rotation", k=50)).hits
    ids = [h.chunk_id for h in first_page + second_page]
    assert len(every) > 4 and ids == [h.chunk_id for h in every][:8]  # page 2 continues page 1
    container.settings.retrieval.passages_per_document = 0
    assert [h.title for h in container.retriever.search(query).hits] == ["Rotation guide"] * 3
