"""Generation benchmark: time to first token and tokens/s of a typical RAG prompt, per option.

Prints the CPU flags and llama.cpp build features that decide ggml's path, then measures, on the
same 5-passage prompts in one run:

- ``bare``: bare llama-cpp-python (``Llama.create_chat_completion``) on the installed build, with
  ggml's extra buffer types (weight repacking) on: the reference;
- ``bare-no-extra-bufts``: the same with extra buffer types off (the runtime AMX guard's setting);
- ``runner``: AWSomeChat's model runner process, streamed over its socket as an API worker does
  (safe token-id prompts, the OpenAI wire format, one HTTP request per answer), with its default
  load options; its tok/s is compared with the bare option loaded the same way;
- with ``--amx-build DIR`` (an unpacked llama-cpp-python wheel built with the AMX kernels, e.g.
  ``CMAKE_ARGS=-DGGML_NATIVE=ON pip wheel llama-cpp-python==0.3.36``): ``amx-build-guarded``
  (extra buffer types off) and ``amx-build-default`` (on: the crash of llama.cpp #20824 on CPUs with
  AMX, reported with its signal rather than measured).

Each option runs in its own process (a crash stays there). Run 0 starts from an empty KV cache
(cold); later runs reuse the fixed system prompt only (warm), as answers do.

    .venv/bin/python bench/generation.py [--model default|small] [--runs 3] [--rounds 2] [--amx-build DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
KB = ROOT / "src/awsomechat/sample_kb/aws-lambda-developer-guide"
QUESTIONS = [
    "What is the maximum unzipped deployment package size for a Lambda function?",
    "How long can a Lambda function run before it times out?",
    "How much memory can I allocate to a Lambda function?",
    "Which runtimes does Lambda support for Python?",
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def messages(question: str, n_passages: int, words: int) -> list[Any]:
    """A RAG prompt whose passages differ per question (as in use): only the system prompt repeats."""
    from awsomechat.chat.context import PackedPassage, render_passages
    from awsomechat.chat.prompts import BUILTIN_PROFILES
    from awsomechat.chat.types import Citation, Message

    offset = QUESTIONS.index(question) * 20
    files = sorted(KB.glob("*.md"))[offset : offset + 60]
    packed: list[PackedPassage] = []
    for i, f in enumerate(files):
        body = " ".join(f.read_text(encoding="utf-8").replace("\\", "").split())
        if len(body.split()) >= words:
            text = " ".join(body.split()[:words])
            packed.append(PackedPassage(Citation(len(packed) + 1, i, i, f.stem, f.as_uri()), text))
        if len(packed) == n_passages:
            break
    profile = BUILTIN_PROFILES["chat"]
    return [
        Message("system", profile.system),
        Message("user", profile.user_message(render_passages(packed), question)),
    ]


def timed(stream: Any) -> tuple[float, int, float]:
    """(time to first token, tokens, seconds from first to last token)."""
    t0 = time.perf_counter()
    first = last = 0.0
    n = 0
    for piece in stream:
        if not isinstance(piece, str) or not piece:
            continue
        now = time.perf_counter()
        first = first or now
        last = now
        n += 1
    return first - t0, n, max(last - first, 1e-9)


def measure(run: Any, args: argparse.Namespace, label: str) -> dict[str, Any]:
    cold: list[float] = []
    warm: list[float] = []
    rates: list[float] = []
    for i in range(min(args.runs, len(QUESTIONS) - 1) + 1):
        ttft, n, gen_s = timed(run(messages(QUESTIONS[i], args.passages, args.words)))
        (warm if i else cold).append(ttft)
        if i:
            rates.append((n - 1) / gen_s if n > 1 else 0.0)
        log(f"{label:22} run {i} ({'warm' if i else 'cold'}): ttft {ttft:.2f} s, {n} tokens, "
            f"{(n - 1) / gen_s:.1f} tok/s")  # fmt: skip
    return {
        "ttft_cold_s": round(cold[0], 3),
        "ttft_warm_s": round(statistics.median(warm), 3),
        "tok_s": round(statistics.median(rates), 2),
    }


# --------------------------------------------------------------------------- one option per process


def child(option: str, args: argparse.Namespace) -> None:
    """Measure bare llama-cpp-python with ``option``'s extra-buffer setting; print one JSON line."""
    import llama_cpp

    from awsomechat.chat.models.cpu_features import describe
    from awsomechat.chat.models.llamacpp import _model_params

    extra = option in ("bare", "amx-build-default")
    t0 = time.perf_counter()
    with _model_params(extra):
        llm = llama_cpp.Llama(model_path=args.gguf, n_ctx=4096, n_threads=os.cpu_count() or 2, n_batch=512,
                              verbose=False)  # fmt: skip
    load_s = time.perf_counter() - t0

    def run(msgs: list[Any]) -> Any:
        for chunk in llm.create_chat_completion(
            messages=[{"role": m.role, "content": m.content} for m in msgs], max_tokens=args.max_tokens,
            temperature=0.0, stream=True,
        ):  # fmt: skip
            yield chunk["choices"][0].get("delta", {}).get("content") or ""

    result = measure(run, args, option)
    result.update(load_s=round(load_s, 2), build=describe()["build"],
                  peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))  # fmt: skip
    print("RESULT " + json.dumps(result), flush=True)


def run_child(option: str, args: argparse.Namespace, pythonpath: str | None = None) -> dict[str, Any]:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, __file__, "--child", option, "--gguf", args.gguf, "--runs", str(args.runs),
           "--passages", str(args.passages), "--words", str(args.words),
           "--max-tokens", str(args.max_tokens)]  # fmt: skip
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, timeout=1800)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line[7:]))
    from awsomechat.runner.supervisor import exit_reason

    return {"crashed": exit_reason(proc.returncode)}


def through_runner(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    """Start a model runner as ``serve`` does and stream through it as an API worker does."""
    from awsomechat.chat.models.runner_client import RunnerChatModel
    from awsomechat.runner.supervisor import RunnerSupervisor
    from awsomechat.settings import LlamaCppSettings

    env = {"AWSOMECHAT_DATA_DIR": str(data_dir), "AWSOMECHAT_LLM__MODEL": args.model,
           "AWSOMECHAT_LLM__N_CTX": "4096", "AWSOMECHAT_LLM__N_BATCH": "512"}  # fmt: skip
    llm = LlamaCppSettings(model=args.model, n_ctx=4096)
    sup = RunnerSupervisor(data_dir / "run" / "bench-runner.sock", llm, env=env)
    t0 = time.perf_counter()
    sup.start()
    state = sup.wait_ready(600)
    if not state.ready:
        sup.stop()
        return {"crashed": state.last_error or state.state}
    ready_s = time.perf_counter() - t0
    try:
        model = RunnerChatModel(sup.url, Path(args.gguf), llm)

        def run(msgs: list[Any]) -> Any:
            return model.stream(msgs, max_tokens=args.max_tokens, temperature=0.0)

        result = measure(run, args, "runner")
        result.update(ready_s=round(ready_s, 2), selftest=state.info.get("selftest"),
                      runner_rss_mb=round(_rss_kb(state.pid or 0) / 1024))  # fmt: skip
        return result
    finally:
        sup.stop()


def combine(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure over rounds (a crash in any round is the result)."""
    crashed = [r for r in results if "crashed" in r]
    if crashed:
        return crashed[0]
    out = dict(results[-1])
    for key in ("ttft_cold_s", "ttft_warm_s", "tok_s"):
        out[key] = round(statistics.median(r[key] for r in results), 3)
        out[f"{key}_rounds"] = [r[key] for r in results]
    return out


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["default", "small"], default="default")
    ap.add_argument("--passages", type=int, default=5)
    ap.add_argument("--words", type=int, default=55, help="words per passage (~75 tokens)")
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2, help="times each option is measured, alternating")
    ap.add_argument("--amx-build", type=Path, default=None, help="an unpacked llama-cpp-python with AMX")
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--gguf", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    for key in [k for k in os.environ if k.startswith("AWSOMECHAT_")]:
        del os.environ[key]
    if args.child:
        child(args.child, args)
        return

    from awsomechat.chat.models.cpu_features import describe
    from awsomechat.chat.models.packaged import resolve_gguf
    from awsomechat.settings import LlamaCppSettings

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="gen-bench-"))
    args.gguf = str(resolve_gguf(LlamaCppSettings(model=args.model), data_dir))
    machine = describe()
    log(f"CPU flags: {' '.join(machine['cpu_flags'])}")  # type: ignore[arg-type]
    log(f"installed llama.cpp build: {machine['build']}")
    log(f"model {Path(args.gguf).name}; {args.passages} passages, {args.max_tokens} answer tokens")
    # Options alternate over rounds, so a burst of load elsewhere on the machine does not land on
    # one option only; each figure is the median over rounds.
    rounds: dict[str, list[dict[str, Any]]] = {}
    for r in range(args.rounds):
        log(f"-- round {r + 1} of {args.rounds}")
        rounds.setdefault("bare", []).append(run_child("bare", args))
        rounds.setdefault("bare-no-extra-bufts", []).append(run_child("bare-no-extra-bufts", args))
        rounds.setdefault("runner", []).append(through_runner(args, data_dir))
        if args.amx_build:
            rounds.setdefault("amx-build-guarded", []).append(
                run_child("amx-build-guarded", args, str(args.amx_build))
            )
            if r == 0:  # the crash needs showing once
                rounds["amx-build-default"] = [run_child("amx-build-default", args, str(args.amx_build))]
    options = {name: combine(results) for name, results in rounds.items()}

    print(f"\nCPU flags: {' '.join(machine['cpu_flags'])}")  # type: ignore[arg-type]
    print(f"installed build: {machine['build']}")
    print(f"{'option':22} {'TTFT cold':>10} {'TTFT warm':>10} {'tok/s':>7}")
    for name, r in options.items():
        if "crashed" in r:
            print(f"{name:22} crashed: {r['crashed']}")
        else:
            print(f"{name:22} {r['ttft_cold_s']:>9.2f}s {r['ttft_warm_s']:>9.2f}s {r['tok_s']:>7.1f}")
    summary: dict[str, Any] = {"model": Path(args.gguf).name, "cpu": machine, "options": options,
                               "load_average_1m": round(os.getloadavg()[0], 2)}  # fmt: skip
    # The runner against bare llama-cpp-python loaded the same way (the move must cost nothing).
    from awsomechat.chat.models.cpu_features import use_extra_buffer_types

    same = "bare" if use_extra_buffer_types(None) else "bare-no-extra-bufts"
    summary["runner_compared_with"] = same
    bare, runner = options[same], options["runner"]
    if "tok_s" in bare and "tok_s" in runner:
        ratio = runner["tok_s"] / max(bare["tok_s"], 1e-9)
        summary["runner_vs_bare_tok_s"] = round(ratio, 3)
        print(f"\nstreamed tok/s through the runner / {same}: {ratio:.3f} "
              f"(target >= 0.95: {'met' if ratio >= 0.95 else 'MISSED'})")  # fmt: skip
        warm = runner["ttft_warm_s"]
        print(f"time to first token through the runner (warm system prompt): {warm} s "
              f"(target <= 8 s: {'met' if warm <= 8 else 'MISSED'})")  # fmt: skip
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
