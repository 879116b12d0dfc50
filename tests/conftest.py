"""Shared fixtures: a small slice of the bundled sample data, embedded once per test session."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"


@pytest.fixture(scope="session", autouse=True)
def _seqclean_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Export the ONNX text encoder once per test run into a temporary cache, never into ~/.cache;
    a cache dir already set for the run (SEQCLEAN_CACHE_DIR) is kept."""
    if os.environ.get("SEQCLEAN_CACHE_DIR"):
        yield Path(os.environ["SEQCLEAN_CACHE_DIR"])
        return
    path = tmp_path_factory.getbasetemp() / "seqclean-cache"
    _seed_encoder_export(path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEQCLEAN_CACHE_DIR", str(path))
        yield path


def _seed_encoder_export(cache: Path) -> None:
    """Copy the fp32 export of the bundled MiniLM from the user's cache, when there is one, so a test run
    does not re-export it (the export itself is tested on an explicit folder, tests/test_encoder.py)."""
    from seqclean.encoder.models import ONNX_FILES, default_model_dir, export_dir_for

    home = Path.home() / ".cache" / "seqclean"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEQCLEAN_CACHE_DIR", str(home))
        src = export_dir_for(default_model_dir())
    if not (src / "onnx" / ONNX_FILES["fp32"]).exists():
        return
    dest = cache / src.relative_to(home)
    shutil.copytree(
        src,
        dest,
        ignore=lambda d, names: [n for n in names if n.startswith(".") or (n.endswith(".onnx") and n != "model.onnx")],
    )


SliceFn = Callable[[Path, int, int], tuple[Path, Path]]


def _sample_slice(dest: Path, n_users: int, extra_items: int) -> tuple[Path, Path]:
    """The first `n_users` users of the sample log, and the items they touch plus items 1..`extra_items`."""
    log = pl.read_parquet(SAMPLE / "interactions.parquet")
    users = log["user_id"].unique().sort().head(n_users)
    small = log.filter(pl.col("user_id").is_in(users.implode()))
    items = pl.read_parquet(SAMPLE / "items.parquet")
    used = small["item_id"].unique().implode()
    small_items = items.filter(pl.col("item_id").is_in(used) | (pl.col("item_id") <= extra_items))
    dest.mkdir(parents=True, exist_ok=True)
    small.write_parquet(dest / "interactions.parquet")
    small_items.write_parquet(dest / "items.parquet")
    return dest / "interactions.parquet", dest / "items.parquet"


@pytest.fixture(scope="session")
def sample_slice() -> SliceFn:
    """`sample_slice(dest, n_users, extra_items)` writes a small slice of the sample data into `dest`."""
    return _sample_slice


@pytest.fixture(scope="session")
def tiny_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """60 users of the sample log and only the items they touch (plus a few unused ones)."""
    return _sample_slice(tmp_path_factory.mktemp("tiny_inputs"), 60, 5)


@pytest.fixture(scope="session")
def embedded_workdir(tiny_inputs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workdir after `embed` on the tiny inputs (tests copy it before changing it)."""
    from seqclean.embed import EmbedConfig, embed
    from tests.tiny import tiny_backbone

    inter, items = tiny_inputs
    wd = tmp_path_factory.mktemp("wd") / "work"
    embed(EmbedConfig(interactions=inter, items=items, workdir=wd, device="cpu", backbone=tiny_backbone()))
    return wd


@pytest.fixture
def workdir_copy(embedded_workdir: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "work"
    shutil.copytree(embedded_workdir, dest)
    return dest
