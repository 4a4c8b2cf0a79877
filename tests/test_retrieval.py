"""Retriever contract against the real store (embedded PostgreSQL + pgvector) and real embedder.

``RetrieverContract`` holds the behaviour every retriever backend must show; a backend's test
class inherits it and provides the ``kb`` fixture (a container with the corpus below ingested).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from awsomechat.container import Container
from awsomechat.errors import EmbedderMismatchError, FilterError
from awsomechat.filters import make_condition, parse_filter
from awsomechat.store.index_meta import IndexSpec, write_spec
from awsomechat.types import AccessScope, SearchRequest
from tests.helpers import ingest_texts, reference_bm25

PUBLIC = {
    "lambda.md": "# AWS Lambda\n\nLambda runs your code without provisioning servers. "
    "You pay only for the compute time you consume.",
    "dynamo.md": "# Amazon DynamoDB\n\nDynamoDB is a key-value and document database with "
    "single-digit millisecond latency at any scale.",
    "kendra.md": "# Amazon Kendra\n\nKendra is an intelligent enterprise search service. "
    "You add documents to an index and query it in natural language.",
    "ebs.md": "# Amazon EBS encryption\n\nEBS encryption protects data volumes at rest with KMS keys. "
    "Encryption is available on all current generation instance types.",
}
SECRET = {
    "salaries.md": "# Salary bands 2025\n\nThe confidential salary bands for engineers: level five "
    "earns the platinum budget. Salary review happens in March.",
}


def _search(c: Container, text: str, **kw: object) -> list[str]:
    req = SearchRequest(text=text, **kw)  # type: ignore[arg-type]
    return [h.uri.rsplit("/", 1)[-1] for h in c.retriever.search(req).hits]


class RetrieverContract:
    """Behaviour every retriever must have (the corpus above, ingested by the ``kb`` fixture)."""

    @pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
    def test_finds_the_relevant_document_first(self, kb: Container, mode: str) -> None:
        assert _search(kb, "serverless compute pay per use Lambda", k=3, mode=mode)[0] == "lambda.md"
        assert _search(kb, "is EBS encryption available on my instance type", k=3, mode=mode)[0] == "ebs.md"

    def test_hit_carries_title_uri_excerpt_highlights_and_scores(self, kb: Container) -> None:
        hit = kb.retriever.search(SearchRequest(text="enterprise search index", k=1)).hits[0]
        assert hit.title == "Amazon Kendra"
        assert hit.uri.endswith("/kendra.md")
        assert "enterprise search" in hit.text
        marked = {hit.excerpt[h.start : h.end].lower() for h in hit.highlights}
        assert {"enterprise", "search", "index"} <= marked
        assert hit.scores.dense is not None and hit.scores.bm25 is not None
        assert hit.scores.dense_rank == 1 or hit.scores.bm25_rank == 1

    @pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
    def test_restricted_document_hidden_without_group(self, kb: Container, mode: str) -> None:
        assert "salaries.md" not in _search(kb, "salary bands", k=10, mode=mode)
        assert "salaries.md" not in _search(
            kb, "salary bands", k=10, mode=mode, access=AccessScope(groups=frozenset({"eng"}))
        )
        seen = _search(kb, "salary bands", k=10, mode=mode, access=AccessScope(groups=frozenset({"hr", "x"})))
        assert seen[0] == "salaries.md"

    def test_attribute_filters(self, kb: Container) -> None:
        def by(*f: str) -> set[str]:
            return set(_search(kb, "amazon aws service", k=10, filters=tuple(parse_filter(x) for x in f)))

        assert by("team=compute") == {"lambda.md"}
        assert by("team in data,search") == {"dynamo.md", "kendra.md"}
        assert by("year>=2021") == {"dynamo.md", "kendra.md"}
        assert by("year<2021") == {"lambda.md"}
        assert by("team!=compute") == {"dynamo.md", "kendra.md", "ebs.md"}
        assert by("team?") == {"lambda.md", "dynamo.md", "kendra.md"}
        assert by("team=compute", "year>=2021") == set()

    def test_document_field_filters(self, kb: Container) -> None:
        assert set(_search(kb, "amazon", k=10, filters=(parse_filter("source=test://other"),))) == {"ebs.md"}
        future = parse_filter("updated_at>=2999-01-01")
        assert _search(kb, "amazon", k=10, filters=(future,)) == []
        past = parse_filter("created_at>=2000-01-01")
        assert len(_search(kb, "amazon lambda dynamodb kendra ebs", k=10, filters=(past,))) == 4

    def test_paging_continues_the_ranking(self, kb: Container) -> None:
        full = _search(kb, "amazon data service", k=4)
        assert _search(kb, "amazon data service", k=2, offset=2) == full[2:4]

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        field=st.sampled_from(["team", "year", "source", "title", "uri", "format", "level", "groups"]),
        op=st.sampled_from(["eq", "ne", "in", "gte", "lte", "exists"]),
        value=st.one_of(st.text(max_size=8), st.integers(-5, 3000), st.just("hr")),
        mode=st.sampled_from(["hybrid", "dense", "bm25"]),
    )
    def test_no_filter_ever_widens_access(
        self, kb: Container, field: str, op: str, value: object, mode: str
    ) -> None:
        try:
            cond = make_condition(field, op, [value] if op == "in" else value)  # type: ignore[arg-type]
        except FilterError:
            return
        hits = _search(
            kb,
            "salary bands confidential",
            k=20,
            mode=mode,
            filters=(cond,),
            access=AccessScope(groups=frozenset({"eng"})),
        )
        assert "salaries.md" not in hits


class TestPgHybridRetriever(RetrieverContract):
    @pytest.fixture
    def kb(self, container: Container) -> Iterator[Container]:
        c = container
        ingest_texts(c, {"lambda.md": PUBLIC["lambda.md"]}, attributes={"team": "compute", "year": 2020})
        ingest_texts(c, {"dynamo.md": PUBLIC["dynamo.md"]}, attributes={"team": "data", "year": 2022})
        ingest_texts(c, {"kendra.md": PUBLIC["kendra.md"]}, attributes={"team": "search", "year": 2023})
        ingest_texts(c, {"ebs.md": PUBLIC["ebs.md"]}, source="test://other")
        ingest_texts(c, SECRET, groups=("hr",))
        yield c


def test_bm25_scores_equal_textbook_okapi(container: Container) -> None:
    docs = {
        f"d{i}.md": f"# Doc {i}\n\n" + text
        for i, text in enumerate(
            [
                "the quick brown fox jumps over the lazy dog fox",
                "a fox and a hound; the hound sleeps",
                "databases store rows; postgres stores rows in pages",
                "vector search with postgres and pgvector indexes vectors",
                "brown bears and brown foxes live in forests",
            ]
        )
    }
    ingest_texts(container, docs)
    # Statistics are the caller's: a document it may not read counts for nothing.
    ingest_texts(container, {"h.md": "# Hidden\n\nbrown fox postgres brown"}, groups=("hr",))
    s = container.settings.retrieval
    query = "brown fox in postgres"
    hits = container.retriever.search(SearchRequest(text=query, k=10, mode="bm25")).hits
    got = {int(h.chunk_id): h.scores.bm25 for h in hits}
    an = container.analyzer
    with container.database.pool.connection() as conn:
        rows = conn.execute(
            "SELECT c.id, c.text FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.groups = '{}'"
        ).fetchall()
    expected = reference_bm25(
        {r[0]: Counter(an.terms(r[1])) for r in rows}, an.query_terms(query), s.bm25_k1, s.bm25_b
    )
    assert set(got) == set(expected)
    for cid, score in expected.items():
        assert got[cid] == pytest.approx(score, rel=1e-9)
    assert [int(h.chunk_id) for h in hits] == sorted(expected, key=lambda c: -expected[c])


def test_filtered_dense_search_still_returns_k(container: Container, embedder: object) -> None:
    """A filter that keeps 1% of passages: HNSW iterative scans must still find k of them."""
    docs = {
        f"n{i}.md": f"# Note {i}\n\nCloud storage note number {i} about buckets and objects."
        for i in range(300)
    }
    ingest_texts(container, docs, attributes={"rare": False})
    rare = {f"r{i}.md": f"# Rare {i}\n\nA note on poetry and gardening, item {i}." for i in range(3)}
    ingest_texts(container, rare, attributes={"rare": True})
    req = SearchRequest(text="cloud storage buckets", k=3, mode="dense", filters=(parse_filter("rare=true"),))
    hits = container.retriever.search(req).hits
    assert sorted(h.title for h in hits) == ["Rare 0", "Rare 1", "Rare 2"]


def test_other_embedder_is_refused_until_reindex(container: Container) -> None:
    ingest_texts(container, {"a.md": PUBLIC["lambda.md"]})
    with container.database.pool.connection() as conn:
        write_spec(conn, IndexSpec("some/other-model", 768, container.analyzer.version))
    container.index_guard._checked = None  # a new process would not have the cached check
    with pytest.raises(EmbedderMismatchError) as err:
        container.retriever.search(SearchRequest(text="lambda", mode="dense"))
    assert "reindex" in str(err.value.hint)
    with pytest.raises(EmbedderMismatchError):
        ingest_texts(container, {"b.md": PUBLIC["kendra.md"]})
    old, new, n = container.reindexer.run()
    assert old is not None and old.embedder == "some/other-model"
    assert new.embedder == container.embedder.name and n == 1
    container.index_guard._checked = None
    assert _search(container, "serverless compute", k=1) == ["a.md"]


def test_bm25_finds_visible_passages_behind_many_hidden_better_ones(container: Container) -> None:
    """Ranking before the access check must fall back when the best passages are all hidden."""
    hidden = {f"h{i}.md": f"# Hidden {i}\n\nwidget widget widget gadget {i}" for i in range(12)}
    ingest_texts(container, hidden, groups=("secret",))
    ingest_texts(container, {"pub.md": "# Public\n\nA single widget among many other words here."})
    container.settings.retrieval.candidates = 1  # pool of 4 x k: only hidden passages in it
    hits = container.retriever.search(SearchRequest(text="widget", k=2, mode="bm25")).hits
    assert [h.title for h in hits] == ["Public"]
