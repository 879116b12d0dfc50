"""The filter's unscored duplicates, cut into pieces of whole users and spilled: the same rows as the one-piece
(in-memory) computation, whatever the piece count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from seqclean.checks import duplicate_changes
from seqclean.filter_frames import Changes, change_schema
from seqclean.filter_outputs import add_duplicates
from seqclean.io import ROW_INDEX

COLS = ("u", "i", "t")


def _log(n: int = 600, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    base = pl.DataFrame({"u": rng.integers(0, 40, n), "i": rng.integers(0, 15, n), "t": rng.integers(0, 20, n)})
    return pl.concat([base, base.sample(n // 5, seed=seed)]).sample(fraction=1.0, shuffle=True, seed=seed + 1)


def _first_changes(indexed: pl.LazyFrame) -> pl.DataFrame:
    """Every third distinct interaction (at its first row) dropped, as a scored chunk's changes would be."""
    first = indexed.group_by(COLS).agg(pl.col(ROW_INDEX).min()).sort(ROW_INDEX).collect()
    return first.gather_every(3).with_columns(
        pl.lit(0).cast(pl.Int32).alias("position"),
        pl.lit(0.9).cast(pl.Float32).alias("noise_score"),
        pl.lit("drop").alias("decision"),
        pl.lit(None, dtype=pl.String).alias("guard"),
        pl.lit("noise_score > 0.5").alias("reason"),
    )


@pytest.mark.parametrize("mode", ["drop", "keep"])
@pytest.mark.parametrize("keep_last", [0, 2])
def test_pieces_give_the_in_memory_duplicates(tmp_path: Path, mode: str, keep_last: int) -> None:
    indexed = _log().lazy().with_row_index(ROW_INDEX)
    n = int(indexed.select(pl.len()).collect().item())
    first = _first_changes(indexed)
    want = duplicate_changes(indexed, [first], COLS, mode, keep_last)
    assert want.height > 0
    schema = change_schema([*COLS, ROW_INDEX, "position", "noise_score"], first.schema, "i")
    got = {}
    for rows in (n, 100, 13):  # one piece, 7 pieces, 47 pieces
        folder = tmp_path / str(rows)
        (folder / "pieces").mkdir(parents=True)
        changes = Changes(folder, schema, n, rows)
        changes.add(first)
        changes.seal()
        counts = add_duplicates(indexed, changes, COLS, mode, keep_last, n, rows, folder / "pieces")
        dups = changes.scan().filter(~pl.col(ROW_INDEX).is_in(first[ROW_INDEX].implode())).sort(ROW_INDEX).collect()
        assert counts["rows"] == dups.height == want.height and counts["drop"] == want.height
        assert dups.select(want.columns).equals(want.select(pl.col(c).cast(dups.schema[c]) for c in want.columns))
        got[rows] = dups
    assert got[13].equals(got[n])
    ranges = [changes.between(lo, lo + 13) for lo in range(0, n, 13)]  # the last Changes: ranges of 13 rows
    assert pl.concat(ranges).equals(changes.scan().sort(ROW_INDEX).collect())


def test_keep_mode_with_no_scored_change_changes_no_repeat() -> None:
    """`--duplicates keep` when no scored row changed (e.g. --threshold 1): no repeat changes (this used to fail
    on a missing `decision` column)."""
    indexed = _log().lazy().with_row_index(ROW_INDEX)
    schema = _first_changes(indexed).schema
    assert duplicate_changes(indexed, pl.LazyFrame(schema=schema), COLS, "keep").height == 0
