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

PART_ROW_GROUP = 16_384  # rows per row group of a spilled part: what a row_index range read skips by


def user_chunks(path: Path, columns: list[str], user: str, rows: int) -> Iterator[pl.DataFrame]:
    """Frames of whole users, about `rows` rows each: the rows of the last user of a batch are
    carried into the next batch, so a user is never split."""
    import pyarrow.parquet as pq

    carry: pl.DataFrame | None = None
    with input_errors(path):
        pf = pq.ParquetFile(path)
        for batch in pf.iter_batches(batch_size=rows, columns=columns):
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
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
    """The changed rows, spilled to Parquet parts in a temporary folder (one part per chunk, each sorted by
    row_index, small row groups) and read back one row_index range at a time: the row-group statistics let
    a range read skip the rest, so memory follows a range, not the number of changes."""

    def __init__(self, folder: Path, schema: pl.Schema) -> None:
        self.folder, self.schema = folder, schema
        self.parts: list[Path] = []

    def add(self, frame: pl.DataFrame) -> None:
        if not frame.height:
            return
        missing = [pl.lit(None, dtype=t).alias(c) for c, t in self.schema.items() if c not in frame.columns]
        f = frame.with_columns(missing).select([pl.col(c).cast(t) for c, t in self.schema.items()]).sort(ROW_INDEX)
        path = self.folder / f"part-{len(self.parts):05d}.parquet"
        f.write_parquet(path, row_group_size=PART_ROW_GROUP)
        self.parts.append(path)

    def scan(self) -> pl.LazyFrame:
        """Every change so far (the parts written until now), in no particular order."""
        return pl.scan_parquet(list(self.parts)) if self.parts else pl.LazyFrame(schema=self.schema)

    def between(self, lo: int, hi: int) -> pl.DataFrame:
        """The changes with row_index in [lo, hi), sorted by row_index."""
        return self.scan().filter(pl.col(ROW_INDEX).is_between(lo, hi - 1)).sort(ROW_INDEX).collect()
