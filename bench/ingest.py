"""Ingestion throughput: the whole pipeline against the bare embedder, and parsing speed per format.

1. Pipeline vs bare embedder. A subset of the sample knowledge base is ingested into a fresh
   database through ``container.ingestion.ingest`` (timed; the model is loaded and warmed up
   first). The stored passage texts are then read back and embedded again with the bare
   ``embed_passages``, in exactly the batches the pipeline used. The ratio of the two
   passages/s figures says how much the rest of the pipeline costs (target >= 0.8). The pipeline
   time is split into stages by wrapping the parse, chunk, embed, BM25-term and write calls with
   timers (nothing in ``src`` is modified).
2. Parsing. Markdown (sample KB files), HTML (the same files rendered to simple web pages),
   text (the Markdown bodies as .txt), PDF (multi-page, made with reportlab), DOCX (made with
   python-docx) and FAQ (a 2,000-row CSV) are generated into a temporary folder; only
   ``LoaderRegistry().load`` is timed (MB/s), then the chunker over what was loaded (passages/s).

Run ``.venv/bin/python bench/ingest.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import csv
import html
import random
import re
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from _common import (
    SAMPLE_KB,
    BenchStore,
    StageTimer,
    bench_container,
    check,
    emit,
    heading,
    isolate_environment,
    load_embedder,
    log,
    machine_info,
    show,
)
from awsomechat.container import Container
from awsomechat.ingest.chunker import StructuredChunker
from awsomechat.ingest.loaders.registry import LoaderRegistry
from awsomechat.ingest.pipeline import IngestOptions, IngestReport
from awsomechat.seams import Embedder
from awsomechat.settings import ChunkingSettings
from awsomechat.types import LoadedDocument, SourceItem

DEFAULT_FOLDERS = ("amazon-kendra-developer-guide", "aws-transit-gateway-guide")
QUICK_FOLDERS = ("aws-transit-gateway-guide",)
DB_NAME = "bench_ingest"
RATIO_TARGET = 0.8
FORMATS = ("markdown", "html", "text", "pdf", "docx", "faq")
_MB = 1024 * 1024
CHARS_PER_PAGE = 3000  # about one A4 page of body text


# ============================================================== pipeline vs bare embedder


class _LogProgress:
    """Pipeline progress on stderr, one line every ``every`` documents."""

    def __init__(self, every: int = 25) -> None:
        self.every = every
        self.done = 0
        self.total: int | None = None

    def source_started(self, spec: str, total: int | None) -> None:
        self.done, self.total = 0, total
        log(f"ingesting {Path(spec).name} ({total} files)")

    def item_done(self, name: str, status: str, detail: str = "") -> None:
        self.done += 1
        if status == "failed":
            log(f"  failed {name}: {detail}")
        if self.done % self.every == 0 or self.done == self.total:
            log(f"  {self.done}/{self.total} documents")


@dataclass
class PipelineRun:
    """The ingest report, the seconds spent per stage and the sizes of the embedder calls."""

    report: IngestReport
    stages: StageTimer
    batch_sizes: list[int]


def run_pipeline(container: Container, folders: Sequence[Path]) -> PipelineRun:
    """Ingest ``folders`` through the real pipeline with a timer around every stage."""
    timer = StageTimer()
    sizes: list[int] = []
    embedder = container.embedder
    embed = embedder.embed_passages

    def counting_embed(texts: Sequence[str]) -> Any:
        sizes.append(len(texts))
        return embed(texts)

    targets: list[tuple[object, str, str, Any]] = [
        (embedder, "embed_passages", "embed", counting_embed),
        (container.documents, "write", "write", container.documents.write),
        (container.analyzer, "term_frequencies", "bm25_terms", container.analyzer.term_frequencies),
        (LoaderRegistry, "load", "parse", LoaderRegistry.load),
        (StructuredChunker, "chunk", "chunk", StructuredChunker.chunk),
    ]
    with ExitStack() as stack:
        for obj, attr, stage, fn in targets:
            stack.enter_context(mock.patch.object(obj, attr, timer.wrap(stage, fn)))
        report = container.ingestion.ingest([str(f) for f in folders], IngestOptions(), _LogProgress())
    return PipelineRun(report, timer, sizes)


def stored_texts(container: Container) -> list[str]:
    """Every stored passage text in insertion order (the order they were embedded in)."""
    with container.database.pool.connection() as conn:
        return [r[0] for r in conn.execute("SELECT text FROM chunks ORDER BY id").fetchall()]


def replay_batches(texts: list[str], sizes: list[int], fallback: int = 256) -> list[list[str]]:
    """``texts`` cut into the pipeline's embedder calls (fixed slices if the counts disagree)."""
    if sum(sizes) != len(texts):
        log(f"pipeline embedded {sum(sizes)} texts but {len(texts)} are stored: using {fallback}-slices")
        sizes = [fallback] * (len(texts) // fallback + 1)
    batches, start = [], 0
    for size in sizes:
        if start < len(texts):
            batches.append(texts[start : start + size])
        start += size
    return batches


def run_bare(embedder: Embedder, batches: list[list[str]]) -> float:
    """Seconds the bare embedder needs for ``batches``."""
    total = sum(len(b) for b in batches)
    log(f"bare embedder: {total} passages in {len(batches)} calls")
    t0 = time.perf_counter()
    for i, batch in enumerate(batches, 1):
        embedder.embed_passages(batch)
        if i % 5 == 0:
            log(f"  {i}/{len(batches)} calls")
    return time.perf_counter() - t0


def pipeline_figures(run: PipelineRun, bare_seconds: float, n_stored: int) -> dict[str, Any]:
    """Throughputs, the ratio and the stage split of one pipeline run."""
    rep = run.report
    pipe_pps = rep.passages / rep.seconds if rep.seconds else 0.0
    bare_pps = n_stored / bare_seconds if bare_seconds else 0.0
    stages = {k: round(v, 3) for k, v in sorted(run.stages.seconds.items())}
    stages["other"] = round(rep.seconds - sum(run.stages.seconds.values()), 3)
    embed_s = run.stages.seconds.get("embed", 0.0)
    return {
        "documents": rep.added + rep.updated,
        "failed": len(rep.failed),
        "passages": rep.passages,
        "megabytes": round(rep.bytes / _MB, 3),
        "pipeline_seconds": round(rep.seconds, 3),
        "pipeline_passages_per_s": round(pipe_pps, 2),
        "embed_in_pipeline_passages_per_s": round(rep.passages / embed_s, 2) if embed_s else 0.0,
        "bare_seconds": round(bare_seconds, 3),
        "bare_passages_per_s": round(bare_pps, 2),
        "ratio": round(pipe_pps / bare_pps, 3) if bare_pps else 0.0,
        "ratio_target": RATIO_TARGET,
        "embed_calls": len(run.batch_sizes),
        "stages_s": stages,
    }


def print_pipeline(fig: dict[str, Any]) -> bool:
    heading(f"Pipeline vs bare embedder ({fig['documents']} documents, {fig['passages']} passages)")
    show("pipeline time", fig["pipeline_seconds"], "s")
    show("pipeline throughput", fig["pipeline_passages_per_s"], "passages/s")
    show("bare embedder throughput (same batches)", fig["bare_passages_per_s"], "passages/s")
    show("embedder inside the pipeline", fig["embed_in_pipeline_passages_per_s"], "passages/s")
    met = check("pipeline / bare embedder", fig["ratio"], "", RATIO_TARGET, ">=", digits=3)
    total = fig["pipeline_seconds"] or 1.0
    for stage, secs in fig["stages_s"].items():
        show(f"  stage {stage}", secs, f"s ({100 * secs / total:4.1f}%)", digits=3)
    return met


# ============================================================== generated corpora per format


def markdown_files(folders: Sequence[Path]) -> list[Path]:
    return sorted(p for f in folders for p in f.rglob("*.md") if p.is_file())


def item_of(path: Path) -> SourceItem:
    return SourceItem(uri=path.as_uri(), source=path.parent.as_uri(), name=path.name, data=path.read_bytes())


def _page_html(title: str, body: str) -> str:
    nav = "".join(f'<li><a href="/guide/{i}.html">Section {i}</a></li>' for i in range(1, 25))
    return (
        f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<link rel='stylesheet' href='/style.css'><script src='/app.js'></script></head><body>"
        "<header class='site-header'><a href='/'>AWS Documentation</a></header>"
        f"<nav class='site-nav'><ul>{nav}"
        f"</ul></nav><main><article>{body}</article></main><aside class='sidebar'><h2>On this page</h2>"
        "<p>Related links</p></aside><footer class='site-footer'><p>© Amazon Web Services, Inc. Terms of"
        " use. Privacy. Cookie preferences.</p></footer></body></html>\n"
    )


def write_html(docs: list[tuple[Path, str]], out: Path) -> None:
    """Each Markdown file rendered to an HTML page with site chrome around the content."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark")
    for path, text in docs:
        title = next((ln[2:].strip() for ln in text.splitlines() if ln.startswith("# ")), path.stem)
        (out / f"{path.parent.name}--{path.stem}.html").write_text(_page_html(title, md.render(text)))


def write_text(docs: list[tuple[Path, str]], out: Path) -> None:
    for path, text in docs:
        (out / f"{path.parent.name}--{path.stem}.txt").write_text(text)


def _outline(docs: list[LoadedDocument], max_chars: int) -> Iterator[tuple[str, str]]:
    """``(kind, text)`` blocks (``h1``, ``h2``, ``p``) of ``docs`` until ``max_chars`` of text."""
    used = 0
    for doc in docs:
        yield "h1", doc.title
        for section in doc.sections:
            if section.heading_path:
                yield "h2", section.heading_path[-1]
            for para in section.text.split("\n\n"):
                yield "p", re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", para)
                used += len(para)
                if used >= max_chars:
                    return


def _split_docs(docs: list[LoadedDocument], n_files: int) -> list[list[LoadedDocument]]:
    """``docs`` dealt round-robin into ``n_files`` lists."""
    return [docs[i::n_files] for i in range(n_files) if docs[i::n_files]]


def write_pdfs(loaded: list[LoadedDocument], out: Path, n_files: int, pages: int) -> None:
    """``n_files`` PDFs of about ``pages`` A4 pages each, from the sample documents' text."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    styles = getSampleStyleSheet()
    style = {"h1": styles["Heading1"], "h2": styles["Heading2"], "p": styles["BodyText"]}
    for i, docs in enumerate(_split_docs(loaded, n_files)):
        story = [Paragraph(html.escape(t), style[k]) for k, t in _outline(docs, pages * CHARS_PER_PAGE)]
        SimpleDocTemplate(str(out / f"guide-{i}.pdf"), pagesize=A4, title=f"Guide {i}").build(story)


def write_docx(loaded: list[LoadedDocument], out: Path, n_files: int, pages: int) -> None:
    """``n_files`` Word documents of about ``pages`` pages each, with headings and paragraphs."""
    import docx

    for i, docs in enumerate(_split_docs(loaded, n_files)):
        document = docx.Document()
        document.core_properties.title = f"Guide {i}"
        for kind, text in _outline(docs, pages * CHARS_PER_PAGE):
            if kind == "p":
                document.add_paragraph(text)
            else:
                document.add_heading(text, level=1 if kind == "h1" else 2)
        document.save(str(out / f"guide-{i}.docx"))


def write_faq(loaded: list[LoadedDocument], out: Path, rows: int) -> None:
    """A CSV of ``rows`` question/answer pairs made from section headings and their text."""
    pairs = [
        (f"How do I {s.heading_path[-1].lower()}?", s.text[:700].replace("\n", " "))
        for d in loaded
        for s in d.sections
        if s.heading_path and len(s.text) > 80
    ]
    rng = random.Random(7)
    with (out / "faq.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["question", "answer"])
        for _ in range(rows):
            w.writerow(rng.choice(pairs))


def generate_corpora(md_paths: list[Path], out: Path, *, quick: bool) -> dict[str, list[SourceItem]]:
    """Write every format's files under ``out`` and return them as items, by format."""
    registry = LoaderRegistry()
    md_docs = [(p, p.read_text(encoding="utf-8")) for p in md_paths]
    loaded = [registry.load(item_of(p), max_bytes=0) for p in md_paths]
    dirs = {fmt: out / fmt for fmt in FORMATS}
    for d in dirs.values():
        d.mkdir(parents=True)
    log(f"generating html/text/pdf/docx/faq files from {len(md_paths)} Markdown files in {out}")
    write_html(md_docs, dirs["html"])
    write_text(md_docs, dirs["text"])
    n_files, pages = (2, 10) if quick else (5, 25)
    write_pdfs(loaded, dirs["pdf"], n_files, pages)
    write_docx(loaded, dirs["docx"], n_files, pages)
    write_faq(loaded, dirs["faq"], rows=2000)
    items = {"markdown": [item_of(p) for p in md_paths]}
    for fmt in FORMATS[1:]:
        items[fmt] = [item_of(p) for p in sorted(dirs[fmt].iterdir())]
    return items


# ============================================================== parse and chunk timing


def time_parsing(
    registry: LoaderRegistry, items: list[SourceItem], min_seconds: float
) -> tuple[dict[str, Any], list[LoadedDocument]]:
    """MB/s of ``registry.load`` over ``items``, repeated until ``min_seconds`` have passed."""
    size = sum(len(i.data) for i in items)
    passes, elapsed, docs = 0, 0.0, []
    while passes == 0 or (elapsed < min_seconds and passes < 20):
        t0 = time.perf_counter()
        docs = [registry.load(item, max_bytes=0) for item in items]
        elapsed += time.perf_counter() - t0
        passes += 1
    text_size = sum(len(d.text.encode("utf-8")) for d in docs)
    fig = {
        "files": len(items),
        "megabytes": round(size / _MB, 3),
        "text_megabytes": round(text_size / _MB, 3),
        "passes": passes,
        "seconds": round(elapsed, 3),
        "mb_per_s": round(size * passes / _MB / elapsed, 2),
        "text_mb_per_s": round(text_size * passes / _MB / elapsed, 2),
    }
    return fig, docs


def make_chunker(embedder: Embedder) -> StructuredChunker:
    """The chunker exactly as the pipeline builds it from the default settings."""
    c = ChunkingSettings()
    return StructuredChunker(
        embedder.count_tokens,
        max_tokens=min(c.max_tokens, embedder.max_tokens),
        overlap_tokens=c.overlap_tokens,
        min_tokens=c.min_tokens,
    )


def time_chunking(chunker: StructuredChunker, docs: list[LoadedDocument]) -> dict[str, Any]:
    t0 = time.perf_counter()
    n = sum(len(chunker.chunk(d)) for d in docs)
    elapsed = time.perf_counter() - t0
    return {
        "documents": len(docs),
        "passages": n,
        "seconds": round(elapsed, 3),
        "passages_per_s": _rate(n, elapsed),
    }


def _rate(n: float, seconds: float) -> float:
    return round(n / seconds, 2) if seconds else 0.0


def run_formats(embedder: Embedder, md_paths: list[Path], *, quick: bool) -> dict[str, Any]:
    """Parse MB/s per format and chunker passages/s per format and overall."""
    registry = LoaderRegistry()
    chunker = make_chunker(embedder)
    parse: dict[str, Any] = {}
    chunk: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="awsomechat-bench-formats-") as tmp:
        items = generate_corpora(md_paths, Path(tmp), quick=quick)
        for fmt in FORMATS:
            log(f"parsing {fmt}: {len(items[fmt])} files")
            parse[fmt], docs = time_parsing(registry, items[fmt], min_seconds=0.5 if quick else 2.0)
            chunk[fmt] = time_chunking(chunker, docs)
    n = sum(c["passages"] for c in chunk.values())
    secs = sum(c["seconds"] for c in chunk.values())
    chunk["all"] = {"passages": n, "seconds": round(secs, 3), "passages_per_s": _rate(n, secs)}
    return {"parse": parse, "chunker": chunk}


def print_formats(fig: dict[str, Any]) -> None:
    heading("Parsing (LoaderRegistry.load only)")
    for fmt, f in fig["parse"].items():
        show(f"{fmt} ({f['files']} files, {f['megabytes']:.2f} MB x{f['passes']})", f["mb_per_s"], "MB/s")
        show(f"  {fmt}: extracted text ({f['text_megabytes']:.2f} MB)", f["text_mb_per_s"], "MB/s")
    heading("Chunker (StructuredChunker.chunk over the loaded documents)")
    for fmt, f in fig["chunker"].items():
        show(f"{fmt} ({f['passages']} passages)", f["passages_per_s"], "passages/s")


# ============================================================== main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help=f"one small guide ({QUICK_FOLDERS[0]}), fewer files")
    ap.add_argument("--data-dir", type=Path, help="data dir of the embedded server (default: a temp dir)")
    ap.add_argument(
        "--folders", nargs="+", help=f"sample KB folders to ingest (default: {' '.join(DEFAULT_FOLDERS)})"
    )
    ap.add_argument("--skip-formats", action="store_true", help="only the pipeline vs bare embedder part")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    isolate_environment()
    names = args.folders or (QUICK_FOLDERS if args.quick else DEFAULT_FOLDERS)
    folders = [SAMPLE_KB / n for n in names]
    figures: dict[str, Any] = {"benchmark": "ingest", "quick": args.quick, "machine": machine_info()}
    figures["folders"] = list(names)
    embedder = load_embedder()
    store = BenchStore.open(args.data_dir)
    try:
        with bench_container(store, DB_NAME, embedder, fresh=True) as container:
            run = run_pipeline(container, folders)
            texts = stored_texts(container)
        bare_s = run_bare(embedder, replay_batches(texts, run.batch_sizes))
    finally:
        store.close()
    figures["pipeline"] = pipeline_figures(run, bare_s, len(texts))
    if not args.skip_formats:
        md_paths = markdown_files(folders if args.quick else [SAMPLE_KB])
        figures["formats"] = run_formats(embedder, md_paths, quick=args.quick)
    figures["machine"]["load_average_1m_end"] = machine_info()["load_average_1m"]
    met = print_pipeline(figures["pipeline"])
    if "formats" in figures:
        print_formats(figures["formats"])
    figures["targets_met"] = {"pipeline_over_bare_ratio": met}
    print()
    emit(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
