"""Progress reporting as a parameter: library functions call a `ProgressFn`, the CLI renders it.

A `ProgressFn` is called as ``progress(task, done, total)``: ``task`` names the unit of work,
``done`` is the cumulative count finished so far and ``total`` the expected count (or None).
"""

from __future__ import annotations

from collections.abc import Callable

ProgressFn = Callable[[str, int, int | None], None]


def no_progress(task: str, done: int, total: int | None) -> None:
    """The default: report nothing (cron, tests, library use)."""
