"""The workdir embedding cache: a rerun encodes only new or changed items (the nightly job's saving)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from seqclean.cli import app
from seqclean.embed import EmbedConfig, embed
from seqclean.runtime import CUDA, available_providers
from seqclean.workdir import SEMANTIC
from tests.tiny import TINY_BACKBONE_ARGS, tiny_backbone

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def small_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """25 users of the sample log and the items they touch, with a nullable genre-like column."""
    d = tmp_path_factory.mktemp("cache_inputs")
    log = pl.read_parquet(REPO / "sample_data" / "interactions.parquet")
    small = log.filter(pl.col("user_id").is_in(log["user_id"].unique().sort().head(25).implode()))
    items = pl.read_parquet(REPO / "sample_data" / "items.parquet").filter(
        pl.col("item_id").is_in(small["item_id"].unique().implode())
    )
    items = items.with_columns(
        pl.when(pl.col("item_id") % 3 == 0).then(None).otherwise(pl.col("category")).alias("category")
    )
    small.write_parquet(d / "interactions.parquet")
    items.write_parquet(d / "items.parquet")
    return d / "interactions.parquet", d / "items.parquet"


def _cfg(inputs: tuple[Path, Path], wd: Path, **kw: object) -> EmbedConfig:
    return EmbedConfig(
        interactions=inputs[0],
        items=inputs[1],
        workdir=wd,
        device="cpu",
        backbone=tiny_backbone(),
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def first_run(small_inputs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    wd = tmp_path_factory.mktemp("cache_wd") / "work"
    r = embed(_cfg(small_inputs, wd, text_template="{title} | {category}"))
    assert r.n_cached == 0 and r.n_encoded == r.n_items and r.provider == "CPUExecutionProvider"
    return wd


def test_rerun_after_one_title_change_encodes_one_item(
    small_inputs: tuple[Path, Path], first_run: Path, tmp_path: Path
) -> None:
    wd = tmp_path / "work"
    shutil.copytree(first_run, wd)
    items = pl.read_parquet(small_inputs[1])
    changed_id = items["item_id"][5]
    edited = items.with_columns(
        pl.when(pl.col("item_id") == changed_id)
        .then(pl.lit("A completely different product title"))
        .otherwise(pl.col("title"))
        .alias("title")
    )
    edited.write_parquet(tmp_path / "items.parquet")
    before = pl.read_parquet(first_run / SEMANTIC)

    r = embed(_cfg((small_inputs[0], tmp_path / "items.parquet"), wd, text_template="{title} | {category}"))
    assert (r.n_encoded, r.n_cached) == (1, r.n_items - 1)
    after = pl.read_parquet(wd / SEMANTIC)
    same = before.join(after, on="item_id", suffix="_new")
    old_v = np.stack(same["vector"].to_numpy())
    new_v = np.stack(same["vector_new"].to_numpy())
    moved = same["item_id"].filter(~np.all(old_v == new_v, axis=1))
    assert moved.to_list() == [changed_id]  # cached vectors are reused bit for bit
    manifest = (wd / "manifest.json").read_text()
    assert '"n_encoded": 1' in manifest and '"provider": "CPUExecutionProvider"' in manifest


def test_unchanged_rerun_encodes_nothing(small_inputs: tuple[Path, Path], first_run: Path, tmp_path: Path) -> None:
    wd = tmp_path / "work"
    shutil.copytree(first_run, wd)
    r = embed(_cfg(small_inputs, wd, text_template="{title} | {category}"))
    assert r.n_encoded == 0 and r.provider is None


@pytest.mark.parametrize("precision_too", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_template_or_precision_change_reencodes_all(
    small_inputs: tuple[Path, Path], first_run: Path, tmp_path: Path, precision_too: bool
) -> None:
    """A new template re-encodes every item; so does a new precision (slow: quantises MiniLM)."""
    wd = tmp_path / "work"
    shutil.copytree(first_run, wd)
    r = embed(_cfg(small_inputs, wd, text_template="{title}"))
    assert r.n_encoded == r.n_items
    if precision_too:
        r = embed(_cfg(small_inputs, wd, text_template="{title}", precision="int8"))
        assert r.n_encoded == r.n_items


def test_template_renders_nulls_and_non_ascii(small_inputs: tuple[Path, Path], first_run: Path) -> None:
    items = pl.read_parquet(first_run / "items.parquet")
    src = pl.read_parquet(small_inputs[1]).join(items, on="item_id")
    null_rows = src.filter(pl.col("category").is_null())
    assert null_rows.height and (null_rows["text"] == null_rows["title"]).all()
    full = src.filter(pl.col("category").is_not_null()).row(0, named=True)
    assert full["text"] == f"{full['title']} | {full['category']}"


def test_cli_text_template_and_provider_line(small_inputs: tuple[Path, Path], first_run: Path, tmp_path: Path) -> None:
    wd = tmp_path / "work"
    shutil.copytree(first_run, wd)
    args = ["embed", "--interactions", str(small_inputs[0]), "--items", str(small_inputs[1]), "--workdir", str(wd)]
    args += TINY_BACKBONE_ARGS
    res = CliRunner().invoke(app, [*args, "--text-template", "{category} - {title}", "--threads", "1"])
    assert res.exit_code == 0, res.output
    assert "encoded on CPUExecutionProvider" in res.output and "0 from cache" in res.output
    res = CliRunner().invoke(app, [*args, "--text-template", "{category} - {title}", "--precision", "int4"])
    assert res.exit_code == 2 and "--precision" in res.output


@pytest.mark.skipif(CUDA in available_providers(), reason="a CUDA provider is present here")
def test_cli_device_cuda_without_gpu_fails_even_when_cached(
    small_inputs: tuple[Path, Path], first_run: Path, tmp_path: Path
) -> None:
    wd = tmp_path / "work"
    shutil.copytree(first_run, wd)
    args = ["embed", "--interactions", str(small_inputs[0]), "--items", str(small_inputs[1]), "--workdir", str(wd)]
    res = CliRunner().invoke(app, [*args, "--text-template", "{title} | {category}", "--device", "cuda"])
    assert res.exit_code == 6 and "--device cuda" in res.output
