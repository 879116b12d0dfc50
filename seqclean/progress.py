"""Progress reporting as a parameter: library functions call a `ProgressFn`, the CLI renders it
(`terminal_progress`: a rich bar on a terminal, silence elsewhere).

A `ProgressFn` is called as ``progress(task, done, total)``: ``task`` names the unit of work,
``done`` is the cumulative count finished so far and ``total`` the expected count (or None).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

ProgressFn = Callable[[str, int, int | None], None]


def no_progress(task: str, done: int, total: int | None) -> None:
    """The default: report nothing (cron, tests, library use)."""


@contextmanager
def rich_bars(file: TextIO | None = None) -> Iterator[ProgressFn]:
    """A `ProgressFn` drawing one rich bar per task on `file` (default: the console's stdout)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    tasks: dict[str, Any] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
        console=Console(file=file),
    ) as bar:

        def update(task: str, done: int, total: int | None) -> None:
            # "train sasrec | loss 7.12 | ..." updates the row of "train sasrec"
            key = task.split(" | ")[0]
            if key not in tasks:
                tasks[key] = bar.add_task(task, total=total)
            bar.update(tasks[key], completed=done, total=total, description=task)

        yield update


@contextmanager
def terminal_progress(quiet: bool) -> Iterator[ProgressFn]:
    """A rich progress display on a terminal; silence otherwise (cron, pipes, tests)."""
    if quiet or not sys.stdout.isatty():
        yield no_progress
        return
    with rich_bars() as update:
        yield update
