"""End-to-end CLI tests through Typer's CliRunner: the files written and what they contain."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from seqclean.cli import app
from tests.tiny import TINY_BACKBONE_ARGS, TINY_GATE_OFF

runner = CliRunner()


def test_help_lists_commands_and_exit_codes() -> None:
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    for cmd in ("embed", "score", "filter", "run", "report"):
        assert cmd in res.output
    assert "Exit codes" in res.output


def _inputs(inter: Path, items: Path, workdir: Path) -> list[str]:
    return ["--interactions", str(inter), "--items", str(items), "--workdir", str(workdir), *TINY_BACKBONE_ARGS]


def test_run_writes_every_output(tiny_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    inter, items = tiny_inputs
    wd, out = tmp_path / "wd", tmp_path / "out"
    args = [*_inputs(inter, items, wd), "--out", str(out), "--threshold", "0.3", *TINY_GATE_OFF]
    res = runner.invoke(app, ["run", *args])
    assert res.exit_code == 0, res.output
    assert "removed" in res.output

    log = pl.read_parquet(inter)
    scores = pl.read_parquet(wd / "scores.parquet")
    assert scores.height == log.height
    for col in ("user_id", "item_id", "timestamp", "row_index", "position", "noise_score", "is_noisy"):
        assert col in scores.columns
    assert scores["noise_score"].is_between(0.0, 1.0).all()
    # positions are 0..n-1 within each user and follow time order
    pos = scores.group_by("user_id").agg(
        (pl.col("position").sort() == pl.int_range(pl.len())).all().alias("dense"),
        (pl.col("timestamp").sort_by("position").diff().drop_nulls() >= 0).all().alias("ordered"),
    )
    assert pos["dense"].all() and pos["ordered"].all()

    report = pl.read_parquet(wd / "item_report.parquet")
    assert {"item_id", "interactions", "mean_noise_score", "flagged_share", "is_cold"} <= set(report.columns)
    assert report["interactions"].sum() == log.height

    summary = json.loads((wd / "summary.json").read_text())
    assert summary["interactions"] == log.height
    assert summary["scorer"]
    assert sum(summary["histogram"]["counts"]) == log.height

    cleaned = pl.read_parquet(out / "cleaned.parquet")
    removed = pl.read_parquet(out / "removed.parquet")
    assert cleaned.schema == log.schema
    assert cleaned.height + removed.height == log.height
    assert removed.height <= int((scores["noise_score"] > 0.3).sum())
    assert (removed["noise_score"] > 0.3).all()
    assert removed["reason"].str.contains("threshold").all()
    # cleaned keeps input row order: it is the input minus the removed rows, in order
    kept = log.with_row_index("row_index").join(removed.select("row_index"), on="row_index", how="anti")
    assert cleaned.equals(kept.drop("row_index"))
    # run ends with the HTML report in OUT, on the real scores and the filter's summary
    page = (out / "report.html").read_text()
    assert f"Filter removed {removed.height:,} of {log.height:,} interactions" in page
    assert "What the guards held back" in page and "<svg" in page


def test_stages_separately_and_rerun_is_byte_identical(workdir_copy: Path, tmp_path: Path) -> None:
    wd = workdir_copy
    res = runner.invoke(app, ["score", "--workdir", str(wd), "--chunk-users", "7", *TINY_GATE_OFF])
    assert res.exit_code == 0, res.output
    first = (wd / "scores.parquet").read_bytes()
    summary_first = (wd / "summary.json").read_bytes()
    res = runner.invoke(app, ["score", "--workdir", str(wd), "--chunk-users", "7", *TINY_GATE_OFF])
    assert res.exit_code == 0
    assert (wd / "scores.parquet").read_bytes() == first
    assert (wd / "summary.json").read_bytes() == summary_first

    out1, out2 = tmp_path / "o1", tmp_path / "o2"
    for out in (out1, out2):
        res = runner.invoke(app, ["filter", "--workdir", str(wd), "--threshold", "0.35", "--out", str(out)])
        assert res.exit_code == 0, res.output
    for name in ("cleaned.parquet", "removed.parquet", "summary.json"):
        assert (out1 / name).read_bytes() == (out2 / name).read_bytes()


def test_chunk_size_and_threads_do_not_change_scores(workdir_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole users per chunk, and per part of a chunk on threads (`scorers.parts`): the same bits either way."""
    from seqclean.scorers import parts

    monkeypatch.setattr(parts, "MIN_PART_ROWS", 1)  # the tiny log's chunks are cut into parts too
    wd = workdir_copy
    one_piece = ["--chunk-users", "1000", "--score-threads", "1"]
    assert runner.invoke(app, ["score", "--workdir", str(wd), *one_piece]).exit_code == 0
    whole = pl.read_parquet(wd / "scores.parquet")
    # --rerun: neither is part of the stage's fingerprint, so without it the scores are reused
    for args in (["--chunk-users", "3", "--score-threads", "1"], ["--chunk-users", "1000", "--score-threads", "3"]):
        assert runner.invoke(app, ["score", "--workdir", str(wd), *args, "--rerun"]).exit_code == 0
        again = pl.read_parquet(wd / "scores.parquet")
        assert whole.columns == again.columns and whole.height == again.height
        for col in whole.columns:
            assert whole[col].equals(again[col]), (args, col)


def test_threshold_one_removes_nothing(workdir_copy: Path, tmp_path: Path) -> None:
    runner.invoke(app, ["score", "--workdir", str(workdir_copy), *TINY_GATE_OFF])
    res = runner.invoke(app, ["filter", "--workdir", str(workdir_copy), "--threshold", "1.0", "--out", str(tmp_path)])
    assert res.exit_code == 0
    assert pl.read_parquet(tmp_path / "removed.parquet").height == 0
    assert json.loads((tmp_path / "summary.json").read_text())["removed"] == 0


def test_embed_reuses_cached_embeddings(workdir_copy: Path, tiny_inputs: tuple[Path, Path]) -> None:
    inter, items = tiny_inputs
    res = runner.invoke(app, ["embed", *_inputs(inter, items, workdir_copy)])
    assert res.exit_code == 0, res.output
    assert "0 encoded" in res.output


def test_backbone_options_reach_the_manifest(tiny_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    inter, items = tiny_inputs
    for cmd, extra in (("embed", []), ("run", ["--out", str(tmp_path / "out")])):
        wd = tmp_path / cmd
        res = runner.invoke(
            app,
            [
                cmd,
                *_inputs(inter, items, wd),
                *extra,
                "--epochs",
                "2",
                "--patience",
                "1",
                "--batch-size",
                "64",
                "--lr",
                "0.005",
                "--max-len",
                "20",
            ],
        )
        assert res.exit_code == 0, res.output
        cfg = json.loads((wd / "manifest.json").read_text())["backbone"]["config"]
        assert (cfg["epochs"], cfg["patience"], cfg["batch_size"], cfg["lr"], cfg["max_len"]) == (2, 1, 64, 0.005, 20)
