"""The runner's state as the supervisor sees it, shared with the API workers through a JSON file.

The supervisor (in the ``serve`` process) is the only writer; workers read it for ``/readyz`` and
before each answer. Writes are atomic (``os.replace``), so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

State = Literal["starting", "ready", "restarting", "failed", "stopped"]


@dataclass(frozen=True)
class RunnerState:
    state: State
    pid: int | None = None
    restarts: int = 0
    last_error: str | None = None
    since: float = field(default_factory=time.time)
    retry_at: float | None = None  # when a restarting runner is started again (epoch seconds)
    info: dict[str, Any] = field(default_factory=dict)  # model, self-test figures, CPU/build features

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    def retry_after_s(self, default: int) -> int:
        if self.retry_at is None:
            return default
        return max(1, round(self.retry_at - time.time()))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, path: Path) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.to_json()), encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: Path) -> RunnerState | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        with contextlib.suppress(TypeError):
            return cls(**data)
        return None


def unix_socket_path(url: str) -> Path | None:
    """The socket file of a ``unix:///…`` runner URL (None for http URLs)."""
    return Path(url[len("unix://") :]) if url.startswith("unix://") else None


def state_path(url: str) -> Path | None:
    """Where the supervisor of a runner on a unix socket keeps its state (None: not supervised here)."""
    sock = unix_socket_path(url)
    return sock.with_suffix(".json") if sock is not None else None
