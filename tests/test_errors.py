"""Bad input: a one-line message naming the file/column and the fix, a documented exit code,
the input untouched and nothing half-written."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from seqclean.cli import app
from seqclean.errors import EXIT_CODES
from tests.tiny import TINY_BACKBONE_ARGS

runner = CliRunner()


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _embed(inter: Path, items: Path, wd: Path, *extra: str) -> tuple[int, str]:
    res = runner.invoke(
        app,
        [
            "embed",
            "--interactions",
            str(inter),
            "--items",
            str(items),
            "--workdir",
            str(wd),
            *TINY_BACKBONE_ARGS,
            *extra,
        ],
    )
    return res.exit_code, res.output


def _assert_clean_failure(code: int, out: str, expected: int, *needles: str) -> None:
    assert code == expected, out
    assert expected in EXIT_CODES
    lines = [ln for ln in out.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, out
    assert lines[0].startswith("error: ")
    assert "Traceback" not in out
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.fixture
def small(tiny_inputs: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    inter, items = tiny_inputs
    log = pl.read_parquet(inter).head(300)
    it = pl.read_parquet(items)
    log.write_parquet(tmp_path / "log.parquet")
    it.write_parquet(tmp_path / "items.parquet")
    return tmp_path / "log.parquet", tmp_path / "items.parquet"


def test_missing_file(small: tuple[Path, Path], tmp_path: Path) -> None:
    code, out = _embed(tmp_path / "nope.parquet", small[1], tmp_path / "wd")
    _assert_clean_failure(code, out, 3, "nope.parquet", "does not exist")
    assert not (tmp_path / "wd").exists()


def test_missing_column_lists_existing(small: tuple[Path, Path], tmp_path: Path) -> None:
    inter, items = small
    before = _digest(inter)
    code, out = _embed(inter, items, tmp_path / "wd", "--user-col", "uid")
    _assert_clean_failure(code, out, 4, str(inter), "'uid'", "user_id, item_id, timestamp", "--user-col")
    assert _digest(inter) == before


def test_missing_text_column(small: tuple[Path, Path], tmp_path: Path) -> None:
    code, out = _embed(*small, tmp_path / "wd", "--text-cols", "title,blurb")
    _assert_clean_failure(code, out, 4, "items.parquet", "'blurb'", "--text-cols")


def test_wrong_dtype(small: tuple[Path, Path], tmp_path: Path) -> None:
    inter, items = small
    bad = tmp_path / "bad.parquet"
    pl.read_parquet(inter).with_columns(pl.col("timestamp").cast(pl.String)).write_parquet(bad)
    code, out = _embed(bad, items, tmp_path / "wd")
    _assert_clean_failure(code, out, 4, "'timestamp'", "String", "--time-col")
    bad2 = tmp_path / "bad2.parquet"
    pl.read_parquet(inter).with_columns(pl.col("user_id").cast(pl.Float64)).write_parquet(bad2)
    code, out = _embed(bad2, items, tmp_path / "wd")
    _assert_clean_failure(code, out, 4, "'user_id'", "integers or strings")


def test_empty_log(small: tuple[Path, Path], tmp_path: Path) -> None:
    inter, items = small
    empty = tmp_path / "empty.parquet"
    pl.read_parquet(inter).head(0).write_parquet(empty)
    code, out = _embed(empty, items, tmp_path / "wd")
    _assert_clean_failure(code, out, 4, "empty")
    empty_csv = tmp_path / "empty.csv"
    empty_csv.write_text("")
    code, out = _embed(empty_csv, items, tmp_path / "wd")
    _assert_clean_failure(code, out, 4, "empty")


def test_truncated_parquet(small: tuple[Path, Path], tmp_path: Path) -> None:
    inter, items = small
    trunc = tmp_path / "trunc.parquet"
    data = inter.read_bytes()
    trunc.write_bytes(data[: len(data) // 2])
    code, out = _embed(trunc, items, tmp_path / "wd")
    _assert_clean_failure(code, out, 4, "trunc.parquet", "corrupt")


def test_unknown_items(small: tuple[Path, Path], tmp_path: Path) -> None:
    inter, items = small
    used = pl.read_parquet(inter)["item_id"].unique().sort()
    fewer = tmp_path / "fewer_items.parquet"
    pl.read_parquet(items).filter(pl.col("item_id") != used[0]).write_parquet(fewer)
    code, out = _embed(inter, fewer, tmp_path / "wd")
    _assert_clean_failure(code, out, 4, "missing from", f"e.g. {used[0]}")


def test_duplicate_item_ids(small: tuple[Path, Path], tmp_path: Path) -> None:
    inter, items = small
    dup = tmp_path / "dup_items.parquet"
    it = pl.read_parquet(items)
    pl.concat([it, it.head(1)]).write_parquet(dup)
    code, out = _embed(inter, dup, tmp_path / "wd")
    _assert_clean_failure(code, out, 4, "duplicate")


def test_null_ids(small: tuple[Path, Path], tmp_path: Path) -> None:
    inter, items = small
    nul = tmp_path / "nulls.parquet"
    pl.read_parquet(inter).with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise(pl.col("item_id")).alias("item_id")
    ).write_parquet(nul)
    code, out = _embed(nul, items, tmp_path / "wd")
    _assert_clean_failure(code, out, 4, "'item_id'", "null")


def test_score_without_embed(tmp_path: Path) -> None:
    res = runner.invoke(app, ["score", "--workdir", str(tmp_path)])
    _assert_clean_failure(res.exit_code, res.output, 3, "seqclean embed")


def test_filter_without_score(workdir_copy: Path, tmp_path: Path) -> None:
    (workdir_copy / "scores.parquet").unlink(missing_ok=True)
    res = runner.invoke(app, ["filter", "--workdir", str(workdir_copy), "--threshold", "0.5", "--out", str(tmp_path)])
    _assert_clean_failure(res.exit_code, res.output, 3, "seqclean score")


def test_bad_threshold(workdir_copy: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["filter", "--workdir", str(workdir_copy), "--threshold", "1.5", "--out", str(tmp_path)])
    _assert_clean_failure(res.exit_code, res.output, 2, "--threshold")


def test_changed_input_is_refused(tiny_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    inter, items = tiny_inputs
    copy = tmp_path / "log.parquet"
    copy.write_bytes(inter.read_bytes())
    wd = tmp_path / "wd"
    assert _embed(copy, items, wd)[0] == 0
    assert runner.invoke(app, ["score", "--workdir", str(wd)]).exit_code == 0
    pl.read_parquet(copy).head(10).write_parquet(copy)
    res = runner.invoke(app, ["filter", "--workdir", str(wd), "--threshold", "0.5", "--out", str(tmp_path / "o")])
    _assert_clean_failure(res.exit_code, res.output, 4, "changed since")
    assert not (tmp_path / "o" / "cleaned.parquet").exists()


def test_unwritable_output(workdir_copy: Path, tmp_path: Path) -> None:
    runner.invoke(app, ["score", "--workdir", str(workdir_copy)])
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = runner.invoke(app, ["filter", "--workdir", str(workdir_copy), "--threshold", "0.5", "--out", str(blocker)])
    _assert_clean_failure(res.exit_code, res.output, 5, "choose a writable path")


def test_no_temp_files_left_behind(workdir_copy: Path, tmp_path: Path) -> None:
    runner.invoke(app, ["score", "--workdir", str(workdir_copy)])
    runner.invoke(app, ["filter", "--workdir", str(workdir_copy), "--threshold", "0.5", "--out", str(tmp_path / "o")])
    leftovers = [p for d in (workdir_copy, tmp_path / "o") for p in d.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_csv_and_partitioned_inputs(tiny_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    inter, items = tiny_inputs
    log = pl.read_parquet(inter)
    csv = tmp_path / "log.csv"
    log.write_csv(csv)
    items_csv = tmp_path / "items.csv"
    pl.read_parquet(items).write_csv(items_csv)
    part = tmp_path / "parts"
    log.with_columns((pl.col("user_id") % 3).alias("shard")).write_parquet(part, partition_by="shard")
    for src, it in ((csv, items_csv), (part, items)):
        wd, out = tmp_path / f"wd_{src.name}", tmp_path / f"out_{src.name}"
        res = runner.invoke(
            app,
            [
                "run",
                "--interactions",
                str(src),
                "--items",
                str(it),
                "--workdir",
                str(wd),
                "--out",
                str(out),
                "--threshold",
                "0.4",
                *TINY_BACKBONE_ARGS,
            ],
        )
        assert res.exit_code == 0, res.output
        cleaned = pl.read_parquet(out / "cleaned.parquet")
        removed = pl.read_parquet(out / "removed.parquet")
        assert cleaned.height + removed.height == log.height
        expected = set(log.columns) | ({"shard"} if src == part else set())
        assert set(cleaned.columns) == expected
