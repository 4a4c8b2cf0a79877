"""examples/awsomechat-lab.ipynb executed end to end (nbclient, a real Jupyter kernel) against a
live server with the small model, so the lab notebook cannot rot: its cells assert what they show."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from awsomechat.seams import Embedder
from tests.api.conftest import ARTIFACTS
from tests.live import LiveServer, live_server

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "awsomechat-lab.ipynb"


@pytest.fixture(scope="module")
def server(data_dir: Path, embedder: Embedder) -> Iterator[LiveServer]:
    with live_server(data_dir, embedder, ARTIFACTS / "logs") as s:  # an empty store: the notebook ingests
        yield s


def _output_text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", "") or str(out.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


@pytest.mark.slow
def test_the_lab_notebook_runs_end_to_end(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit it without outputs"
    monkeypatch.setenv("AWSOMECHAT_URL", server.url)  # the kernel inherits the environment
    monkeypatch.setenv("AWSOMECHAT_API_KEY", server.admin_key)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, if any cell fails
    out = _output_text(nb)
    (ARTIFACTS / "notebook").mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, ARTIFACTS / "notebook" / NOTEBOOK.name)  # the executed copy, for a reader
    assert "signed in to" in out and "succeeded" in out
    assert "1. Returns policy <upload://lab/returns.md>" in out
    assert "retrieval hit rate @1:" in out
    assert "left: []" in out
    with server.client(server.admin_key) as c:  # the notebook's turns really went through the service
        sessions = c.get("/v1/sessions").json()["sessions"]
        assert len(sessions) >= 4 and any(s["message_count"] == 2 for s in sessions)
        assert c.get("/v1/documents").json()["documents"] == []  # and it cleaned up
