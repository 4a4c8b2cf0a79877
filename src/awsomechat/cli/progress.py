"""Rich progress bars for long commands."""

from __future__ import annotations

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


def make_progress(console: Console) -> Progress:
    return Progress(
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
