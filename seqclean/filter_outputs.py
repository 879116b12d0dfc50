"""`filter`'s outputs and its unscored duplicates, streamed from the input log and the spilled changes.

Why a module of its own: the outputs used to be two joins of the whole log against every change held in
memory (a hash table of the changes, about 10% of the log). Here the input log is read one range of
`chunk_rows` rows at a time (a slice of the scan, in row order), joined with the changes in the same
row_index range (`filter_frames.Changes.between`), and the pieces stream into one `sink_parquet` per
output (`spill.scan_frames`): the same rows, order and bytes as before, with memory following the range.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl

from seqclean.checks import duplicate_changes
from seqclean.decide import DROP, REPLACE
from seqclean.filter_frames import Changes
from seqclean.io import ROW_INDEX, input_errors, write_parquet
from seqclean.spill import partition, scan_frames
from seqclean.stages import kill_point
from seqclean.workdir import CHANGES, CLEANED, REMOVED

Transform = Callable[[pl.DataFrame, pl.DataFrame], pl.DataFrame]


def add_duplicates(
    indexed: pl.LazyFrame,
    changes: Changes,
    cols: tuple[str, str, str],
    mode: str,
    keep_last: int,
    n_input: int,
    rows: int,
    tmp: Path,
) -> dict[str, int]:
    """Spill the decisions of the exact repeats (`checks.duplicate_changes`) and count them. A log of more
    than `rows` rows is first cut into pieces of whole users (a hash of the user id, one streaming pass), so
    the windows over (user, item, time) hold one piece at a time."""
    u = cols[0]
    scored = changes.scan()  # the scored rows' changes: what a repeat follows in keep mode
    pieces = -(-n_input // rows)
    if pieces > 1:
        key = pl.col(u).hash(seed=0) % pieces
        piece = partition(indexed.select(ROW_INDEX, *cols), key, tmp)
        parts: Iterator[pl.LazyFrame] = (piece(k) for k in range(pieces))
    else:
        parts = iter([indexed])
    counts = {"rows": 0, DROP: 0, REPLACE: 0}
    for lf in parts:
        d = duplicate_changes(lf, scored, cols, mode, keep_last)
        changes.add(d)
        counts["rows"] += d.height
        for k in (DROP, REPLACE):
            counts[k] += int((d["decision"] == k).sum()) if "decision" in d.columns else 0
    changes.seal()
    return counts


def _unresolved(lf: pl.LazyFrame) -> pl.LazyFrame:
    """A copy of the scan `lf` without the state `collect_schema()` leaves on it: a row index added to a
    resolved scan made each slice read the log from its start (40 slices of 250,000 rows of a 10M-row Parquet
    log: 4.5 s instead of 0.3 s, Polars 2.1), so the ranges cost the square of the log. A plan that cannot
    be serialised is used as it is."""
    import io

    try:
        return pl.LazyFrame.deserialize(io.BytesIO(lf.serialize()))
    except Exception:  # e.g. a Python scan (MovieLens / RecBole readers): slower, same rows
        return lf


def write_outputs(
    cfg: Any, input_path: Path, log: pl.LazyFrame, log_cols: pl.Schema, changes: Changes, cols: dict[str, Any]
) -> None:
    """Apply the changes to the input by row_index; write cleaned, then removed (or changes, replace mode)."""
    user, item, time = cols["user"], cols["item"], cols["time"]
    indexed = _unresolved(log).with_row_index(ROW_INDEX)
    n_input = int(indexed.select(pl.len()).collect().item())
    ranges = [(lo, min(lo + cfg.chunk_rows, n_input)) for lo in range(0, n_input, cfg.chunk_rows)]

    def cleaned(batch: pl.DataFrame, ch: pl.DataFrame) -> pl.DataFrame:
        drops = ch.filter(pl.col("decision") == DROP).select(ROW_INDEX)
        out = batch.join(drops, on=ROW_INDEX, how="anti", maintain_order="left")
        if cfg.mode == "replace":
            reps = ch.filter(pl.col("decision") == REPLACE).select(ROW_INDEX, pl.col("suggested_item").alias("_s"))
            out = out.join(reps, on=ROW_INDEX, how="left", maintain_order="left").with_columns(
                pl.coalesce(pl.col("_s").cast(log_cols[item]), pl.col(item)).alias(item)
            )
        return out.select(log_cols.names())

    def removed(batch: pl.DataFrame, ch: pl.DataFrame) -> pl.DataFrame:
        extra = ch.select(ROW_INDEX, "noise_score", "uncertainty", "reason")
        out = batch.join(extra, on=ROW_INDEX, how="inner", maintain_order="left")
        return out.select(*log_cols.names(), ROW_INDEX, "noise_score", "uncertainty", "reason")

    def audit(batch: pl.DataFrame, ch: pl.DataFrame) -> pl.DataFrame:
        return ch.select(
            ROW_INDEX,
            user,
            time,
            pl.col(item).alias("original_item"),
            "suggested_item",
            "suggestion_confidence",
            "noise_score",
            "uncertainty",
            "decision",
            "reason",
        )

    def stream(transform: Transform, read_log: bool) -> pl.LazyFrame:
        def frames() -> Iterator[pl.DataFrame]:
            for lo, hi in ranges:
                batch = indexed.slice(lo, hi - lo).collect() if read_log else empty_log
                yield transform(batch, changes.between(lo, hi))

        schema = transform(empty_log, pl.DataFrame(schema=changes.schema)).schema
        return scan_frames(frames, schema, "filter ranges")

    with input_errors(input_path):
        empty_log = indexed.clear().collect()
        write_parquet(stream(cleaned, True), cfg.out / CLEANED)
        kill_point("filter-cleaned")
        if cfg.mode == "replace":
            write_parquet(stream(audit, False), cfg.out / CHANGES)
        else:
            write_parquet(stream(removed, True), cfg.out / REMOVED)
