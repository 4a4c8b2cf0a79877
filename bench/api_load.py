"""API load: ``/v1/query`` under concurrent clients next to in-process retrieval, and ``/v1/chat``
under concurrent users on the default answer model.

The benchmark builds its own store in the embedded PostgreSQL of its data directory (``--docs``
files of the bundled sample knowledge base: first the pages the evaluation questions refer to, then
the others in name order), creates an administrator and a key, and starts a real
``awsomechat serve`` on a free loopback port (rate limit off, every other setting default). Then:

query  ``POST /v1/query`` (hybrid, page_size 10) from one client for ``--single-duration``
       seconds, then from ``--clients`` concurrent clients for ``--duration`` seconds. The same
       queries run in this process through ``Container(settings).retriever.search`` (same
       database, same settings, k=11 and administrator access as the route sends) from one
       thread and from ``--clients`` threads, in slices alternating with the API's (``--rounds``)
       so that load from other jobs falls on both alike.
       API overhead = API p95 - in-process p95 at the same concurrency (target <= 15 ms, at both
       concurrencies); also the overhead seen inside each API request (client wall time minus the
       retriever's own ``timings_ms.total_ms``).
chat   ``--chat-users`` users, all starting at once, each ask ``--chat-questions`` evaluation
       questions (streamed SSE, a new session each): time to the response headers (the wait for
       the generation slot), to the first ``token`` event and to the end of the answer; answers
       served, refused cleanly (503 with Retry-After) or failed; the queue depth (``/readyz``) and
       the server's memory (VmRSS / VmHWM from ``/proc``) sampled every second.

Progress goes to stderr; the figures to stdout, the last line one JSON object with all of them.
Run ``.venv/bin/python bench/api_load.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from _common import (
    BenchStore,
    LogProgress,
    check,
    emit,
    heading,
    isolate_environment,
    latency_summary,
    log,
    machine_info,
    show,
)
from awsomechat.chat.models.packaged import resolve_gguf
from awsomechat.cli.up import sample_kb_path
from awsomechat.container import Container
from awsomechat.errors import AwsomeChatError
from awsomechat.ingest.pipeline import IngestOptions
from awsomechat.settings import DatabaseSettings, LlamaCppSettings, Settings
from awsomechat.store import embedded
from awsomechat.types import AccessScope, SearchRequest

QA_FILE = Path("/work/shared/data/awsdocs/qa_dev.jsonl")
EXCLUDE = ("README.md", "LICENSE*")
OVERHEAD_TARGET_MS = 15.0
PAGE_SIZE = 10
ADMIN = "bench-admin"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ============================================================================ inputs


def read_qa() -> list[dict[str, Any]]:
    with QA_FILE.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def select_documents(kb: Path, n: int) -> list[str]:
    """``n`` pages of the KB (relative paths): those the evaluation questions cite first."""
    files = sorted(p.relative_to(kb).as_posix() for p in kb.rglob("*.md") if p.name != "README.md")
    if n <= 0 or n >= len(files):
        return files
    known = set(files)
    cited = list(dict.fromkeys(d for q in read_qa() for d in q["doc_ids"] if d in known))
    first = set(cited)
    return [*cited, *(f for f in files if f not in first)][:n]


def _title(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            text = re.sub(r"<[^>]+>", "", line[2:]).replace("\\", "")
            return " ".join(text.split()).strip(" :")
    return ""


def query_texts(kb: Path, docs: Sequence[str], n: int) -> list[str]:
    """The evaluation questions (60), then titles of the stored pages, ``n`` in all."""
    questions = [q["question"] for q in read_qa()]
    titles = [t for t in (_title(kb / d) for d in docs) if 2 <= len(t.split()) <= 12]
    random.Random(7).shuffle(titles)
    return [*questions, *titles][:n]


def chat_questions(docs: Sequence[str]) -> list[str]:
    """Answerable evaluation questions whose page is in the store."""
    stored = set(docs)
    return [q["question"] for q in read_qa() if q["answer"] and any(d in stored for d in q["doc_ids"])]


# ============================================================================ store


def prepare_store(container: Container, kb: Path, docs: Sequence[str], all_docs: bool) -> dict[str, Any]:
    """Ingest the chosen pages (incrementally: a reused data dir skips what is already there)."""
    include = () if all_docs else tuple(docs)
    report = container.ingestion.ingest(
        [str(kb)], IngestOptions(include=include, exclude=EXCLUDE), LogProgress(25)
    )
    log(f"  ingest: {report.summary()}")
    for name, reason in report.failed[:5]:
        log(f"    failed: {name}: {reason}")
    stats = container.documents.stats()
    return {
        "database": container.settings.database.name,
        "documents": stats["documents"],
        "passages": stats["chunks"],
        "ingest_seconds": round(report.seconds, 1),
        "ingest_added": report.added,
        "ingest_failed": len(report.failed),
    }


def admin_key(container: Container) -> str:
    keys = container.keys
    with contextlib.suppress(AwsomeChatError):  # a reused data dir: the user is already there
        keys.add_user(ADMIN, admin=True)
    return keys.create_key(ADMIN, "api-load bench")[1]


# ============================================================================ server and /proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def proc_memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) of a process, in MB."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = round(int(value.split()[0]) / 1024, 1)
    except OSError:
        pass
    return out


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def postgres_cpu_seconds(data_dir: Path) -> float:
    """CPU seconds of the embedded PostgreSQL: its postmaster and every live child (the backends)."""
    try:
        root = int((embedded.pg_data_dir(data_dir) / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return math.nan
    total = proc_cpu_seconds(root)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == root:
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


@dataclass
class CpuMeter:
    """CPU used between start() and stop() by this process, the server, the embedded PostgreSQL
    and the whole machine; ``other_fraction`` is the share of all CPUs that other jobs took."""

    server_pid: int
    data_dir: Path
    start_self: float = 0.0
    start_server: float = 0.0
    start_pg: float = 0.0
    start_machine: tuple[float, float] = (0.0, 0.0)
    start_wall: float = 0.0

    def start(self) -> CpuMeter:
        self.start_self = time.process_time()
        self.start_server = proc_cpu_seconds(self.server_pid)
        self.start_pg = postgres_cpu_seconds(self.data_dir)
        self.start_machine = machine_cpu()
        self.start_wall = time.perf_counter()
        return self

    def stop(self) -> dict[str, float]:
        busy, total = machine_cpu()
        wall = time.perf_counter() - self.start_wall
        bench = time.process_time() - self.start_self
        server = proc_cpu_seconds(self.server_pid) - self.start_server
        pg = postgres_cpu_seconds(self.data_dir) - self.start_pg
        busy_fraction = (busy - self.start_machine[0]) / max(1.0, total - self.start_machine[1])
        ours = (bench + server + pg) / max(1e-9, wall * (os.cpu_count() or 1))
        return {
            "bench_process_cpu_s": round(bench, 1),
            "server_cpu_s": round(server, 1),
            "postgres_cpu_s": round(pg, 1),
            "machine_busy_fraction": round(busy_fraction, 3),
            "other_fraction": round(max(0.0, busy_fraction - ours), 3),
        }


@dataclass
class Server:
    """``awsomechat serve`` in a subprocess (one worker: the process is the server)."""

    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path
    data_dir: Path

    @classmethod
    def start(cls, env: dict[str, str], log_path: Path, data_dir: Path, timeout: float = 600) -> Server:
        port = free_port()
        with log_path.open("ab") as log_file:
            proc = subprocess.Popen(
                [sys.executable, "-m", "awsomechat", "serve", "--port", str(port)],
                env={**os.environ, **env},
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        server = cls(proc, f"http://127.0.0.1:{port}", log_path, data_dir)
        server.wait_ready(timeout)
        return server

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"server not ready within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ============================================================================ query part


@dataclass
class Run:
    """Latencies of one load run (in-process or through the API)."""

    label: str
    clients: int
    wall_ms: list[float] = field(default_factory=list)
    retriever_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)

    def figures(self) -> dict[str, Any]:
        fig: dict[str, Any] = {
            "clients": self.clients,
            **latency_summary(self.wall_ms),
            "req_per_s": round(len(self.wall_ms) / self.seconds, 1) if self.seconds else 0.0,
            "seconds": round(self.seconds, 1),
            "errors": len(self.errors),
            "error_samples": sorted(set(self.errors))[:5],
            "retriever_total_ms": latency_summary(self.retriever_ms),
            "cpu": self.cpu,
        }
        n = max(1, len(self.wall_ms))
        fig["cpu_ms_per_request"] = {
            "bench_process": round(self.cpu.get("bench_process_cpu_s", math.nan) * 1000 / n, 2),
            "server": round(self.cpu.get("server_cpu_s", math.nan) * 1000 / n, 2),
        }
        return fig

    def merge(self, other: Run) -> Run:
        """This run and ``other`` (a later slice of the same kind) as one."""
        total = self.seconds + other.seconds
        cpu = {k: round(v + other.cpu.get(k, 0.0), 1) for k, v in self.cpu.items() if k.endswith("_s")}
        for k in ("machine_busy_fraction", "other_fraction"):  # time-weighted means
            a, b = self.cpu.get(k, 0.0), other.cpu.get(k, 0.0)
            cpu[k] = round((a * self.seconds + b * other.seconds) / total, 3) if total else 0.0
        return Run(
            self.label, self.clients, self.wall_ms + other.wall_ms, self.retriever_ms + other.retriever_ms,
            self.errors + other.errors, total, cpu,
        )  # fmt: skip


def _search(text: str) -> SearchRequest:
    # What POST /v1/query sends for page_size 10 with an administrator's key.
    return SearchRequest(text=text, k=PAGE_SIZE + 1, access=AccessScope(all_access=True))


def run_inprocess(
    container: Container, texts: Sequence[str], clients: int, duration: float, server: Server
) -> Run:
    """``clients`` threads calling the retriever back to back for ``duration`` seconds."""
    run = Run("in-process retrieval", clients)
    counter = itertools.count()
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)
    deadline = [0.0]

    def worker() -> None:
        wall: list[float] = []
        inner: list[float] = []
        errors: list[str] = []
        barrier.wait()
        while time.perf_counter() < deadline[0]:
            text = texts[next(counter) % len(texts)]
            t0 = time.perf_counter()
            try:
                resp = container.retriever.search(_search(text))
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            wall.append((time.perf_counter() - t0) * 1000)
            inner.append(float(resp.timings_ms.get("total_ms", math.nan)))
        with lock:
            run.wall_ms.extend(wall)
            run.retriever_ms.extend(inner)
            run.errors.extend(errors)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    meter = CpuMeter(server.pid, server.data_dir).start()
    t_start = time.perf_counter()
    deadline[0] = t_start + duration
    barrier.wait()
    for t in threads:
        t.join()
    run.seconds = time.perf_counter() - t_start
    run.cpu = meter.stop()
    return run


async def _api_run(server: Server, key: str, texts: Sequence[str], clients: int, duration: float) -> Run:
    run = Run("API /v1/query", clients)
    counter = itertools.count()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60, limits=limits) as client:
        # Open every connection first, so that the timed part never pays for a TCP connect.
        await asyncio.gather(*(client.get("/healthz") for _ in range(clients)))
        meter = CpuMeter(server.pid, server.data_dir).start()
        t_start = time.perf_counter()
        deadline = t_start + duration

        async def worker() -> None:
            while time.perf_counter() < deadline:
                text = texts[next(counter) % len(texts)]
                t0 = time.perf_counter()
                try:
                    r = await client.post("/v1/query", json={"query": text, "page_size": PAGE_SIZE})
                except httpx.HTTPError as exc:
                    run.errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    continue
                ms = (time.perf_counter() - t0) * 1000
                if r.status_code != 200:
                    run.errors.append(f"HTTP {r.status_code}: {r.text[:150]}")
                    continue
                run.wall_ms.append(ms)
                run.retriever_ms.append(float(r.json()["timings_ms"].get("total_ms", math.nan)))

        await asyncio.gather(*(worker() for _ in range(clients)))
        run.seconds = time.perf_counter() - t_start
        run.cpu = meter.stop()
    return run


def run_api(server: Server, key: str, texts: Sequence[str], clients: int, duration: float) -> Run:
    """``clients`` concurrent HTTP clients (one asyncio loop) posting back to back."""
    return asyncio.run(_api_run(server, key, texts, clients, duration))


def _overhead(api: Run, local: Run) -> dict[str, float]:
    a, b = api.figures(), local.figures()
    inside = [w - r for w, r in zip(api.wall_ms, api.retriever_ms, strict=True) if not math.isnan(r)]
    return {
        "p50_ms": round(a["p50_ms"] - b["p50_ms"], 2),
        "p95_ms": round(a["p95_ms"] - b["p95_ms"], 2),
        "mean_ms": round(a["mean_ms"] - b["mean_ms"], 2),
        "req_per_s_ratio": round(a["req_per_s"] / b["req_per_s"], 3) if b["req_per_s"] else 0.0,
        # Machine time per request (1 / throughput): what each request adds to the others' wait
        # once the CPUs are saturated (Little's law: latency = clients x this).
        "service_ms": round(1000 / a["req_per_s"] - 1000 / b["req_per_s"], 2)
        if a["req_per_s"] and b["req_per_s"]
        else math.nan,
        "inside_api_p50_ms": round(float(np.percentile(inside, 50)), 2) if inside else math.nan,
        "inside_api_p95_ms": round(float(np.percentile(inside, 95)), 2) if inside else math.nan,
    }


def run_query_part(
    container: Container, server: Server, key: str, texts: Sequence[str], args: argparse.Namespace
) -> dict[str, Any]:
    heading(f"/v1/query vs in-process retrieval ({len(texts)} queries, hybrid, page_size {PAGE_SIZE})")
    log(f"query: warm-up pass of {len(texts)} queries in-process and through the API")
    for t in texts:
        container.retriever.search(_search(t))
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
        for t in texts:
            c.post("/v1/query", json={"query": t, "page_size": PAGE_SIZE}).raise_for_status()
    # Each concurrency alternates in-process and API slices, so that the load of other jobs,
    # which drifts, falls on both alike.
    runs: dict[str, Run] = {}
    rounds = max(1, args.rounds)
    for clients, duration in {1: args.single_duration, args.clients: args.duration}.items():
        for r in range(rounds):
            for kind in ("inprocess", "api"):
                name = f"{kind}_{clients}"
                log(f"query: {kind}, {clients} client(s), round {r + 1}/{rounds}, {duration / rounds:.0f} s")
                if kind == "api":
                    run = run_api(server, key, texts, clients, duration / rounds)
                else:
                    run = run_inprocess(container, texts, clients, duration / rounds, server)
                f = run.figures()
                other = f["cpu"]["other_fraction"]
                log(
                    f"  {f['n']} requests, {f['req_per_s']} req/s, p50 {f['p50_ms']} ms,"
                    f" p95 {f['p95_ms']} ms, errors {f['errors']}, other jobs took {other:.0%} of the CPUs"
                )
                runs[name] = runs[name].merge(run) if name in runs else run

    figs = {name: run.figures() for name, run in runs.items()}
    overhead = {
        "1": _overhead(runs["api_1"], runs["inprocess_1"]),
        str(args.clients): _overhead(runs[f"api_{args.clients}"], runs[f"inprocess_{args.clients}"]),
    }
    print(
        f"  {'run':<22} {'clients':>7} {'n':>6} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}"
        f" {'max ms':>8} {'errors':>6}   CPU s bench/server/pg, other jobs; CPU ms/request bench/server"
    )
    for name, run in runs.items():
        f = figs[name]
        cpu = f["cpu"]
        print(
            f"  {run.label:<22} {f['clients']:>7} {f['n']:>6} {f['req_per_s']:>7.1f} {f['p50_ms']:>8.1f}"
            f" {f['p95_ms']:>8.1f} {f['mean_ms']:>8.1f} {f['max_ms']:>8.1f} {f['errors']:>6}"
            f"   {cpu['bench_process_cpu_s']:.0f}/{cpu['server_cpu_s']:.0f}/{cpu['postgres_cpu_s']:.0f},"
            f" {cpu['other_fraction']:.0%}; {f['cpu_ms_per_request']['bench_process']:.1f}"
            f"/{f['cpu_ms_per_request']['server']:.1f}"
        )
    print()
    met: dict[str, bool] = {}
    for clients, o in overhead.items():
        met[f"overhead_p95_{clients}_clients"] = check(
            f"API overhead p95, {clients} client(s)", o["p95_ms"], "ms", OVERHEAD_TARGET_MS, "<="
        )
        show(f"API overhead p50, {clients} client(s)", o["p50_ms"], "ms")
        inside = f"{o['inside_api_p50_ms']}/{o['inside_api_p95_ms']}"
        show(f"  inside the API p50/p95, {clients} client(s)", inside, "ms")
        show(f"  API / in-process req/s, {clients} client(s)", o["req_per_s_ratio"], "", digits=3)
        show(f"  machine time per request, API - in-process, {clients}", o["service_ms"], "ms")
    errors = sum(f["errors"] for f in figs.values())
    met["no_errors"] = check("errors (all runs)", float(errors), "", 0, "<=", digits=0)
    for name, f in figs.items():
        for sample in f["error_samples"]:
            print(f"    {name}: {sample}")
    return {
        "queries": len(texts),
        "duration_s": args.duration,
        "single_duration_s": args.single_duration,
        "rounds": rounds,
        "runs": figs,
        "overhead": overhead,
        "targets_met": met,
    }


# ============================================================================ chat part


@dataclass
class Answer:
    user: int
    index: int
    question: str
    status: int = 0
    retry_after: str | None = None
    start_s: float = 0.0
    headers_s: float = math.nan
    ttft_s: float = math.nan
    total_s: float = math.nan
    token_events: int = 0
    completion_tokens: int = 0
    prompt_tokens: int = 0
    abstained: bool | None = None
    server_timings: dict[str, float] = field(default_factory=dict)
    error: str = ""

    @property
    def decode_tok_s(self) -> float:
        """Tokens streamed per second after the first one (the model's decoding speed)."""
        span = self.total_s - self.ttft_s
        return (self.token_events - 1) / span if self.token_events > 1 and span > 0 else math.nan

    @property
    def outcome(self) -> str:
        if self.status == 200 and not self.error and self.abstained is not None:
            return "abstained" if self.abstained else "answered"
        if self.status == 503 and self.retry_after:
            return "refused"
        return "failed"


async def _ask(client: httpx.AsyncClient, answer: Answer, origin: float) -> None:
    t0 = time.perf_counter()
    answer.start_s = t0 - origin
    try:
        async with client.stream("POST", "/v1/chat", json={"message": answer.question, "stream": True}) as r:
            answer.headers_s = time.perf_counter() - t0
            answer.status = r.status_code
            if r.status_code != 200:
                await r.aread()
                answer.retry_after = r.headers.get("retry-after")
                if r.status_code != 503:
                    answer.error = f"HTTP {r.status_code}: {r.text[:150]}"
                return
            event = ""
            async for line in r.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event == "token":
                    if answer.token_events == 0:
                        answer.ttft_s = time.perf_counter() - t0
                    answer.token_events += 1
                elif line.startswith("data:") and event == "final":
                    final = json.loads(line[5:])
                    answer.abstained = bool(final["abstained"])
                    answer.completion_tokens = int(final["completion_tokens"])
                    answer.prompt_tokens = int(final["prompt_tokens"])
                    answer.server_timings = dict(final["timings"])
                elif line.startswith("data:") and event == "error":
                    answer.error = f"error event: {line[5:].strip()[:150]}"
    except httpx.HTTPError as exc:
        answer.error = f"{type(exc).__name__}: {exc}"[:200]
    finally:
        answer.total_s = time.perf_counter() - t0


async def _chat_load(
    url: str, key: str, questions: Sequence[str], users: int, per_user: int, pid: int
) -> tuple[list[Answer], dict[str, Any]]:
    answers = [
        [Answer(u, j, questions[(u + j * users) % len(questions)]) for j in range(per_user)]
        for u in range(users)
    ]
    samples: dict[str, Any] = {"max_queue": 0, "max_rss_mb": 0.0, "queue": []}
    done = asyncio.Event()
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=users + 1)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=900, limits=limits) as client:
        origin = time.perf_counter()

        async def user(mine: list[Answer]) -> None:
            for a in mine:
                await _ask(client, a, origin)
                log(
                    f"  user {a.user} q{a.index}: {a.outcome} (HTTP {a.status}) headers {a.headers_s:.1f} s,"
                    f" first token {a.ttft_s:.1f} s, total {a.total_s:.1f} s, {a.completion_tokens} tokens"
                )

        async def monitor() -> None:
            while not done.is_set():
                try:
                    r = await client.get("/readyz", timeout=5)
                    queue = int(r.json().get("queue", 0))
                    samples["queue"].append(queue)
                    samples["max_queue"] = max(samples["max_queue"], queue)
                except (httpx.HTTPError, ValueError):
                    pass
                rss = proc_memory_mb(pid).get("VmRSS", 0.0)
                samples["max_rss_mb"] = max(samples["max_rss_mb"], rss)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), timeout=1.0)

        mon = asyncio.create_task(monitor())
        await asyncio.gather(*(user(mine) for mine in answers))
        done.set()
        await mon
        samples["seconds"] = round(time.perf_counter() - origin, 1)
    samples["mean_queue"] = round(float(np.mean(samples.pop("queue") or [0])), 2)
    return [a for mine in answers for a in mine], samples


def _seconds_summary(values: Sequence[float]) -> dict[str, float]:
    vals = [v for v in values if not math.isnan(v)]
    if not vals:
        return {"n": 0}
    arr = np.asarray(vals)
    return {
        "n": len(vals),
        "min_s": round(float(arr.min()), 2),
        "p50_s": round(float(np.percentile(arr, 50)), 2),
        "p95_s": round(float(np.percentile(arr, 95)), 2),
        "max_s": round(float(arr.max()), 2),
    }


def run_chat_part(
    server: Server, key: str, questions: Sequence[str], args: argparse.Namespace
) -> dict[str, Any]:
    heading(
        f"/v1/chat: {args.chat_users} users x {args.chat_questions} questions, model {args.model},"
        " all users starting at once"
    )
    log(f"chat: {args.chat_users} users x {args.chat_questions} questions (streamed)")
    meter = CpuMeter(server.pid, server.data_dir).start()
    answers, samples = asyncio.run(
        _chat_load(server.url, key, questions, args.chat_users, args.chat_questions, server.pid)
    )
    cpu = meter.stop()
    print(
        f"  {'user':>4} {'q':>2} {'outcome':<10} {'HTTP':>4} {'start s':>7} {'wait s':>7} {'ttft s':>7}"
        f" {'srv ttft':>8} {'total s':>7} {'tokens':>6} {'tok/s':>6}  question"
    )
    for a in sorted(answers, key=lambda x: x.start_s + x.headers_s if not math.isnan(x.headers_s) else 1e9):
        tok_s = a.decode_tok_s
        print(
            f"  {a.user:>4} {a.index:>2} {a.outcome:<10} {a.status:>4} {a.start_s:>7.1f} {a.headers_s:>7.1f}"
            f" {a.ttft_s:>7.1f} {a.server_timings.get('ttft_s', math.nan):>8.1f} {a.total_s:>7.1f}"
            f" {a.completion_tokens:>6} {tok_s:>6.1f}  {a.question[:48]}"
        )
    outcomes = {
        k: sum(a.outcome == k for a in answers) for k in ("answered", "abstained", "refused", "failed")
    }
    answered = [a for a in answers if a.outcome == "answered"]
    served = [a for a in answers if a.outcome in ("answered", "abstained")]
    gen_rates = [a.decode_tok_s for a in answered if not math.isnan(a.decode_tok_s)]
    memory = proc_memory_mb(server.pid)
    fig: dict[str, Any] = {
        "users": args.chat_users,
        "questions_per_user": args.chat_questions,
        "model": args.model,
        "outcomes": outcomes,
        "retry_after": sorted({a.retry_after for a in answers if a.outcome == "refused" and a.retry_after}),
        "errors": [
            f"user {a.user} q{a.index}: {a.error or a.status}" for a in answers if a.outcome == "failed"
        ],
        "wait_for_slot_s": _seconds_summary([a.headers_s for a in served]),
        "ttft_s": _seconds_summary([a.ttft_s for a in answered]),
        "server_ttft_s": _seconds_summary([a.server_timings.get("ttft_s", math.nan) for a in answered]),
        "total_s": _seconds_summary([a.total_s for a in answered]),
        "completion_tokens_mean": round(float(np.mean([a.completion_tokens for a in answered])), 1)
        if answered
        else 0.0,
        "prompt_tokens_mean": round(float(np.mean([a.prompt_tokens for a in answered])), 1)
        if answered
        else 0.0,
        "decode_tok_s_mean": round(float(np.mean(gen_rates)), 2) if gen_rates else 0.0,
        "queue": {"max_waiting": samples["max_queue"], "mean_waiting": samples["mean_queue"]},
        "seconds": samples["seconds"],
        "answers_per_minute": round(len(served) * 60 / samples["seconds"], 2) if samples["seconds"] else 0.0,
        "server_memory_mb": {**memory, "max_sampled_rss": samples["max_rss_mb"]},
        "cpu": cpu,
    }
    print()
    show("answered / abstained / refused (503) / failed", "/".join(str(v) for v in outcomes.values()))
    if outcomes["refused"]:
        show("Retry-After on refusals", ", ".join(fig["retry_after"]), "s")
    for label, key_ in (
        ("wait for the generation slot", "wait_for_slot_s"),
        ("time to first token (client, incl. wait)", "ttft_s"),
        ("time to first token (server, from slot)", "server_ttft_s"),
        ("total time per answer (client)", "total_s"),
    ):
        s = fig[key_]
        if s.get("n"):
            show(f"{label} p50/p95/max", f"{s['p50_s']}/{s['p95_s']}/{s['max_s']}", "s")
    show("prompt / completion tokens (mean)", f"{fig['prompt_tokens_mean']}/{fig['completion_tokens_mean']}")
    show("decoding speed after the first token (mean)", fig["decode_tok_s_mean"], "tokens/s")
    show("answers per minute", fig["answers_per_minute"])
    show("queue waiting (max sampled)", samples["max_queue"])
    show("server RSS now / peak (VmHWM)", f"{memory.get('VmRSS')}/{memory.get('VmHWM')}", "MB")
    show("CPU taken by other jobs meanwhile", cpu["other_fraction"], "of all CPUs")
    met = {"all_served_or_refused": check("failed answers", float(outcomes["failed"]), "", 0, "<=", digits=0)}
    for e in fig["errors"][:5]:
        print(f"    {e}")
    fig["targets_met"] = met
    return fig


# ============================================================================ main


def setting_overrides(pairs: Sequence[str]) -> dict[str, str]:
    """``--set section.field=value`` as the environment variables the settings read."""
    env: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or "." not in name:
            raise SystemExit(f"--set {pair!r}: expected SECTION.FIELD=VALUE, e.g. database.pool_max=16")
        env["AWSOMECHAT_" + name.replace(".", "__").upper()] = value
    return env


def database_overrides(pairs: Sequence[str]) -> dict[str, str]:
    """The ``database.*`` ones: the database section is built here (with the bench's own name)."""
    return {
        name.split(".", 1)[1]: value
        for name, _, value in (pair.partition("=") for pair in pairs)
        if name.startswith("database.")
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--part", choices=["all", "query", "chat"], default="all", help="what to measure")
    ap.add_argument(
        "--data-dir", type=Path, help="data dir of the embedded server, kept for reuse (default: temp)"
    )
    ap.add_argument(
        "--docs", type=int, default=200, help="sample KB pages to ingest (default 200; 0 = all 581)"
    )
    ap.add_argument("--queries", type=int, default=100, help="distinct query texts (default 100)")
    ap.add_argument("--duration", type=float, default=30, help="seconds per concurrent query run (30)")
    ap.add_argument("--single-duration", type=float, default=10, help="seconds per one-client query run (10)")
    ap.add_argument("--clients", type=int, default=16, help="concurrent query clients/threads (16)")
    ap.add_argument(
        "--rounds", type=int, default=3, help="alternating in-process/API slices per concurrency (3)"
    )
    ap.add_argument("--chat-users", type=int, default=4, help="concurrent chat users (4)")
    ap.add_argument("--chat-questions", type=int, default=2, help="questions per chat user (2)")
    ap.add_argument(
        "--model", choices=["default", "small"], default="default", help="answer model of the server"
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SETTING=VALUE",
        help="a setting for the server and the in-process retriever alike, e.g. database.pool_max=16 or"
        " embedder.query_batch_wait_ms=0 (repeatable)",
    )
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    isolate_environment()
    figures: dict[str, Any] = {"benchmark": "api_load", "machine": machine_info(), "options": vars(args)}
    kb = sample_kb_path()
    all_files = select_documents(kb, 0)
    docs = select_documents(kb, args.docs)
    all_docs = len(docs) == len(all_files)
    db_name = "bench_api_all" if all_docs else f"bench_api_{len(docs)}"
    store = BenchStore.open(args.data_dir)
    os.environ["AWSOMECHAT_DATA_DIR"] = str(store.data_dir)  # no user config.toml leaks in
    overrides = setting_overrides(args.set)
    os.environ.update(overrides)  # read by Settings() here and passed to the server
    database = DatabaseSettings.model_validate({"name": db_name, **database_overrides(args.set)})
    settings = Settings(data_dir=store.data_dir, database=database)
    container = Container(settings)
    server: Server | None = None
    log_path = Path(tempfile.gettempdir()) / f"awsomechat-api-load-{os.getpid()}.log"
    try:
        heading(f"Store: {len(docs)} sample KB pages in {db_name} ({store.data_dir})")
        log(f"store: {store.data_dir}, database {db_name}, {len(docs)} pages")
        figures["store"] = prepare_store(container, kb, docs, all_docs)
        show("documents / passages", f"{figures['store']['documents']} / {figures['store']['passages']}")
        container.get_embedder().embed_query("warm-up query")
        key = admin_key(container)
        t0 = time.perf_counter()
        model_path = resolve_gguf(LlamaCppSettings(model=args.model), store.data_dir)
        log(f"model {model_path.name} ready in {time.perf_counter() - t0:.1f} s")
        env = {
            "AWSOMECHAT_DATA_DIR": str(store.data_dir),
            "AWSOMECHAT_DATABASE__NAME": db_name,
            "AWSOMECHAT_LLM__MODEL": args.model,
            "AWSOMECHAT_API__RATE_LIMIT_PER_MINUTE": "0",
        }
        env.update(overrides)
        log(f"starting awsomechat serve (log: {log_path})")
        t0 = time.perf_counter()
        server = Server.start(env, log_path, store.data_dir)
        figures["server"] = {
            "url": server.url,
            "startup_s": round(time.perf_counter() - t0, 1),
            "memory_after_start_mb": proc_memory_mb(server.pid),
        }
        log(f"server ready at {server.url} in {figures['server']['startup_s']} s, pid {server.pid}")
        if args.part in ("all", "query"):
            texts = query_texts(kb, docs, args.queries)
            figures["query"] = run_query_part(container, server, key, texts, args)
            figures["server"]["memory_after_query_mb"] = proc_memory_mb(server.pid)
        if args.part in ("all", "chat"):
            figures["chat"] = run_chat_part(server, key, chat_questions(docs), args)
        figures["server"]["memory_end_mb"] = proc_memory_mb(server.pid)
    finally:
        if server is not None:
            server.stop()
            log(f"server stopped (log kept: {log_path})")
        container.close()
        if store.temporary:
            store.close()
        else:
            embedded.stop(store.data_dir)
            log(f"stopped the embedded server; kept {store.data_dir}")
    figures["machine"]["load_average_1m_end"] = machine_info()["load_average_1m"]
    figures["targets_met"] = {
        f"{part}.{name}": ok
        for part in ("query", "chat")
        for name, ok in figures.get(part, {}).get("targets_met", {}).items()
    }
    print()
    emit(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
