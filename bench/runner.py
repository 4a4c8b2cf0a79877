"""Model-runner benchmark: memory of ``serve --workers 2`` (the model once) and recovery after a kill.

Starts a real ``awsomechat serve --workers 2 --local`` on loopback with the configured model on a
one-page knowledge base, then reports the resident memory (RSS and PSS) of the serve process, each
worker and the runner, kills the runner with SIGKILL and times how long until an answer succeeds
again (every attempt in between must be a quick 503).

    .venv/bin/python bench/runner.py [--model default|small] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

DOC = (
    "# Lambda quotas\n\nThe maximum deployment package size for AWS Lambda is 50 MB zipped and 250 MB"
    " unzipped. A function can use up to five layers. The maximum timeout is 900 seconds.\n"
)
QUESTION = "What is the maximum timeout of a Lambda function?"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in kB; PSS shares common pages fairly between processes."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ask(client: httpx.Client) -> httpx.Response:
    return client.post("/v1/chat", json={"message": QUESTION, "stream": False}, timeout=300)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["default", "small"], default="default")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="runner-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWSOMECHAT_")}
    env.update({
        "AWSOMECHAT_DATA_DIR": str(data_dir), "AWSOMECHAT_LLM__MODEL": args.model, "HF_HUB_OFFLINE": "1",
        "AWSOMECHAT_CHAT__MIN_COVERAGE": "0", "AWSOMECHAT_CHAT__MIN_DENSE": "0",
        "AWSOMECHAT_LLM__MAX_ANSWER_TOKENS": "48",
    })  # fmt: skip
    docs = data_dir / "docs"
    docs.mkdir()
    (docs / "lambda.md").write_text(DOC)
    cli = [sys.executable, "-m", "awsomechat"]
    subprocess.run([*cli, "ingest", str(docs)], env=env, check=True, capture_output=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    logf = (data_dir / "serve.log").open("wb")
    serve = subprocess.Popen(
        [*cli, "serve", "--port", str(port), "--workers", str(args.workers), "--local"],
        env=env, stdout=logf, stderr=subprocess.STDOUT,
    )  # fmt: skip
    summary: dict[str, Any] = {"model": args.model, "workers": args.workers}
    try:
        t0 = time.monotonic()
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if serve.poll() is not None or time.monotonic() - t0 > 600:
                raise SystemExit(
                    "serve did not become ready:\n" + (data_dir / "serve.log").read_text()[-3000:]
                )
            time.sleep(0.3)
        summary["ready_s"] = round(time.monotonic() - t0, 1)
        with httpx.Client(base_url=url) as client:
            for _ in range(args.workers * 2):  # every worker warm and answering
                assert ask(client).status_code == 200
            runner = httpx.get(f"{url}/readyz").json()["model_runner"]
            procs = {"serve": serve.pid}
            for pid in children(serve.pid):
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
                if b"awsomechat.runner" in cmd:
                    procs["runner"] = pid
                elif b"spawn_main" in cmd:
                    procs[f"worker{sum(k.startswith('worker') for k in procs) + 1}"] = pid
            mem = {}
            for name, pid in procs.items():
                rss, pss = memory_kb(pid)
                mem[name] = {"rss_mb": round(rss / 1024), "pss_mb": round(pss / 1024)}
            summary["memory"] = mem
            summary["total_pss_mb"] = sum(m["pss_mb"] for m in mem.values())
            print(f"{'process':10} {'RSS MB':>8} {'PSS MB':>8}")
            for name, m in mem.items():
                print(f"{name:10} {m['rss_mb']:>8} {m['pss_mb']:>8}")
            print(f"{'total':10} {'':>8} {summary['total_pss_mb']:>8}  (PSS: shared pages counted once)")

            os.kill(runner["pid"], signal.SIGKILL)
            t_kill = time.monotonic()
            refusals: list[float] = []
            while True:
                t = time.monotonic()
                resp = ask(client)
                if resp.status_code == 200:
                    break
                assert resp.status_code == 503, resp.text
                refusals.append(time.monotonic() - t)
                time.sleep(0.2)
            recovery = time.monotonic() - t_kill
            summary.update(
                kill_to_first_answer_s=round(recovery, 2), refusals_while_down=len(refusals),
                slowest_refusal_s=round(max(refusals, default=0), 3),
                restarts=httpx.get(f"{url}/readyz").json()["model_runner"]["restarts"],
            )  # fmt: skip
            print(f"\nrunner killed → first good answer again: {recovery:.1f} s "
                  f"({len(refusals)} requests refused with 503 meanwhile, slowest refusal "
                  f"{summary['slowest_refusal_s'] * 1000:.0f} ms)")  # fmt: skip
    finally:
        serve.terminate()
        serve.wait(timeout=30)
        subprocess.run([*cli, "db", "stop"], env=env, capture_output=True)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
