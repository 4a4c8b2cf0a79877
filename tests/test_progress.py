"""Progress off a terminal: plain lines a log file shows while the work runs, not only at the end."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from awsomechat.cli import progress


def test_progress_prints_plain_lines_when_output_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress._Progress, "log_every_s", 0.0)
    out = io.StringIO()
    with progress.make_progress(Console(file=out, force_terminal=False)) as bars:
        bar = progress.IngestBar(bars)
        bar.source_started("docs/", 2)
        bar.item_done("a.md", "added")
        assert "docs/: 1/2 (50%)" in out.getvalue()  # printed before the work ends
        bar.item_done("b.md", "added")
    assert "docs/: 2/2 (100%)" in out.getvalue()


def test_progress_lines_are_throttled(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    with progress.make_progress(Console(file=out, force_terminal=False)) as bars:
        bar = progress.CountBar(bars, "reindex")
        bar.started(1000)
        for _ in range(999):
            bar.advanced(1)
        assert "reindex:" not in out.getvalue()  # under 30 s: no line yet
        bar.advanced(1)
    assert out.getvalue().count("reindex: 1000/1000") == 1
