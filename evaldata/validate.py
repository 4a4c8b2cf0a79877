#!/usr/bin/env python3
"""Validate evaldata/unanswerable.jsonl and evaldata/multiturn.jsonl.

Checks:
  * every line parses as JSON, ids are unique and well formed;
  * unanswerable: answer is null, doc_ids is empty, kind is off-topic|near-miss,
    `checked` is a non-empty list of terms, and at least one checked term occurs
    in NO page of the full corpus (the decisive term); all hit counts are printed
    with --verbose so passing mentions can be reviewed;
  * multiturn: 2-4 turns, first turn standalone (needs_context false and
    rewrite == question), every doc_id exists in the sample KB, and the turn's
    `evidence` phrase occurs in at least one of its doc_ids.

Corpus text is normalised before matching: Markdown escapes (backslashes),
backticks and asterisks are removed (for the multiturn evidence check, Markdown
links are also reduced to their text; the unanswerable check keeps URLs, so a
term inside a link counts as a hit), whitespace is collapsed, case is ignored.

Usage: python3 evaldata/validate.py [--verbose]
       (env AWSDOCS / SAMPLE_KB override the corpus / sample-KB folders)
"""
import json
import os
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = Path(os.environ.get("AWSDOCS", "/work/shared/data/awsdocs/docs"))
SAMPLE_KB = Path(os.environ.get("SAMPLE_KB", HERE.parent / "src/awsomechat/sample_kb"))
VERBOSE = "--verbose" in sys.argv

errors = []


def err(msg):
    errors.append(msg)


def norm(text, strip_links=False):
    text = text.replace("\\", "").replace("`", "").replace("*", "")
    if strip_links:
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # [link text](url) -> link text
    return re.sub(r"\s+", " ", text).lower()


def load_pages(root, strip_links=False):
    pages = {}
    for p in root.rglob("*.md"):
        rel = p.relative_to(root).as_posix()
        if rel == "README.md":
            continue
        pages[rel] = norm(p.read_text(encoding="utf-8", errors="ignore"), strip_links)
    return pages


def read_jsonl(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                err(f"{path.name}:{n}: empty line")
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                err(f"{path.name}:{n}: invalid JSON ({e})")
    return rows


def check_ids(rows, prefix, name):
    ids = [r.get("id") for r in rows]
    for i in ids:
        if not isinstance(i, str) or not re.fullmatch(prefix + r"-\d{3}", i):
            err(f"{name}: bad id {i!r}")
    for i, c in Counter(ids).items():
        if c > 1:
            err(f"{name}: duplicate id {i}")


corpus = load_pages(CORPUS)
kb = load_pages(SAMPLE_KB, strip_links=True)

# ---------------------------------------------------------------- unanswerable
un = read_jsonl(HERE / "unanswerable.jsonl")
check_ids(un, "un", "unanswerable")
kinds = Counter()
for r in un:
    rid = r.get("id")
    kinds[r.get("kind")] += 1
    if r.get("kind") not in ("off-topic", "near-miss"):
        err(f"{rid}: bad kind {r.get('kind')!r}")
    if r.get("answer") is not None:
        err(f"{rid}: answer must be null")
    if r.get("doc_ids") != []:
        err(f"{rid}: doc_ids must be []")
    for d in r.get("doc_ids") or []:
        if d not in corpus:
            err(f"{rid}: doc_id not in corpus: {d}")
    if not isinstance(r.get("question"), str) or not r["question"].strip():
        err(f"{rid}: empty question")
    terms = r.get("checked")
    if not isinstance(terms, list) or not terms:
        err(f"{rid}: 'checked' must be a non-empty list of grep terms")
        continue
    hits = {t: sorted(k for k, v in corpus.items() if norm(t) in v) for t in terms}
    if all(hits[t] for t in terms):
        err(f"{rid}: every checked term occurs in the corpus; no decisive absent term")
    if VERBOSE:
        print(rid, r["kind"], "; ".join(f"{t!r}={len(h)}" for t, h in hits.items()))

# ------------------------------------------------------------------ multiturn
mt = read_jsonl(HERE / "multiturn.jsonl")
check_ids(mt, "mt", "multiturn")
n_turns = 0
ctx = Counter()
guides = Counter()
for r in mt:
    rid = r.get("id")
    turns = r.get("turns") or []
    if not 2 <= len(turns) <= 4:
        err(f"{rid}: {len(turns)} turns (want 2-4)")
    for j, t in enumerate(turns):
        n_turns += 1
        where = f"{rid} turn {j + 1}"
        for key in ("question", "rewrite"):
            if not isinstance(t.get(key), str) or not t[key].strip():
                err(f"{where}: empty {key}")
        nc = t.get("needs_context")
        if not isinstance(nc, bool):
            err(f"{where}: needs_context must be true/false")
        if j == 0 and nc is not False:
            err(f"{where}: first turn must stand alone (needs_context false)")
        if j > 0:
            ctx["needs_context" if nc else "topic_change"] += 1
        if nc is False and t.get("rewrite") != t.get("question"):
            err(f"{where}: standalone turn should have rewrite == question")
        if nc is True and t.get("rewrite") == t.get("question"):
            err(f"{where}: context-dependent turn has rewrite == question")
        docs = t.get("doc_ids") or []
        if not docs:
            err(f"{where}: no doc_ids")
        for d in docs:
            if d not in kb:
                err(f"{where}: doc_id not in sample KB: {d}")
            else:
                guides[d.split("/")[0]] += 1
        ev = t.get("evidence")
        if ev and not any(norm(ev, True) in kb.get(d, "") for d in docs):
            err(f"{where}: evidence phrase not found in its doc_ids: {ev!r}")

# --------------------------------------------------------------------- report
print(f"unanswerable.jsonl: {len(un)} questions "
      + ", ".join(f"{k}={v}" for k, v in sorted(kinds.items())))
print(f"multiturn.jsonl: {len(mt)} conversations, {n_turns} turns "
      f"(follow-ups needing context={ctx['needs_context']}, "
      f"topic changes needing none={ctx['topic_change']})")
print("multiturn doc_id references per guide: "
      + ", ".join(f"{g}={c}" for g, c in sorted(guides.items())))
if errors:
    print(f"\n{len(errors)} problem(s):")
    for e in errors:
        print("  -", e)
    sys.exit(1)
print("OK")
