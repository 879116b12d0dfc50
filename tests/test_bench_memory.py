"""The memory bench's own tools: the scaled log and the peak-RSS wrapper (not the figures it measures)."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

from bench.memory import SAMPLE, build_log, measure


def test_build_log_replicates_users_only(tmp_path: Path) -> None:
    log = pl.read_parquet(SAMPLE / "interactions.parquet")
    big = pl.read_parquet(build_log(3, tmp_path))
    assert big.height == 3 * log.height
    assert big["user_id"].n_unique() == 3 * log["user_id"].n_unique()
    assert set(big["item_id"].unique()) == set(log["item_id"].unique())
    first = big.filter(pl.col("user_id").str.ends_with("#2")).with_columns(
        pl.col("user_id").str.strip_suffix("#2").cast(pl.Int64)
    )
    assert first.equals(log)


def test_measure_sees_the_child_peak_not_the_wrapper() -> None:
    run = measure([sys.executable, "-c", "b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096])"])
    assert 300 <= run.peak_mib < 600
    assert run.wall_s > 0


def test_measure_raises_when_the_command_fails() -> None:
    with pytest.raises(RuntimeError, match="exited 3"):
        measure([sys.executable, "-c", "raise SystemExit(3)"])
