"""Generation benchmark: time to first token and tokens/s of a typical RAG prompt.

Compares, in one run and on the same prompt, AWSomeChat's streamed answers (the chat-model seam
over llama.cpp, as the chain calls it) with bare llama-cpp-python. Reports the prompt size, time to
first token with a cold and a warm KV cache (the fixed system prompt is reused across questions),
streamed tokens/s, and the peak memory of the process holding the model.

    .venv/bin/python bench/generation.py [--model default|small] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from awsomechat.chat.context import PackedPassage, render_passages
from awsomechat.chat.models.llamacpp import LlamaCppChatModel
from awsomechat.chat.models.packaged import resolve_gguf
from awsomechat.chat.prompts import BUILTIN_PROFILES
from awsomechat.chat.types import Citation, Message, Usage
from awsomechat.settings import LLMSettings

KB = Path(__file__).resolve().parents[1] / "src/awsomechat/sample_kb/aws-lambda-developer-guide"
QUESTIONS = [
    "What is the maximum unzipped deployment package size for a Lambda function?",
    "How long can a Lambda function run before it times out?",
    "How much memory can I allocate to a Lambda function?",
    "Which runtimes does Lambda support for Python?",
]


def passages(n: int, words: int, offset: int = 0) -> list[PackedPassage]:
    """``n`` real passages of about ``words`` words from the Lambda guide, starting at page ``offset``."""
    files = sorted(KB.glob("*.md"))[offset : offset + 60]
    out: list[PackedPassage] = []
    for i, f in enumerate(files):
        body = " ".join(f.read_text(encoding="utf-8").replace("\\", "").split())
        if len(body.split()) < words:
            continue
        text = " ".join(body.split()[:words])
        out.append(PackedPassage(Citation(len(out) + 1, i, i, f.stem, f.as_uri()), text))
        if len(out) == n:
            break
    return out


def messages(question: str, n_passages: int, words: int) -> list[Message]:
    """A RAG prompt whose passages differ per question (as in use): only the system prompt repeats."""
    profile = BUILTIN_PROFILES["chat"]
    offset = QUESTIONS.index(question) * 20
    return [
        Message("system", profile.system),
        Message("user", profile.user_message(render_passages(passages(n_passages, words, offset)), question)),
    ]


def timed_stream(stream: Any) -> tuple[float, int, float]:
    """(time to first token, tokens, seconds from first to last token)."""
    t0 = time.perf_counter()
    first = last = 0.0
    n = 0
    for piece in stream:
        if isinstance(piece, Usage) or not piece:
            continue
        now = time.perf_counter()
        if n == 0:
            first = now
        last = now
        n += 1
    return first - t0, n, max(last - first, 1e-9)


def bare_stream(llm: Any, msgs: list[Message], max_tokens: int) -> Any:
    for chunk in llm.create_chat_completion(
        messages=[{"role": m.role, "content": m.content} for m in msgs], max_tokens=max_tokens,
        temperature=0.0, stream=True,
    ):  # fmt: skip
        yield chunk["choices"][0].get("delta", {}).get("content") or ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["default", "small"], default="default")
    ap.add_argument("--passages", type=int, default=5)
    ap.add_argument("--words", type=int, default=55, help="words per passage (~75 tokens)")
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--data-dir", type=Path, default=None)
    args = ap.parse_args()

    import llama_cpp

    data_dir = args.data_dir or Path(
        os.environ.get("AWSOMECHAT_DATA_DIR", tempfile.mkdtemp(prefix="gen-bench-"))
    )
    settings = LLMSettings(model=args.model, temperature=0.0, n_ctx=4096)
    path = resolve_gguf(settings, data_dir)
    ours = LlamaCppChatModel(path, settings)
    bare = llama_cpp.Llama(
        model_path=str(path), n_ctx=4096, n_threads=os.cpu_count() or 2, n_batch=512, verbose=False
    )
    prompt_tokens = sum(
        ours.count_tokens(m.content) for m in messages(QUESTIONS[0], args.passages, args.words)
    )
    print(f"model {path.name}; prompt ≈ {prompt_tokens} tokens ({args.passages} passages)", file=sys.stderr)

    def run_bare(q: str) -> Any:
        return bare_stream(bare, messages(q, args.passages, args.words), args.max_tokens)

    def run_ours(q: str) -> Any:
        return ours.stream(
            messages(q, args.passages, args.words), max_tokens=args.max_tokens, temperature=0.0
        )

    results: dict[str, dict[str, list[float]]] = {"bare": {}, "awsomechat": {}}
    for label, run in (("bare", run_bare), ("awsomechat", run_ours)):
        r = results[label]
        for i in range(min(args.runs, len(QUESTIONS) - 1) + 1):
            ttft, n, gen_s = timed_stream(run(QUESTIONS[i]))
            # Run 0 starts from an empty KV cache; later runs reuse only the system prompt's.
            key = "cold" if i == 0 else "warm"
            r.setdefault(f"ttft_{key}", []).append(ttft)
            if i:
                r.setdefault("tok_s", []).append((n - 1) / gen_s if n > 1 else 0.0)
            print(f"{label:10} run {i} ({key}): ttft {ttft:.2f} s, {n} tokens, {(n - 1) / gen_s:.1f} tok/s",
                  file=sys.stderr)  # fmt: skip

    def med(label: str, key: str) -> float:
        return round(statistics.median(results[label][key]), 3)

    ratio = med("awsomechat", "tok_s") / max(med("bare", "tok_s"), 1e-9)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary: dict[str, Any] = {
        "model": path.name,
        "prompt_tokens": prompt_tokens,
        "passages": args.passages,
        "tok_s_ratio": round(ratio, 3),
        "peak_rss_mb_two_models": round(peak_mb),
    }
    for label in ("bare", "awsomechat"):
        summary[label] = {
            "ttft_cold_s": med(label, "ttft_cold"),
            "ttft_warm_s": med(label, "ttft_warm"),
            "tok_s": med(label, "tok_s"),
        }
    ours_s, bare_s = summary["awsomechat"]["tok_s"], summary["bare"]["tok_s"]
    met = "met" if ratio >= 0.95 else "MISSED"
    print(
        f"\nstreamed tok/s: awsomechat {ours_s} vs bare {bare_s} → ratio {ratio:.3f} (target ≥ 0.95: {met})"
    )
    warm = summary["awsomechat"]["ttft_warm_s"]
    met = "met" if warm <= 8 else "MISSED"
    print(f"time to first token (warm system prompt): {warm} s (target ≤ 8 s: {met})")
    print(f"peak RSS of this process (both model instances loaded): {summary['peak_rss_mb_two_models']} MB")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
