"""Suspicious-input checks: inputs that are valid but make the scores mean less.

Each check is counted in `manifest.json` and `summary.json` → `input_checks` and, when it fires,
named in one `warning: ...` line. None of them stops the run except `--duplicates error`.
`duplicate_changes` applies `--duplicates` to the unscored repeats at filter time.

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

from seqclean.decide import DROP
from seqclean.errors import InputDataError, UsageError
from seqclean.io import ROW_INDEX

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


def _future_count(seq: pl.LazyFrame, col: str, dtype: pl.DataType) -> int:
    """Timestamps after now. Numbers are read as seconds, ms, us or ns since 1970, guessed from their size."""
    import datetime as dt

    t = pl.col(col)
    if dtype == pl.Date:
        now: Any = dt.date.today()
    elif isinstance(dtype, pl.Datetime):
        now = dt.datetime.now(dt.UTC)
        now = now if dtype.time_zone else now.replace(tzinfo=None)
    elif not dtype.is_numeric():
        return 0  # durations, times of day: no calendar to compare with
    else:
        top = seq.select(t.max()).collect(engine="streaming").item()
        if top is None:
            return 0
        biggest = abs(float(top))
        scale = next((s for s in (1.0, 1e3, 1e6) if biggest < 1e11 * s), 1e9)
        now = time.time() * scale
    return int(seq.select((t > now).sum()).collect(engine="streaming").item() or 0)


def _all_equal(seq: pl.LazyFrame, col: str, dtype: pl.DataType) -> bool:
    """More than one row and a single distinct value (NaN one value of its own), from min, max and counts:
    a streaming aggregate, where `n_unique` would hold every distinct timestamp."""
    t = pl.col(col)
    nan = t.is_nan().sum() if dtype.is_float() else pl.lit(0)
    stats = seq.select(pl.len(), t.min().alias("lo"), t.max().alias("hi"), nan.alias("nan"))
    n, lo, hi, n_nan = stats.collect(engine="streaming").row(0)
    if n <= 1:
        return False
    return bool(n_nan == n or (n_nan == 0 and lo == hi))


def input_checks(
    seq: pl.DataFrame | pl.LazyFrame, catalogue: pl.DataFrame, time_col: str, n_duplicates: int
) -> dict[str, Any]:
    """Counts of every suspicious pattern (see the module docstring); `seq` is the deduplicated log, a frame or
    a lazy scan of `sequences.parquet` (streaming aggregates: memory follows the users, not the log)."""
    lf = seq.lazy()
    dtype = lf.collect_schema()[time_col]
    short = lf.group_by("uid").len().filter(pl.col("len") < MIN_USER_INTERACTIONS).select(pl.len())
    return {
        "duplicate_interactions": int(n_duplicates),
        "items_empty_text": int((catalogue["text"].str.strip_chars().str.len_chars() == 0).sum()),
        "users_under_3_interactions": int(short.collect(engine="streaming").item()),
        "items_not_in_log": int((catalogue["n_interactions"] == 0).sum()),
        "timestamps_in_future": _future_count(lf, time_col, dtype),
        "timestamps_all_equal": _all_equal(lf, time_col, dtype),
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


def duplicate_changes(
    indexed: pl.LazyFrame,
    changed: list[pl.DataFrame] | pl.LazyFrame,
    cols: tuple[str, str, str],
    mode: str,
    keep_last: int = 0,
) -> pl.DataFrame:
    """Rows for the exact repeats of an earlier (user, item, time) row, which were not scored.

    `drop`: every repeat is dropped (a logging fault, not a user signal). `keep`: a repeat follows its
    first row: dropped or replaced with it, otherwise kept (no row here). A repeat among its user's last
    `keep_last` rows of the input (time order, ties by row) is never changed: `--keep-last` means never
    (a leave-one-out target that repeats a training row must stay the target).

    `indexed` holds whole users (the log, or a piece of it cut by user); `changed` the scored rows' changes
    (frames, or a lazy scan of them: only the repeats' first rows are looked up, the repeats' side hashed).
    """
    u, i, t = cols
    rows = indexed.select(ROW_INDEX, u, i, t).with_columns(pl.col(ROW_INDEX).min().over([u, i, t]).alias("_first"))
    if keep_last > 0:
        rows = rows.sort([u, t, ROW_INDEX]).filter(pl.len().over(u) - 1 - pl.int_range(pl.len()).over(u) >= keep_last)
    dups = rows.filter(pl.col(ROW_INDEX) != pl.col("_first")).sort(ROW_INDEX).collect()
    if mode == "drop":
        return dups.select(
            ROW_INDEX,
            u,
            i,
            t,
            pl.lit(DROP).alias("decision"),
            pl.format("exact duplicate of row {} (--duplicates drop)", "_first").alias("reason"),
        )
    if isinstance(changed, list):
        firsts = [c for c in changed if c.height]
        if not firsts:
            return dups.head(0).select(ROW_INDEX, u, i, t)
        changed = pl.concat(firsts, how="diagonal_relaxed").lazy()
    base = changed.drop(u, i, t, "position", strict=False).rename({ROW_INDEX: "_first"})
    found = base.join(dups.lazy(), on="_first", how="inner").collect(engine="streaming")
    return (
        found.select(*dups.columns, *(c for c in found.columns if c not in dups.columns))
        .sort(ROW_INDEX)
        .with_columns(pl.format("same as row {}, its exact duplicate: {}", "_first", "reason").alias("reason"))
        .drop("_first")
    )
