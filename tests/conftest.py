"""Shared fixtures: a small slice of the bundled sample data, embedded once per test session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import polars as pl
import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"


@pytest.fixture(scope="session", autouse=True)
def _model_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Export the ONNX text encoder once per test run into a temporary cache, never into ~/.cache."""
    if not os.environ.get("SEQCLEAN_CACHE_DIR"):
        os.environ["SEQCLEAN_CACHE_DIR"] = str(tmp_path_factory.mktemp("seqclean_cache"))


@pytest.fixture(scope="session")
def tiny_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """60 users of the sample log and only the items they touch (plus a few unused ones)."""
    d = tmp_path_factory.mktemp("tiny_inputs")
    log = pl.read_parquet(SAMPLE / "interactions.parquet")
    users = log["user_id"].unique().sort().head(60)
    small = log.filter(pl.col("user_id").is_in(users.implode()))
    items = pl.read_parquet(SAMPLE / "items.parquet")
    used = small["item_id"].unique().implode()
    small_items = items.filter(pl.col("item_id").is_in(used) | (pl.col("item_id") <= 5))
    small.write_parquet(d / "interactions.parquet")
    small_items.write_parquet(d / "items.parquet")
    return d / "interactions.parquet", d / "items.parquet"


@pytest.fixture(scope="session")
def embedded_workdir(tiny_inputs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workdir after `embed` on the tiny inputs (tests copy it before changing it)."""
    from seqclean.embed import EmbedConfig, embed

    inter, items = tiny_inputs
    wd = tmp_path_factory.mktemp("wd") / "work"
    embed(EmbedConfig(interactions=inter, items=items, workdir=wd, device="cpu"))
    return wd


@pytest.fixture
def workdir_copy(embedded_workdir: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "work"
    shutil.copytree(embedded_workdir, dest)
    return dest
