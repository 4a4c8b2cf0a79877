"""Rich progress bars for long commands; plain lines every half minute when output is not a
terminal (a log file, CI, ``nohup``), where a live bar would print nothing until the end."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class _Progress(Progress):
    """A ``Progress`` that, off a terminal, prints ``description: done/total elapsed`` lines."""

    log_every_s = 30.0

    def __init__(self, *columns: Any, console: Console, **kwargs: Any) -> None:
        super().__init__(*columns, console=console, **kwargs)
        self._plain = not console.is_terminal
        self._last_line: dict[TaskID, float] = {}

    def update(self, task_id: TaskID, **kwargs: Any) -> None:
        super().update(task_id, **kwargs)
        if not self._plain:
            return
        now = time.monotonic()
        task = self._tasks[task_id]
        done = task.total is not None and task.completed >= task.total
        if not done and now - self._last_line.setdefault(task_id, now) < self.log_every_s:
            return
        self._last_line[task_id] = now
        total = f"/{task.total:.0f}" if task.total is not None else ""
        share = f" ({task.percentage:.0f}%)" if task.total else ""
        current = task.fields.get("current", "")
        self.console.print(
            f"{task.description}: {task.completed:.0f}{total}{share}, "
            f"{task.elapsed or 0:.0f} s elapsed {current}",
            highlight=False,
            markup=False,
        )


def make_progress(console: Console) -> Progress:
    return _Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[current]}", style="dim"),
        console=console,
        transient=False,
    )


class IngestBar:
    """Implements ``IngestProgress``: one bar per source, failures printed as they happen."""

    def __init__(self, progress: Progress, verbose: bool = False) -> None:
        self._progress = progress
        self._task: TaskID | None = None
        self._verbose = verbose

    def source_started(self, spec: str, total: int | None) -> None:
        if self._task is not None:
            self._progress.update(self._task, visible=True)
        self._task = self._progress.add_task(spec, total=total, current="")

    def item_done(self, name: str, status: str, detail: str = "") -> None:
        if status == "failed":
            self._progress.console.print(f"[red]failed[/] {name}: {detail}", highlight=False)
        elif status == "deleted" or self._verbose:
            self._progress.console.print(f"[dim]{status}[/] {name} {detail}", highlight=False)
        if self._task is not None and status != "deleted":
            self._progress.update(self._task, advance=1, current=name[-40:])


class CountBar:
    """Implements ``ReindexProgress`` and other counted work."""

    def __init__(self, progress: Progress, description: str) -> None:
        self._progress = progress
        self._description = description
        self._task: TaskID | None = None

    def started(self, total: int) -> None:
        self._task = self._progress.add_task(self._description, total=total, current="")

    def advanced(self, n: int) -> None:
        if self._task is not None:
            self._progress.update(self._task, advance=n)
