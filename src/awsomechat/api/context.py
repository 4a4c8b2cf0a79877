"""What the routes share within one app: settings, the container, keys, jobs, metrics, the gate."""

from __future__ import annotations

import time
from dataclasses import dataclass

from fastapi import Request

from awsomechat.api.gate import GenerationGate
from awsomechat.api.metrics import Metrics
from awsomechat.container import Container
from awsomechat.settings import Settings


@dataclass
class ApiContext:
    settings: Settings
    container: Container
    metrics: Metrics
    gate: GenerationGate
    # After the database failed a request, requests fail fast (503) for a moment instead of each
    # waiting the pool's checkout timeout; the first request after the pause probes again.
    db_failed_at: float = -1e9
    warming: bool = False  # the start-up warm-up (store, embedder, model) is still running
    uploads_in_progress: int = 0  # bodies being received now (api.max_concurrent_uploads)

    def database_failed(self) -> None:
        self.db_failed_at = time.monotonic()

    def database_recently_failed(self, pause_s: float = 2.0) -> bool:
        return time.monotonic() - self.db_failed_at < pause_s


async def get_context(request: Request) -> ApiContext:  # async: no thread hop per request
    ctx: ApiContext = request.app.state.ctx
    return ctx
