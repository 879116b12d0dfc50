"""Frames `filter` works on: the scores read in chunks of whole users, and the changed rows gathered
into one narrow frame (every optional column present), so memory follows the chunk size and the
number of changes, never the log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from seqclean.io import ROW_INDEX, input_errors


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


def changes_frame(parts: list[pl.DataFrame], read_cols: list[str], schema: pl.Schema, item: str) -> pl.DataFrame:
    """All changed rows, sorted by row_index, with every optional column present (null if absent)."""
    want: dict[str, Any] = {c: schema[c] for c in read_cols}
    want.update(
        {
            "uncertainty": schema.get("uncertainty", pl.Float32),
            "suggested_item": schema.get("suggested_item", schema[item]),
            "suggestion_confidence": schema.get("suggestion_confidence", pl.Float32),
            "decision": pl.String,
            "guard": pl.String,
            "reason": pl.String,
        }
    )
    frames = [p for p in parts if p.height]
    if not frames:
        return pl.DataFrame(schema=want)
    f = pl.concat(frames, how="diagonal_relaxed")
    return (
        f.with_columns([pl.lit(None, dtype=t).alias(c) for c, t in want.items() if c not in f.columns])
        .select(list(want))
        .sort(ROW_INDEX)
    )
