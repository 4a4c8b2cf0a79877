"""Starts the model runner, watches it, restarts it with backoff; gives up after a crash loop.

Lives in the ``awsomechat serve`` process (a thread), so there is one runner per ``serve``, shared
by every uvicorn worker. Its view of the runner (state, pid, restarts, last error) goes to a state
file beside the runner's socket, which the workers read for ``/readyz`` and before each answer.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from awsomechat.runner.state import RunnerState, State
from awsomechat.settings import LlamaCppSettings

log = logging.getLogger("awsomechat.runner.supervisor")

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """The runner gets SIGTERM if the serve process dies without stopping it (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def exit_reason(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}"
    return f"exited with code {code}"


class RunnerSupervisor:
    """``start()`` launches the runner and a watcher thread; ``stop()`` ends both."""

    def __init__(self, socket_path: Path, llm: LlamaCppSettings, env: dict[str, str] | None = None) -> None:
        self.socket_path = socket_path
        self.state_path = socket_path.with_suffix(".json")
        self._llm = llm
        self._env = env
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._crashes: collections.deque[float] = collections.deque()
        self._restarts = 0
        self._last_error: str | None = None
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=12)
        self.state = RunnerState("stopped")

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._watch, name="model-runner-supervisor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        self._publish("stopped", pid=None)
        self.socket_path.unlink(missing_ok=True)

    def wait_ready(self, timeout: float) -> RunnerState:
        """Block until the runner is ready or failed (or ``timeout``); the last state seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.state.state not in ("ready", "failed"):
            time.sleep(0.1)
        return self.state

    # -- the watcher -----------------------------------------------------------------------------
    def _publish(
        self,
        state: State,
        *,
        pid: int | None,
        retry_at: float | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        self.state = RunnerState(
            state, pid=pid, restarts=self._restarts, last_error=self._last_error, retry_at=retry_at,
            info=info or {},
        )  # fmt: skip
        try:
            self.state.write(self.state_path)
        except OSError as exc:  # the workers then see no state: they report the runner as unknown
            log.warning("could not write %s: %s", self.state_path, exc)

    def _spawn(self) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "awsomechat.runner", "--listen", self.url]
        env = {**os.environ, **(self._env or {})}
        env.pop("AWSOMECHAT_LLM__RUNNER_URL", None)  # the runner itself loads the model
        return subprocess.Popen(
            cmd, env=env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_die_with_parent
        )

    def _pump_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        """Copy the runner's log to ours and keep its last lines for the error report."""
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self._stderr_tail.append(line)
                sys.stderr.write(f"[model-runner] {line}\n")

    def _health(self) -> dict[str, Any] | None:
        transport = httpx.HTTPTransport(uds=str(self.socket_path))
        try:
            with httpx.Client(transport=transport, base_url="http://runner", timeout=2.0) as client:
                resp = client.get("/health")
                return resp.json() if resp.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None

    def _run_once(self) -> str | None:
        """Start the runner and watch it until it exits; the reason it ended (None: stopped by us)."""
        self._stderr_tail.clear()
        proc = self._proc = self._spawn()
        pump = threading.Thread(target=self._pump_stderr, args=(proc,), daemon=True)
        pump.start()
        self._publish("starting", pid=proc.pid)
        log.info("model runner starting (pid %d)", proc.pid)
        deadline = time.monotonic() + self._llm.runner_start_timeout_s
        ready = False
        while proc.poll() is None and not self._stopping.is_set():
            if not ready:
                info = self._health() if self.socket_path.exists() else None
                if info is not None:
                    ready = True
                    self._publish("ready", pid=proc.pid, info=info)
                    log.info("model runner ready (pid %d, restarts %d)", proc.pid, self._restarts)
                elif time.monotonic() > deadline:
                    proc.kill()
                    proc.wait()
                    pump.join(timeout=2)
                    return f"not ready within {self._llm.runner_start_timeout_s:.0f} s (load + self-test)"
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.05 if ready else 0.2)
        if self._stopping.is_set():
            return None
        pump.join(timeout=2)
        reason = exit_reason(proc.returncode or 0)
        phase = "while serving" if ready else "while loading or in its self-test"
        tail = " | ".join(list(self._stderr_tail)[-3:])
        return f"{reason} {phase}" + (f": {tail}" if tail else "")

    def _watch(self) -> None:
        window = self._llm.runner_restart_window_s
        while not self._stopping.is_set():
            reason = self._run_once()
            if reason is None:
                return
            now = time.monotonic()
            self._crashes.append(now)
            while self._crashes and now - self._crashes[0] > window:
                self._crashes.popleft()
            self._last_error = reason
            log.error("model runner %s", reason)
            if len(self._crashes) > self._llm.runner_max_restarts:
                self._publish("failed", pid=None)
                log.error(
                    "model runner crashed %d times within %.0f s; it stays down (answers get 503): %s",
                    len(self._crashes), window, reason,
                )  # fmt: skip
                return
            backoff = min(self._llm.runner_backoff_max_s, 0.5 * 2 ** (len(self._crashes) - 1))
            self._publish("restarting", pid=None, retry_at=time.time() + backoff)
            if self._stopping.wait(backoff):
                return
            self._restarts += 1
