"""`seqclean filter` end to end through the CLI on a small workdir built from the sample data."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from bench.plant_noise import plant_noise
from seqclean.cli import app
from tests.tiny import TINY_BACKBONE_ARGS, TINY_GATE_OFF

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
runner = CliRunner()


def _ok(*args: str) -> None:
    r = runner.invoke(app, [*args, "--quiet"])
    assert r.exit_code == 0, r.output


@pytest.fixture(scope="module")
def wd(tmp_path_factory: pytest.TempPathFactory, sample_slice: Any) -> dict[str, Path]:
    """60 users of the sample log (with the items they use), embedded and scored once."""
    root = tmp_path_factory.mktemp("filter")
    sample_slice(root, 60, 0)
    work = root / "work"
    _ok(
        "embed",
        "--interactions",
        str(root / "interactions.parquet"),
        "--items",
        str(root / "items.parquet"),
        "--workdir",
        str(work),
        "--text-cols",
        "title,category",
        *TINY_BACKBONE_ARGS,
    )
    _ok("score", "--workdir", str(work), *TINY_GATE_OFF)
    return {"root": root, "work": work, "log": root / "interactions.parquet"}


def _filter(wd: dict[str, Path], out: Path, *opts: str) -> dict:  # type: ignore[type-arg]
    _ok("filter", "--workdir", str(wd["work"]), "--out", str(out), *opts)
    return json.loads((out / "summary.json").read_text())


def test_remove_mode_partitions_the_input(wd: dict[str, Path], tmp_path: Path) -> None:
    s = _filter(wd, tmp_path, "--threshold", "0.3")
    log = pl.read_parquet(wd["log"])
    cleaned = pl.read_parquet(tmp_path / "cleaned.parquet")
    removed = pl.read_parquet(tmp_path / "removed.parquet")
    assert cleaned.schema == log.schema
    assert s["removed"] == removed.height > 0
    assert cleaned.height + removed.height == log.height
    # cleaned ∪ removed = input, each in the input's row order
    both = pl.concat([cleaned, removed.select(log.columns)])
    assert both.sort(log.columns).equals(log.sort(log.columns))
    kept_idx = log.with_row_index("i").join(removed.select(log.columns), on=log.columns, how="anti")["i"]
    assert kept_idx.is_sorted()
    assert (removed["noise_score"] > 0.3).all()
    assert removed["reason"].null_count() == 0
    assert removed["uncertainty"].null_count() == 0
    # guards: nobody below 3 unless they started there; edits ≤ 20 % of length (at least 1)
    n0 = log.group_by("user_id").len()
    n1 = cleaned.group_by("user_id").len().rename({"len": "kept"})
    j = n0.join(n1, on="user_id", how="left").fill_null(0)
    assert j.select((pl.col("kept") >= pl.min_horizontal("len", pl.lit(3))).all()).item()
    assert ((j["len"] - j["kept"]) <= (j["len"] * 0.2).floor().clip(1)).all()
    assert s["rule"]["name"] == "noise_score > threshold 0.3"


def test_threshold_one_keeps_everything(wd: dict[str, Path], tmp_path: Path) -> None:
    s = _filter(wd, tmp_path, "--threshold", "1")
    assert s["removed"] == 0
    assert pl.read_parquet(tmp_path / "cleaned.parquet").equals(pl.read_parquet(wd["log"]))


def test_reruns_are_byte_identical(wd: dict[str, Path], tmp_path: Path) -> None:
    opts = ("--threshold", "0.3", "--format", "recbole")
    _filter(wd, tmp_path / "a", *opts)
    _filter(wd, tmp_path / "b", *opts)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 6 and Path("_SUCCESS") in files
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_max_fraction_and_guards(wd: dict[str, Path], tmp_path: Path) -> None:
    n = pl.read_parquet(wd["log"]).height
    s = _filter(wd, tmp_path / "f", "--threshold", "none", "--max-fraction", "0.05")
    assert 0 < s["removed"] <= math.floor(0.05 * n)
    assert s["candidates"] == math.floor(0.05 * n)
    s2 = _filter(
        wd,
        tmp_path / "g",
        "--threshold",
        "none",
        "--max-fraction",
        "0.05",
        "--keep-last",
        "1",
        "--max-edits-per-user",
        "1",
    )
    assert s2["removed"] < s["removed"]
    assert s2["held_by_guard"]["max_edits"] > 0
    assert sum(s2["held_by_guard"].values()) + s2["removed"] == s2["candidates"]
    removed = pl.read_parquet(tmp_path / "g" / "removed.parquet")
    assert removed.group_by("user_id").len()["len"].max() == 1
    last = (
        pl.read_parquet(wd["log"])
        .with_row_index("i")
        .sort("user_id", "timestamp", "i")
        .group_by("user_id", maintain_order=True)
        .last()
    )
    assert removed.join(last, on=["user_id", "timestamp", "item_id"]).height == 0


def test_auto_threshold(wd: dict[str, Path], tmp_path: Path) -> None:
    # the iadsr scorer estimates the noise rate; without that estimate, auto falls back to Otsu's cut
    s = _filter(wd, tmp_path / "scorer", "--threshold", "auto")
    assert s["rule"]["auto"]["method"] == "estimated_noise_rate"
    no_est = tmp_path / "no_est"
    shutil.copytree(wd["work"], no_est)
    summ = json.loads((no_est / "summary.json").read_text())
    summ.pop("estimated_noise_rate")
    (no_est / "summary.json").write_text(json.dumps(summ))
    _ok("filter", "--workdir", str(no_est), "--out", str(tmp_path / "otsu"), "--threshold", "auto")
    s = json.loads((tmp_path / "otsu" / "summary.json").read_text())
    assert s["rule"]["auto"]["method"] == "otsu"
    assert 0 < s["rule"]["threshold"] < 1
    work = tmp_path / "work"
    shutil.copytree(wd["work"], work)
    (work / "summary.json").write_text(json.dumps({**summ, "estimated_noise_rate": 0.04}))
    _ok(
        "filter",
        "--workdir",
        str(work),
        "--out",
        str(tmp_path / "est"),
        "--threshold",
        "auto",
        "--max-edits-per-user",
        "100",
        "--min-seq-len",
        "0",
        "--max-uncertainty",
        "1",
    )
    s = json.loads((tmp_path / "est" / "summary.json").read_text())
    assert s["rule"]["auto"] == {"method": "estimated_noise_rate", "estimated_noise_rate": 0.04}
    assert s["removed"] == round(0.04 * s["input_interactions"])


def test_replace_mode(wd: dict[str, Path], tmp_path: Path) -> None:
    # a confidence floor that some flagged rows' suggestions pass and others do not (taken from the scores, so
    # the test does not depend on how confident this detector happens to be on the slice)
    sc = pl.read_parquet(wd["work"] / "scores.parquet").filter(
        (pl.col("noise_score") > 0.3) & pl.col("suggested_item").is_not_null()
    )
    assert sc.height > 1
    floor = float(sc["suggestion_confidence"].median())  # type: ignore[arg-type]
    s = _filter(wd, tmp_path, "--threshold", "0.3", "--mode", "replace", "--min-confidence", f"{floor:.6f}")
    log = pl.read_parquet(wd["log"])
    cleaned = pl.read_parquet(tmp_path / "cleaned.parquet")
    ch = pl.read_parquet(tmp_path / "changes.parquet")
    assert cleaned.schema == log.schema and cleaned.height == log.height
    assert s["replaced"] == ch.height > 0 and s["removed"] == 0
    assert (ch["suggestion_confidence"] >= round(floor, 6)).all()
    idx = ch["row_index"]
    assert cleaned[idx]["item_id"].equals(ch["suggested_item"].alias("item_id"))
    assert log[idx]["item_id"].equals(ch["original_item"].alias("item_id"))
    unchanged = pl.Series(range(log.height)).filter(~pl.Series(range(log.height)).is_in(idx.cast(pl.Int64).implode()))
    assert cleaned[unchanged].equals(log[unchanged])
    # the suggestion is not already in the user's sequence
    assert ch.join(log, left_on=["user_id", "suggested_item"], right_on=["user_id", "item_id"]).height == 0
    s = _filter(
        wd, tmp_path / "d", "--threshold", "0.3", "--mode", "replace", "--min-confidence", "0.99", "--fallback", "drop"
    )
    assert s["replaced"] == 0 and s["removed"] > 0
    assert pl.read_parquet(tmp_path / "d" / "cleaned.parquet").height == log.height - s["removed"]


def test_recbole_files_parse_back(wd: dict[str, Path], tmp_path: Path) -> None:
    _filter(wd, tmp_path, "--threshold", "0.3", "--format", "recbole", "--dataset-name", "shop")
    cleaned = pl.read_parquet(tmp_path / "cleaned.parquet")
    inter = pl.read_csv(tmp_path / "recbole" / "shop.inter", separator="\t", quote_char=None)
    assert inter.columns == ["user_id:token", "item_id:token", "timestamp:float", "rating:float", "device:token"]
    assert inter["user_id:token"].equals(cleaned["user_id"].alias("user_id:token"))
    assert inter["item_id:token"].equals(cleaned["item_id"].alias("item_id:token"))
    assert inter["timestamp:float"].cast(pl.Int64).equals(cleaned["timestamp"].alias("timestamp:float"))
    assert inter["device:token"].equals(cleaned["device"].alias("device:token"))
    item = pl.read_csv(tmp_path / "recbole" / "shop.item", separator="\t", quote_char=None)
    assert item.columns == ["item_id:token", "title:token_seq", "category:token_seq"]
    assert item.height == pl.read_parquet(wd["root"] / "items.parquet").height


def test_usage_errors(wd: dict[str, Path], tmp_path: Path) -> None:
    for opts, needle in [
        (("--threshold", "high"), "--threshold high"),
        (("--threshold", "1.5"), "--threshold 1.5"),
        (("--max-fraction", "2"), "--max-fraction"),
        (("--mode", "fix"), "'fix' is not one of 'remove', 'replace'"),
        (("--max-edits-per-user", "lots"), "--max-edits-per-user"),
        (("--threshold", "none"), "--max-fraction"),
    ]:
        r = runner.invoke(app, ["filter", "--workdir", str(wd["work"]), "--out", str(tmp_path), *opts])
        assert r.exit_code == 2, (opts, r.output)
        assert needle in r.output and len(r.output.strip().splitlines()) == 1
    # a scorer without suggestions: replace mode refuses, remove mode notes the skipped guard
    work = tmp_path / "work"
    shutil.copytree(wd["work"], work)
    sc = pl.read_parquet(work / "scores.parquet")
    sc.drop("uncertainty", "suggested_item", "suggestion_confidence").write_parquet(work / "scores.parquet")
    r = runner.invoke(app, ["filter", "--workdir", str(work), "--out", str(tmp_path / "o"), "--mode", "replace"])
    assert r.exit_code == 2 and "suggested_item" in r.output
    _ok("filter", "--workdir", str(work), "--out", str(tmp_path / "o"), "--threshold", "0.3")
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert any("uncertainty guard skipped" in n for n in s["notes"])
    assert s["guards"]["max_uncertainty"] is None


def test_small_chunks_match_one_chunk(wd: dict[str, Path], tmp_path: Path) -> None:
    from seqclean.filter import FilterConfig, filter_log

    a = filter_log(FilterConfig(workdir=wd["work"], out=tmp_path / "a", threshold=0.3))
    b = filter_log(FilterConfig(workdir=wd["work"], out=tmp_path / "b", threshold=0.3, chunk_rows=7))
    assert a.summary == b.summary
    assert (tmp_path / "a" / "removed.parquet").read_bytes() == (tmp_path / "b" / "removed.parquet").read_bytes()


def test_plant_noise() -> None:
    log = pl.read_parquet(SAMPLE / "interactions.parquet").head(2000)
    noisy, labels = plant_noise(log, 0.1, "uniform", seed=3)
    again, _ = plant_noise(log, 0.1, "uniform", seed=3)
    assert noisy.equals(again) and noisy.schema == log.schema
    changed = noisy["item_id"] != log["item_id"]
    assert changed.sum() == labels["is_noise"].sum() == 200
    assert changed.equals(labels["is_noise"].alias("item_id"))
    assert labels["original_item"].equals(log["item_id"].alias("original_item"))
    assert noisy["item_id"].is_in(log["item_id"].implode()).all()
    pop, _ = plant_noise(log, 0.1, "popularity", seed=3)
    assert (pop["item_id"] != log["item_id"]).sum() == 200


def test_uncertainty_guard(wd: dict[str, Path], tmp_path: Path) -> None:
    s = _filter(wd, tmp_path, "--threshold", "0.3", "--max-uncertainty", "0.1")
    removed = pl.read_parquet(tmp_path / "removed.parquet")
    assert (removed["uncertainty"] <= 0.1).all()
    assert s["held_by_guard"]["uncertainty"] > 0


@pytest.mark.parametrize("mode", ["remove", "replace"])
def test_spilled_outputs_equal_the_in_memory_ones(wd: dict[str, Path], tmp_path: Path, mode: str) -> None:
    """Changes spilled chunk by chunk and the outputs streamed range by range: any chunk size gives the same
    bytes, and the files are what the whole log and every change held in memory give."""
    from seqclean.filter import FilterConfig, filter_log

    outs = {}
    for rows in (10**6, 50, 7):
        out = tmp_path / str(rows)
        filter_log(FilterConfig(workdir=wd["work"], out=out, threshold=0.3, mode=mode, chunk_rows=rows))
        outs[rows] = {p.name: p.read_bytes() for p in out.iterdir() if p.name != "_SUCCESS"}
        assert not list(out.glob(".*"))  # the spill folder is gone
    assert outs[7] == outs[50] == outs[10**6]
    log = pl.read_parquet(wd["log"]).with_row_index("row_index")
    sc = pl.read_parquet(wd["work"] / "scores.parquet")
    audit = pl.read_parquet(tmp_path / "7" / ("changes.parquet" if mode == "replace" else "removed.parquet"))
    assert audit["row_index"].is_sorted() and audit.height > 0
    scored = sc.sort("row_index").join(audit.select("row_index"), on="row_index", maintain_order="left")
    assert audit["noise_score"].equals(scored["noise_score"])
    cleaned = pl.read_parquet(tmp_path / "7" / "cleaned.parquet")
    if mode == "remove":
        want = log.join(audit.select("row_index"), on="row_index", how="anti", maintain_order="left")
        assert cleaned.equals(want.drop("row_index"))
    else:
        rep = audit.filter(pl.col("decision") == "replace").select("row_index", "suggested_item")
        want = log.join(rep, on="row_index", how="left", maintain_order="left").with_columns(
            pl.coalesce("suggested_item", "item_id").alias("item_id")
        )
        assert cleaned.equals(want.select(cleaned.columns))
