"""Incremental sync against the real store: skip, replace, prune, bad files, crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from awsomechat.container import Container
from awsomechat.ingest.pipeline import IngestOptions
from awsomechat.settings import Settings
from awsomechat.types import AccessScope, SearchRequest
from tests.helpers import consistency_problems


def _write_kb(root: Path, n: int = 3) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"page{i}.md").write_text(
            f"# Page {i}\n\nThis page talks about topic number {i} and widgets.\n"
        )


def _titles(c: Container, text: str, k: int = 20) -> list[str]:
    return [h.title for h in c.retriever.search(SearchRequest(text=text, k=k, mode="bm25")).hits]


def test_resync_skips_unchanged_replaces_changed_and_prunes(container: Container, tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    _write_kb(kb)
    ing = container.ingestion
    first = ing.ingest([str(kb)], IngestOptions())
    assert (first.added, first.unchanged, first.failed) == (3, 0, [])

    again = ing.ingest([str(kb)], IngestOptions())
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)

    (kb / "page1.md").write_text("# Page 1 revised\n\nNow it is about gizmos only.\n")
    changed = ing.ingest([str(kb)], IngestOptions())
    assert (changed.updated, changed.unchanged) == (1, 2)
    assert "Page 1 revised" in _titles(container, "gizmos")
    assert "Page 1" not in _titles(container, "widgets topic number 1")  # old passages are gone

    (kb / "page2.md").unlink()
    kept = ing.ingest([str(kb)], IngestOptions())
    assert kept.deleted == 0 and container.documents.count() == 3
    pruned = ing.ingest([str(kb)], IngestOptions(prune=True))
    assert pruned.deleted == 1 and container.documents.count() == 2
    assert "Page 2" not in _titles(container, "topic number 2 widgets")
    assert consistency_problems(container) == []


def test_changed_options_reprocess_unchanged_bytes(container: Container, tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    _write_kb(kb, 2)
    ing = container.ingestion
    ing.ingest([str(kb)], IngestOptions())
    report = ing.ingest([str(kb)], IngestOptions(attributes={"team": "blue"}, groups=("eng",)))
    assert report.updated == 2
    docs = container.documents.list_documents(AccessScope.admin())
    assert {d.attributes.get("team") for d in docs} == {"blue"}
    assert {d.groups for d in docs} == {("eng",)}
    assert container.documents.list_documents(AccessScope.public()) == []


def test_bad_files_are_reported_by_name_and_the_rest_is_stored(
    container: Container, tmp_path: Path, settings: Settings
) -> None:
    kb = tmp_path / "kb"
    _write_kb(kb, 2)
    (kb / "corrupt.pdf").write_bytes(b"%PDF-1.4 garbage that is not a pdf \x00\x01\x02" * 10)
    (kb / "empty.txt").write_bytes(b"")
    (kb / "binary.txt").write_bytes(bytes(range(256)) * 20)
    (kb / "image.xyz").write_bytes(b"hello")
    big = kb / "big.txt"
    big.write_bytes(b"word " * (300 * 1024))  # 1.5 MB
    settings.ingest.max_file_mb = 1.0
    report = container.ingestion.ingest([str(kb)], IngestOptions())
    failed = dict(report.failed)
    assert report.added == 2
    assert set(failed) == {"corrupt.pdf", "empty.txt", "binary.txt", "image.xyz", "big.txt"}
    assert "empty" in failed["empty.txt"].lower()
    assert "binary" in failed["binary.txt"].lower()
    assert "unsupported" in failed["image.xyz"].lower()
    assert "limit" in failed["big.txt"].lower()
    assert container.documents.count() == 2
    assert consistency_problems(container) == []


def test_missing_path_is_a_failure_not_a_crash(container: Container, tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    _write_kb(kb, 1)
    report = container.ingestion.ingest([str(tmp_path / "nope"), str(kb)], IngestOptions())
    assert report.added == 1
    assert len(report.failed) == 1 and "nope" in report.failed[0][0]


def test_failed_write_leaves_no_half_document(container: Container, tmp_path: Path) -> None:
    """A write that fails half-way (a bad vector for the 2nd passage) rolls back entirely."""
    kb = tmp_path / "kb"
    kb.mkdir()
    long_text = "# Long\n\n" + "\n\n".join(f"Paragraph {i} " + "lorem ipsum dolor " * 60 for i in range(6))
    (kb / "long.md").write_text(long_text)
    real = container.embedder.embed_passages

    def broken(texts: list[str]):  # type: ignore[no-untyped-def]
        v = real(texts)
        v[1, 0] = float("nan")  # pgvector rejects NaN: the COPY fails mid-document
        return v

    container.embedder.embed_passages = broken  # type: ignore[method-assign]
    try:
        report = container.ingestion.ingest([str(kb)], IngestOptions())
    finally:
        del container.embedder.embed_passages
    assert report.added == 0 and [n for n, _ in report.failed] == ["long.md"]
    assert container.documents.count() == 0
    with container.database.pool.connection() as conn:
        assert conn.execute("SELECT count(*) FROM chunks").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM bm25_postings").fetchone() == (0,)
    assert consistency_problems(container) == []


@pytest.mark.slow
def test_killed_ingest_leaves_no_half_document_and_rerun_finishes(
    container: Container, tmp_path: Path, settings: Settings
) -> None:
    """SIGKILL the CLI in the middle of a run, then run it again."""
    kb = tmp_path / "kb"
    kb.mkdir()
    for i in range(120):
        (kb / f"doc{i:03}.md").write_text(f"# Doc {i}\n\n" + f"Sentence {i} about storage and compute. " * 40)
    env = {
        **os.environ,
        "AWSOMECHAT_DATA_DIR": str(settings.data_dir),
        "AWSOMECHAT_DATABASE__NAME": settings.database.name,
        "AWSOMECHAT_EMBEDDER__BATCH_SIZE": "8",
    }
    cli = [sys.executable, "-m", "awsomechat", "ingest", str(kb)]
    proc = subprocess.Popen(cli, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if container.documents.count() >= 10:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "ingest finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stored = container.documents.count()
    assert 10 <= stored < 120
    assert consistency_problems(container) == []

    done = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"{120 - stored} added" in done.stdout and f"{stored} unchanged" in done.stdout
    assert container.documents.count() == 120
    assert consistency_problems(container) == []


def test_an_edit_re_embeds_only_the_passages_that_changed(container: Container, tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    sections = [
        f"## Part {i}\n\nPart {i} explains how widget model {i} is serviced and stored." for i in range(6)
    ]
    page = kb / "guide.md"
    page.write_text("# Guide\n\n" + "\n\n".join(sections) + "\n")
    ing = container.ingestion
    first = ing.ingest([str(kb)], IngestOptions())
    assert first.added == 1 and first.reused_vectors == 0
    doc_id = first.document_ids[0]
    before = {r.text: r.id for r in container.documents.chunks(doc_id)}
    assert len(before) >= 3

    sections[2] = "## Part 2\n\nPart 2 now explains how gizmo model 2 is recycled."
    page.write_text("# Guide\n\n" + "\n\n".join(sections) + "\n")
    changed = ing.ingest([str(kb)], IngestOptions())
    assert changed.updated == 1
    after = container.documents.chunks(changed.document_ids[0])
    kept = [r for r in after if r.text in before]
    assert changed.reused_vectors == len(kept) == len(after) - 1
    # A kept vector is the one stored before, and search finds the new passage by meaning.
    hits = container.retriever.search(SearchRequest(text="recycling gizmos", k=1, mode="dense")).hits
    assert "gizmo model 2 is recycled" in hits[0].text
    assert consistency_problems(container) == []
