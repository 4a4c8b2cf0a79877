"""Helpers shared by the benchmarks: a container on its own database, timers, figures, output.

Every benchmark runs against the embedded PostgreSQL of its own data directory (a fresh temporary
one by default, stopped and removed at the end) and its own database in that server. Progress
goes to stderr; figures go to stdout, the last line being one JSON object with all of them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import psycopg
from psycopg import sql

from awsomechat.container import Container
from awsomechat.seams import Embedder
from awsomechat.settings import DatabaseSettings, EmbedderSettings, Settings
from awsomechat.store import embedded

SAMPLE_KB = Path(__file__).resolve().parents[1] / "src" / "awsomechat" / "sample_kb"
SCIFACT = Path("/work/shared/data/scifact")

_T0 = time.perf_counter()
F = TypeVar("F", bound=Callable[..., Any])


def log(message: str) -> None:
    """One progress line on stderr, stamped with the seconds since the script started."""
    print(f"[{time.perf_counter() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


def isolate_environment() -> None:
    """Ignore the developer's own ``AWSOMECHAT_*`` variables and config file (as the tests do)."""
    for key in [k for k in os.environ if k.startswith("AWSOMECHAT_")]:
        del os.environ[key]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def load_average() -> float:
    """The 1-minute load average (other jobs on the machine skew every figure)."""
    return round(os.getloadavg()[0], 2)


def machine_info() -> dict[str, Any]:
    """Figures that tell a reader how loaded the machine was when the benchmark ran."""
    return {"cpus": os.cpu_count(), "load_average_1m": load_average()}


# --------------------------------------------------------------------------- embedder


def load_embedder(warmup_texts: list[str] | None = None) -> Embedder:
    """Build the configured embedder and run it once so the timed parts never pay for loading."""
    from awsomechat.embed import build_embedder

    t0 = time.perf_counter()
    embedder = build_embedder(EmbedderSettings())
    texts = warmup_texts or ["warm-up passage about Amazon S3 buckets and IAM policies."] * 32
    embedder.embed_passages(texts)
    embedder.embed_query("warm-up query")
    log(f"embedder {embedder.name} loaded and warmed up in {time.perf_counter() - t0:.1f} s")
    return embedder


# --------------------------------------------------------------------------- store


@dataclass
class BenchStore:
    """Where a benchmark keeps its database: an explicit data dir is kept, a temporary one is not."""

    data_dir: Path
    temporary: bool

    @classmethod
    def open(cls, data_dir: Path | None) -> BenchStore:
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
            return cls(data_dir.resolve(), temporary=False)
        return cls(Path(tempfile.mkdtemp(prefix="awsomechat-bench-")), temporary=True)

    def settings(self, db_name: str) -> Settings:
        # Point config-file lookup at our data dir too, so no user config.toml leaks in.
        os.environ["AWSOMECHAT_DATA_DIR"] = str(self.data_dir)
        return Settings(data_dir=self.data_dir, database=DatabaseSettings(name=db_name, pool_max=4))

    def admin_url(self) -> str:
        """URL of the server's maintenance database (starts the server if needed)."""
        return embedded.start(self.data_dir, "postgres")

    def drop_database(self, db_name: str) -> None:
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db_name)))

    def close(self) -> None:
        """Stop the server and delete the directory when it was a temporary one."""
        if self.temporary:
            embedded.stop(self.data_dir)
            shutil.rmtree(self.data_dir, ignore_errors=True)
            log(f"stopped the embedded server and removed {self.data_dir}")
        else:
            log(f"kept {self.data_dir} (embedded server left running for reuse)")


@contextlib.contextmanager
def bench_container(
    store: BenchStore, db_name: str, embedder: Embedder, *, fresh: bool
) -> Iterator[Container]:
    """A container on database ``db_name`` of ``store``; ``fresh`` drops the database first."""
    if fresh:
        store.drop_database(db_name)
    container = Container(store.settings(db_name), embedder=embedder)
    try:
        _ = container.database  # start the server, create and migrate the database now
        yield container
    finally:
        container.close()


# --------------------------------------------------------------------------- timing


@dataclass
class StageTimer:
    """Accumulated seconds and call counts per named stage."""

    seconds: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    def wrap(self, stage: str, fn: F) -> F:
        """``fn`` with its time added to ``stage`` on every call."""

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - t0
                self.calls[stage] = self.calls.get(stage, 0) + 1

        return timed  # type: ignore[return-value]


def latency_summary(values_ms: list[float]) -> dict[str, float]:
    """p50, p95, mean and max of latencies in milliseconds."""
    if not values_ms:
        return {"n": 0, "p50_ms": float("nan"), "p95_ms": float("nan"), "mean_ms": float("nan")}
    arr = np.asarray(values_ms, dtype=np.float64)
    return {
        "n": len(values_ms),
        "p50_ms": round(float(np.percentile(arr, 50)), 2),
        "p95_ms": round(float(np.percentile(arr, 95)), 2),
        "mean_ms": round(float(arr.mean()), 2),
        "max_ms": round(float(arr.max()), 2),
    }


# --------------------------------------------------------------------------- reporting


def check(
    label: str, value: float, unit: str, target: float, op: Literal[">=", "<="], *, digits: int = 2
) -> bool:
    """Print ``label: value unit  (target op x: met|MISSED)`` and return whether it is met."""
    met = value >= target if op == ">=" else value <= target
    verdict = "met" if met else "MISSED"
    print(f"  {label:<44} {value:>10.{digits}f} {unit:<12} (target {op} {target:g}: {verdict})")
    return met


def show(label: str, value: float | int | str, unit: str = "", *, digits: int = 2) -> None:
    """Print a figure that has no target."""
    text = f"{value:>10.{digits}f}" if isinstance(value, float) else f"{value!s:>10}"
    print(f"  {label:<44} {text} {unit:<12} (no target)")


def heading(title: str) -> None:
    print(f"\n== {title}")


def emit(figures: dict[str, Any]) -> None:
    """The last line of output: every figure as one JSON object."""
    print(json.dumps(figures, sort_keys=False, default=str), flush=True)


class LogProgress:
    """IngestProgress that logs a line every ``every`` files (benchmarks' own ingests)."""

    def __init__(self, every: int = 50) -> None:
        self.every = every
        self.done = 0
        self.total: int | None = None

    def source_started(self, spec: str, total: int | None) -> None:
        self.total = total
        log(f"  ingesting {spec} ({total} files; unchanged files are skipped)")

    def item_done(self, name: str, status: str, detail: str = "") -> None:
        self.done += 1
        if self.done % self.every == 0 or self.done == self.total:
            log(f"    {self.done}/{self.total} files")
