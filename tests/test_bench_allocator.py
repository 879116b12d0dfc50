"""The allocator bench's own tools: the child runs in both modes and reads back its rusage and result."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from bench.allocator import run
from bench.memory import SAMPLE


def test_downstream_child_gives_the_same_result_in_both_modes(tmp_path: Path) -> None:
    log = pl.read_parquet(SAMPLE / "interactions.parquet")
    users = log["user_id"].unique().sort()[:40]
    log.filter(pl.col("user_id").is_in(users.implode())).write_parquet(tmp_path / "interactions.parquet")
    pl.read_parquet(SAMPLE / "items.parquet").write_parquet(tmp_path / "items.parquet")
    results = {}
    for mode in ("off", "on"):
        usage, out = run(mode, ["train", str(tmp_path), "1"])
        assert usage["wall_s"] > 0 and usage["user_s"] > 0 and usage["minflt"] > 0 and usage["maxrss"] > 0
        results[mode] = json.loads(out.splitlines()[-1])["ndcg10"]
    assert results["off"] == results["on"]
    assert 0.0 <= results["on"] <= 1.0
