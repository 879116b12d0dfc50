"""Work that grows with the log, done a bounded piece at a time through temporary Parquet files.

Three tools, shared by `embed` (the sequence build) and `filter` (its changed rows and duplicates):
- `spill_dir`: a temporary folder inside a workdir or OUT (held under its lock), after removing what a
  killed run left there, so a rerun's tree is the same as a clean run's;
- `partition`: one streaming pass (`sink_parquet` with a partition key) that writes each row of a lazy frame
  into its piece's file; a piece is then read back on its own;
- `scan_frames`: a LazyFrame over the frames a generator yields, so `sink_parquet` writes them into one
  file as they come, byte-identical to `write_parquet` of their concatenation (the same writer cuts the
  same row groups) while holding one frame at a time.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl

PIECE = "_piece"


def spill_dir(parent: Path, prefix: str) -> tempfile.TemporaryDirectory[str]:
    """A fresh temporary folder in `parent`; folders of a killed run (same prefix) are removed first."""
    parent.mkdir(parents=True, exist_ok=True)
    for old in parent.glob(f"{prefix}*"):
        shutil.rmtree(old, ignore_errors=True)
    return tempfile.TemporaryDirectory(prefix=prefix, dir=parent)


def partition(lf: pl.LazyFrame, key: pl.Expr, folder: Path) -> Callable[[int], pl.LazyFrame]:
    """Write every row of `lf` under the piece `key` gives it (an Int32 expression, elementwise so that the
    plan streams); returns piece number -> its rows (lazy; empty when no row went there)."""
    lf.with_columns(key.cast(pl.Int32).alias(PIECE)).sink_parquet(
        pl.PartitionBy(folder, key=PIECE, include_key=False), engine="streaming", mkdir=True
    )

    def piece(k: int) -> pl.LazyFrame:
        d = folder / f"{PIECE}={k}"
        return pl.scan_parquet(d / "*.parquet") if d.is_dir() else lf.clear()

    return piece


def scan_frames(frames: Callable[[], Iterator[pl.DataFrame]], schema: pl.Schema, name: str) -> pl.LazyFrame:
    """A LazyFrame over the frames `frames()` yields, in order (each must have `schema`)."""
    from polars.io.plugins import register_io_source

    def source(
        with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, batch_size: int | None
    ) -> Iterator[pl.DataFrame]:
        for f in frames():
            if with_columns is not None:
                f = f.select(with_columns)
            yield f if predicate is None else f.filter(predicate)

    return register_io_source(source, schema=schema, explain_name=name)
