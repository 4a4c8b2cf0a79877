"""llama.cpp's own OpenAI-compatible server on a loopback port, serving the small packaged model:
the real peer of the ``openai`` backend (and of a Lambda function's remote model) in tests."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.live import free_port


@contextmanager
def llama_server(log_dir: Path) -> Iterator[str]:
    """The server's ``/v1`` base URL while it runs."""
    from awsomechat.chat.models.packaged import small_model_path

    port = free_port()
    log = (log_dir / "server.log").open("w+b")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(small_model_path()), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--model_alias", "smol"],
        stdout=log, stderr=subprocess.STDOUT,  # a file, not a pipe: a full pipe would stall the server
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                if httpx.get(f"{base}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(
                    "llama_cpp.server did not start:\n" + log.read().decode(errors="replace")[-2000:]
                )
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
