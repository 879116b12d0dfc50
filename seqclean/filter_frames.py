"""Frames `filter` works on: the scores read in chunks of whole users, and the changed rows (every
optional column present) spilled to disk and read back by row_index range, so memory follows the chunk
size, never the log or the number of changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from seqclean.io import ROW_INDEX, input_errors

PART_ROW_GROUP = 65_536  # rows per row group of the spilled changes
MAX_GROUPS = 16  # spilled-change files open at once (one writer each)


def user_chunks(path: Path, columns: list[str], user: str, rows: int) -> Iterator[pl.DataFrame]:
    """Frames of whole users, about `rows` rows each: the rows of the last user of a batch are
    carried into the next batch, so a user is never split."""
    carry: pl.DataFrame | None = None
    with input_errors(path):
        for frame in _batches(path, columns, rows):
            if carry is not None:
                frame = pl.concat([carry, frame])
            last = frame[user][-1]
            is_last = (frame[user] == last).to_numpy()
            cut = int(np.argmax(is_last))
            if cut == 0:  # the whole frame is one user so far
                carry = frame
                continue
            carry = frame[cut:]
            yield frame[:cut]
    if carry is not None and carry.height:
        yield carry


def _batches(path: Path, columns: list[str], rows: int) -> Iterator[pl.DataFrame]:
    """Frames of `rows` rows (the last one shorter): slices of a Polars scan, which reads only the row
    groups a slice needs (pyarrow's `iter_batches` read ahead: 424 MiB at 10M rows vs 147)."""
    scan = pl.scan_parquet(path).select(columns)
    n = int(scan.select(pl.len()).collect().item())
    for lo in range(0, n, rows):
        yield scan.slice(lo, rows).collect()


def change_schema(read_cols: list[str], schema: pl.Schema, item: str) -> pl.Schema:
    """Columns of a changed row: the scores read, every optional column (null if absent), the decision."""
    want = pl.Schema({c: schema[c] for c in read_cols})
    extra: dict[str, Any] = {
        "uncertainty": schema.get("uncertainty", pl.Float32),
        "suggested_item": schema.get("suggested_item", schema[item]),
        "suggestion_confidence": schema.get("suggestion_confidence", pl.Float32),
        "decision": pl.String,
        "guard": pl.String,
        "reason": pl.String,
    }
    for c, t in extra.items():
        want[c] = t
    return want


class Changes:
    """The changed rows, spilled to Parquet files in a temporary folder and read back one row_index range at
    a time, so memory follows a range, not the number of changes.

    The row_index span of the log is cut into at most `MAX_GROUPS` groups of whole ranges (`rows` each), and
    each group has one open Parquet writer: a chunk's changes (users in score order, rows all over the log)
    go to their groups' writers, and a range is read from its group's files alone. One file per chunk
    instead made every range read open every file (memory growing with the log). `seal()` closes the
    writers (`scan` and `between` read sealed files only); later changes go to new files."""

    def __init__(self, folder: Path, schema: pl.Schema, n_rows: int, rows: int) -> None:
        self.folder, self.schema, self.rows = folder, schema, rows
        ranges = max(1, -(-n_rows // rows))
        self.span = rows * -(-ranges // min(ranges, MAX_GROUPS))  # row_index span of a group: whole ranges
        self.sealed: dict[int, list[Path]] = {}
        self.writers: dict[int, Any] = {}
        self.generation = 0

    def add(self, frame: pl.DataFrame) -> None:
        import pyarrow.parquet as pq

        if not frame.height:
            return
        missing = [pl.lit(None, dtype=t).alias(c) for c, t in self.schema.items() if c not in frame.columns]
        f = frame.with_columns(missing).select([pl.col(c).cast(t) for c, t in self.schema.items()])
        f = f.with_columns((pl.col(ROW_INDEX) // self.span).cast(pl.Int64).alias("_group")).sort(ROW_INDEX)
        for (g,), part in f.partition_by("_group", as_dict=True, include_key=False).items():
            table = part.to_arrow()
            if g not in self.writers:
                path = self.folder / f"changes-{self.generation}-{g:03d}.parquet"
                self.writers[g] = (pq.ParquetWriter(path, table.schema), path)
            self.writers[g][0].write_table(table, row_group_size=PART_ROW_GROUP)

    def seal(self) -> None:
        for g, (writer, path) in sorted(self.writers.items()):
            writer.close()
            self.sealed.setdefault(g, []).append(path)
        self.writers = {}
        self.generation += 1

    def scan(self, group: int | None = None) -> pl.LazyFrame:
        """The sealed changes (of one group), in no particular order."""
        files = [p for g, ps in sorted(self.sealed.items()) if group in (None, g) for p in ps]
        return pl.scan_parquet(files) if files else pl.LazyFrame(schema=self.schema)

    def between(self, lo: int, hi: int) -> pl.DataFrame:
        """The changes with row_index in [lo, hi), sorted by row_index ([lo, hi) inside one group)."""
        rows = self.scan(lo // self.span).filter(pl.col(ROW_INDEX).is_between(lo, hi - 1))
        return rows.sort(ROW_INDEX).collect()
