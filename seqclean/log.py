"""What the CLI shows while it works: rich on a terminal, one JSON object per event otherwise.

Library functions only take a `ProgressFn` (and `pipeline.run` an event callback); this module owns the
display. Formats:

- `rich` (default on a terminal): progress bars and `warning:` / `error:` lines on stderr; the result line and
  (for `run`) a summary table with each stage's seconds on stdout.
- `json` (`--log-format json`, or the default when stderr is not a terminal: cron, pipes): one JSON object per
  line on stderr, `{"time": ISO-8601 UTC, "event": ..., ...}`, events `start`, `stage_start`, `stage_end`
  (with `seconds` and counts), `progress` (at most one per task every `PROGRESS_EVERY_S` seconds, and the
  last), `warning`, `result` and `error` (with `exit_code`). Nothing is written to stdout in this mode.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

from seqclean.progress import ProgressFn, no_progress, rich_bars

PROGRESS_EVERY_S = 10.0
FORMATS = ("auto", "rich", "json")


def resolve_format(fmt: str, stream: TextIO | None = None) -> str:
    """`auto` -> `rich` when `stream` (stderr) is a terminal, else `json`."""
    if fmt != "auto":
        return fmt
    s = stream if stream is not None else sys.stderr
    try:
        return "rich" if s.isatty() else "json"
    except (AttributeError, ValueError):
        return "json"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


class EventLog:
    """Events and progress for one command; `fmt` is `rich` or `json` (see `resolve_format`)."""

    def __init__(self, fmt: str, quiet: bool = False, err: TextIO | None = None, out: TextIO | None = None) -> None:
        self.fmt = resolve_format(fmt, err)
        self.quiet = quiet
        self.err = err if err is not None else sys.stderr
        self.out = out if out is not None else sys.stdout
        self._stage_t0: dict[str, float] = {}

    @property
    def json(self) -> bool:
        return self.fmt == "json"

    def emit(self, event: str, **fields: Any) -> None:
        """One event: a JSON line (json), or a readable line on stderr for warnings and finished stages (rich)."""
        if self.json:
            obj = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": event, **fields}
            self.err.write(json.dumps(_jsonable(obj), separators=(",", ":")) + "\n")
            self.err.flush()
            return
        if event == "warning":
            self.err.write(f"warning: {fields.get('message', '')}\n")
        elif event == "error":
            self.err.write(f"error: {fields.get('message', '')}\n")
        self.err.flush()

    def stage_start(self, stage: str, **fields: Any) -> None:
        self._stage_t0[stage] = time.perf_counter()
        self.emit("stage_start", stage=stage, **fields)

    def stage_end(self, stage: str, **fields: Any) -> None:
        t0 = self._stage_t0.pop(stage, None)
        seconds = round(time.perf_counter() - t0, 3) if t0 is not None else None
        self.emit("stage_end", stage=stage, seconds=seconds, **fields)

    def on_event(self, event: str, fields: dict[str, Any]) -> None:
        """The callback `pipeline.run` calls (`stage_start`, `stage_end`, `warning`)."""
        if event == "stage_start":
            self.stage_start(**fields)
        elif event == "stage_end":
            self.stage_end(**fields)
        else:
            self.emit(event, **fields)

    def result(self, message: str, table: list[tuple[str, Any]] | None = None, **fields: Any) -> None:
        """The command's outcome: a summary line (and table) on stdout (rich), or a `result` event (json)."""
        if self.json:
            self.emit("result", message=message, **fields)
            return
        if self.quiet:
            return
        self.out.write(message + "\n")
        self.out.flush()
        if table:
            from rich.console import Console
            from rich.table import Table

            t = Table(show_header=False)
            t.add_column("", style="bold")
            t.add_column("")
            for k, v in table:
                t.add_row(k, str(v))
            Console(file=self.out).print(t)

    @contextmanager
    def progress(self) -> Iterator[ProgressFn]:
        """A `ProgressFn`: rich bars on a terminal, throttled `progress` events in json mode, or nothing."""
        if self.quiet:
            yield no_progress
            return
        if self.json:
            last: dict[str, float] = {}

            def emit_progress(task: str, done: int, total: int | None) -> None:
                key = task.split(" | ")[0]
                now = time.monotonic()
                if total is not None and done >= total or now - last.get(key, -1e9) >= PROGRESS_EVERY_S:
                    last[key] = now
                    self.emit("progress", task=task, done=done, total=total)

            yield emit_progress
            return
        with rich_bars(self.err) as update:
            yield update
