"""BM25 statistics within the caller's access scope (issue 11, finding 1).

Document frequency, corpus size and average passage length used to be counted over every
document, so the score of a public passage for a term moved when a hidden (group-restricted)
document contained that term: a caller could learn which words the hidden documents hold. The
relevance gate used the same statistics, so abstaining or not leaked the same thing.
"""

from __future__ import annotations

from collections import Counter

import pytest

from awsomechat.container import Container
from awsomechat.store.documents import DocumentWrite
from awsomechat.types import AccessScope, SearchHit, SearchRequest
from tests.helpers import consistency_problems, ingest_texts, reference_bm25

pytestmark = pytest.mark.security

PUBLIC = {
    "quill.md": "# Writing tools\n\nA quillfeather pen and an inkwell stand on the desk.",
    "paper.md": "# Paper\n\nPaper comes in many sizes; letter and A4 are the common ones.",
    "desk.md": "# Desks\n\nA standing desk helps your back. Desks come in oak and pine.",
}
# Hidden documents that also hold the public passage's rare terms, in several passages each.
HIDDEN = {
    f"h{i}.md": f"# Vault {i}\n\nThe quillfeather ledger {i} lists every inkwell and quillfeather order."
    for i in range(4)
}
VAULT = AccessScope(groups=frozenset({"vault"}))
OUTSIDER = AccessScope(groups=frozenset({"sales"}))


def _bm25(c: Container, text: str, access: AccessScope) -> dict[str, float]:
    hits = c.retriever.search(SearchRequest(text=text, k=20, mode="bm25", access=access)).hits
    return {h.title: h.scores.bm25 or 0.0 for h in hits}


def _hits(c: Container, text: str, access: AccessScope) -> list[SearchHit]:
    return c.retriever.search(SearchRequest(text=text, k=10, access=access)).hits


def test_public_scores_do_not_depend_on_hidden_documents(container: Container) -> None:
    ingest_texts(container, PUBLIC)
    before = {a: _bm25(container, "quillfeather inkwell desk", a) for a in (AccessScope(), OUTSIDER)}
    ingest_texts(container, HIDDEN, groups=("vault",), source="test://vault")

    for access, scores in before.items():
        after = _bm25(container, "quillfeather inkwell desk", access)
        assert after == scores  # identical, not approximately: nothing hidden enters the arithmetic
    # A member of the group finds the hidden documents, scored against what they may read.
    member = _bm25(container, "quillfeather inkwell desk", VAULT)
    assert {f"Vault {i}" for i in range(4)} <= set(member)
    assert member["Writing tools"] != before[AccessScope()]["Writing tools"]


def test_scoped_scores_equal_textbook_bm25_over_the_visible_passages(container: Container) -> None:
    ingest_texts(container, PUBLIC)
    ingest_texts(container, HIDDEN, groups=("vault",), source="test://vault")
    s, an = container.settings.retrieval, container.analyzer
    query = "quillfeather inkwell desk"
    with container.database.pool.connection() as conn:
        rows = conn.execute(
            "SELECT c.id, c.text, d.groups FROM chunks c JOIN documents d ON d.id = c.document_id"
        ).fetchall()
    for access in (AccessScope(), VAULT, AccessScope.admin()):
        visible = {
            r[0]: Counter(an.terms(r[1]))
            for r in rows
            if access.all_access or not r[2] or set(r[2]) & access.groups
        }
        expected = reference_bm25(visible, an.query_terms(query), s.bm25_k1, s.bm25_b)
        hits = container.retriever.search(SearchRequest(text=query, k=20, mode="bm25", access=access)).hits
        got = {int(h.chunk_id): h.scores.bm25 for h in hits}
        assert set(got) == set(expected)
        for cid, score in expected.items():
            assert got[cid] == pytest.approx(score, rel=1e-9)


def test_relevance_gate_does_not_depend_on_hidden_documents(container: Container) -> None:
    """Coverage weighs terms by IDF: hidden documents must not change the weights."""
    ingest_texts(container, PUBLIC)
    gate = container.chat._gate
    question = "Which quillfeather inkwell suits an oak desk?"
    hits = _hits(container, question, AccessScope())
    before = gate.judge(question, hits, AccessScope())
    ingest_texts(container, HIDDEN, groups=("vault",), source="test://vault")
    gate._idf_cache = None  # a fresh process would not have the cached weights
    after = gate.judge(question, _hits(container, question, AccessScope()), AccessScope())
    assert after.coverage == before.coverage
    assert after.answerable == before.answerable
    # The group's member gets weights from its own, larger scope.
    member = gate.judge(question, _hits(container, question, VAULT), VAULT)
    assert member.coverage != before.coverage


def test_moving_a_document_into_a_group_moves_its_statistics(container: Container) -> None:
    """Groups changed without re-ingesting (same content) must move the statistics too."""
    ingest_texts(container, PUBLIC)
    alone = _bm25(container, "quillfeather inkwell desk", AccessScope())
    ingest_texts(container, HIDDEN, source="test://vault")  # public at first
    assert _bm25(container, "quillfeather inkwell desk", AccessScope()) != alone
    ingest_texts(container, HIDDEN, groups=("vault",), source="test://vault")  # metadata-only update
    assert _bm25(container, "quillfeather inkwell desk", AccessScope()) == alone
    ingest_texts(container, HIDDEN, source="test://vault")  # and public again
    assert set(_bm25(container, "quillfeather inkwell desk", AccessScope())) > set(alone)
    assert consistency_problems(container) == []


def test_store_metadata_update_moves_statistics_with_the_groups(container: Container) -> None:
    ingest_texts(container, PUBLIC)
    alone = _bm25(container, "quillfeather inkwell desk", AccessScope())
    ingest_texts(container, HIDDEN, source="test://vault")
    store = container.documents
    for record in store.list_documents(AccessScope.admin(), source="test://vault"):
        store.update_metadata(
            record.id,
            DocumentWrite(
                source=record.source, uri=record.uri, title=record.title, format=record.format,
                content_hash=record.content_hash, size_bytes=record.size_bytes,
                attributes=record.attributes, groups=("vault",),
            ),
        )  # fmt: skip
    assert _bm25(container, "quillfeather inkwell desk", AccessScope()) == alone
    assert {f"Vault {i}" for i in range(4)} <= set(_bm25(container, "quillfeather inkwell desk", VAULT))
    assert consistency_problems(container) == []


def test_reindex_keeps_statistics_scoped(container: Container) -> None:
    ingest_texts(container, PUBLIC)
    ingest_texts(container, HIDDEN, groups=("vault",), source="test://vault")
    query = "quillfeather inkwell desk"
    before = {a: _bm25(container, query, a) for a in (AccessScope(), VAULT, AccessScope.admin())}
    container.reindexer.run()
    assert {a: _bm25(container, query, a) for a in before} == before
    assert consistency_problems(container) == []
