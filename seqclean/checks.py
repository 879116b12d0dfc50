"""Suspicious-input checks: inputs that are valid but make the scores mean less.

Each check is counted in `manifest.json` and `summary.json` → `input_checks` and, when it fires,
named in one `warning: ...` line. None of them stops the run except `--duplicates error`.

Why these: exact duplicate interactions (same user, item and time) are logging faults that look
like strong repeat signals and inflate the noise estimate; items with empty text have no semantic
evidence; users with fewer than 3 interactions give the backbone nothing to learn from; items never
seen in the log are dead weight; timestamps in the future or all equal mean the sequence order is
not what the log says.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import polars as pl

from seqclean.errors import InputDataError, UsageError

DUPLICATE_MODES = ("drop", "keep", "error")
MIN_USER_INTERACTIONS = 3


def validate_duplicates_mode(mode: str) -> None:
    if mode not in DUPLICATE_MODES:
        raise UsageError(f"--duplicates {mode}: choose one of {', '.join(DUPLICATE_MODES)}")


def refuse_duplicates(path: Path, n_dup: int, example: tuple[Any, Any, Any], cols: tuple[str, str, str]) -> None:
    """`--duplicates error`: stop with exit 4, naming one duplicated interaction."""
    u, i, t = cols
    raise InputDataError(
        f"{path}: {n_dup} exact duplicate interactions (same {u}, {i} and {t}; e.g. {u}={example[0]}, "
        f"{i}={example[1]}, {t}={example[2]}); deduplicate the log, or pass --duplicates drop or keep"
    )


def _now_in_units(dtype: pl.DataType, max_value: float) -> Any:
    """The current time as a value comparable with the timestamp column (numbers: unit guessed from size)."""
    now = time.time()
    if dtype == pl.Date:
        import datetime as dt

        return dt.date.today()
    if dtype.is_temporal():
        import datetime as dt

        tz = getattr(dtype, "time_zone", None)
        now_dt = dt.datetime.now(dt.UTC)
        return now_dt if tz else now_dt.replace(tzinfo=None)
    for scale in (1.0, 1e3, 1e6, 1e9):  # seconds, ms, us, ns since the epoch
        if abs(max_value) < 1e11 * scale:
            return now * scale
    return now * 1e9


def input_checks(seq: pl.DataFrame, catalogue: pl.DataFrame, time_col: str, n_duplicates: int) -> dict[str, Any]:
    """Counts of every suspicious pattern (see the module docstring); `seq` is the deduplicated log."""
    lengths = seq.group_by("uid").len()
    t = seq[time_col]
    future = 0
    if t.len() and t.dtype != pl.Time:
        tmax = t.max()
        numeric_max = float(tmax) if t.dtype.is_numeric() and tmax is not None else 0.0  # type: ignore[arg-type]
        now = _now_in_units(t.dtype, numeric_max)
        future = int((t > now).sum())
    return {
        "duplicate_interactions": int(n_duplicates),
        "items_empty_text": int((catalogue["text"].str.strip_chars().str.len_chars() == 0).sum()),
        "users_under_3_interactions": int((lengths["len"] < MIN_USER_INTERACTIONS).sum()),
        "items_not_in_log": int((catalogue["n_interactions"] == 0).sum()),
        "timestamps_in_future": future,
        "timestamps_all_equal": bool(t.len() > 1 and t.n_unique() == 1),
    }


def warnings_for(checks: dict[str, Any], interactions: Path, items: Path, duplicates: str) -> list[str]:
    """One line per check that fired, naming the file, the count and what seqclean did about it."""
    out = []
    n = checks.get("duplicate_interactions", 0)
    if n:
        what = {
            "drop": "scored once and the repeats dropped from the cleaned log",
            "keep": "scored once; the repeats are kept and follow their first row's decision",
        }[duplicates]
        out.append(
            f"{interactions}: {n} exact duplicate interactions (same user, item and time): {what} "
            f"(--duplicates {duplicates})"
        )
    n = checks.get("items_empty_text", 0)
    if n:
        out.append(
            f"{items}: {n} items have empty text (null or blank text columns) and get no semantic evidence; "
            "fill their text or choose other --text-cols"
        )
    n = checks.get("users_under_3_interactions", 0)
    if n:
        out.append(
            f"{interactions}: {n} users have fewer than {MIN_USER_INTERACTIONS} interactions; their scores rest on "
            "little evidence and the backbone cannot learn from them"
        )
    n = checks.get("items_not_in_log", 0)
    if n:
        out.append(f"{items}: {n} items never occur in the log (encoded, but unused)")
    n = checks.get("timestamps_in_future", 0)
    if n:
        out.append(
            f"{interactions}: {n} interactions have timestamps in the future; check the time column and its unit"
        )
    if checks.get("timestamps_all_equal"):
        out.append(
            f"{interactions}: all timestamps are equal, so sequence order is the row order of the file; "
            "pass the right column with --time-col"
        )
    return out
