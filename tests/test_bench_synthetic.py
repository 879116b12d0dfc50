"""bench/synthetic.py on tiny logs: seeded and block-size independent, labels on exactly the planted rows,
the requested noise share, and files that embed's own input checks accept."""

from __future__ import annotations

import filecmp
from pathlib import Path

import polars as pl
import pytest

from bench.synthetic import PARTITION_USERS, generate, main
from seqclean.checks import input_checks
from seqclean.embed_inputs import EmbedConfig, catalogue, scan_items, scan_log
from seqclean.embed_sequences import write_sequences

ROWS = 20_000  # 400 users: a few seconds at most


def _files(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*.parquet"))


def _read(root: Path, sub: str) -> pl.DataFrame:
    return pl.read_parquet(root / sub)  # the parts in name order, as `seqclean embed` reads a directory


def test_same_seed_writes_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(a, ROWS, seed=3)
    generate(b, ROWS, seed=3)
    generate(c, ROWS, seed=4)
    names = _files(a)
    assert names == _files(b) and "interactions/part-00000.parquet" in map(str, names)
    for name in names:
        assert filecmp.cmp(a / name, b / name, shallow=False), name
    assert not _read(a, "interactions").equals(_read(c, "interactions"))


def test_block_size_changes_the_parts_not_the_data(tmp_path: Path) -> None:
    users = 3 * PARTITION_USERS + 100  # 4 partitions, the last one short
    one = generate(tmp_path / "one", users * 5, seed=1, users=users, block_users=10 * PARTITION_USERS)
    many = generate(tmp_path / "many", users * 5, seed=1, users=users, block_users=1)
    assert (one["parts"], many["parts"]) == (1, 4)
    assert len(list((tmp_path / "many" / "interactions").glob("part-*.parquet"))) == 4
    for sub in ("interactions", "noise_labels"):
        assert _read(tmp_path / "one", sub).equals(_read(tmp_path / "many", sub)), sub


def test_labels_mark_exactly_the_rows_that_differ_from_the_noise_free_log(tmp_path: Path) -> None:
    generate(tmp_path / "clean", ROWS, seed=5, noise=0.0)
    generate(tmp_path / "noisy", ROWS, seed=5, noise=0.2)
    clean, noisy = _read(tmp_path / "clean", "interactions"), _read(tmp_path / "noisy", "interactions")
    labels = _read(tmp_path / "noisy", "noise_labels")
    assert _read(tmp_path / "clean", "noise_labels")["is_noise"].sum() == 0
    # one label row per log row, keyed like sample_data/noise_labels.parquet
    assert labels.columns == ["user_id", "timestamp", "is_noise", "noise_kind"]
    assert labels.select("user_id", "timestamp").is_unique().all() and labels.height == noisy.height
    both = noisy.join(labels, on=["user_id", "timestamp"], how="inner", validate="1:1")
    assert both.height == noisy.height
    assert (both["is_noise"] == both["noise_kind"].is_not_null()).all()
    # same seed: the planted rows are the only ones whose item changed (a noise draw can hit the same item)
    both = both.join(
        clean.select("user_id", "timestamp", pl.col("item_id").alias("clean_item")), on=["user_id", "timestamp"]
    )
    changed = both["item_id"] != both["clean_item"]
    assert both.height == noisy.height
    assert not (changed & ~both["is_noise"]).any()
    assert changed.filter(both["is_noise"]).mean() > 0.8


def test_noise_share_and_kinds_are_near_the_requested_ones(tmp_path: Path) -> None:
    res = generate(tmp_path / "s", 50_000, seed=2, noise=0.1)
    labels = _read(tmp_path / "s", "noise_labels")
    share = labels["is_noise"].mean()
    assert res["noise_rows"] == labels["is_noise"].sum()
    assert share == pytest.approx(0.1, abs=0.015)
    kinds = labels["noise_kind"].drop_nulls().value_counts(normalize=True)
    got = dict(zip(kinds["noise_kind"], kinds["proportion"], strict=True))
    assert got["random"] == pytest.approx(0.5 / 1.2, abs=0.05)
    assert got["popular"] == pytest.approx(0.3 / 1.2, abs=0.05)
    assert got["shared"] == pytest.approx(0.4 / 1.2, abs=0.06)


def test_embed_input_checks_accept_the_partitioned_log(tmp_path: Path) -> None:
    generate(tmp_path / "s", ROWS, seed=0, block_users=PARTITION_USERS // 4)  # several parts
    cfg = EmbedConfig(
        interactions=tmp_path / "s" / "interactions",
        items=tmp_path / "s" / "items.parquet",
        workdir=tmp_path / "wd",
        text_cols=["title", "category"],
        text_template="{title} | {category}",
    )
    log = scan_log(cfg)
    cat = catalogue(cfg, scan_items(cfg, log.collect_schema()["item_id"]))
    built = write_sequences(cfg, log, cat, tmp_path / "sequences.parquet", bucket_rows=ROWS // 3)  # 3 buckets
    seq = pl.read_parquet(tmp_path / "sequences.parquet")
    assert seq.height == built.n_interactions == ROWS and built.n_duplicates == 0 and seq["iid"].null_count() == 0
    assert cat.height == 1_000 and cat["text"][0].count(" | ") == 1
    cat = cat.with_columns(pl.Series("n_interactions", built.item_counts[1:]))
    checks = input_checks(pl.scan_parquet(tmp_path / "sequences.parquet"), cat, "timestamp", built.n_duplicates)
    assert checks["users_under_3_interactions"] == 0 and checks["timestamps_in_future"] == 0
    assert not checks["timestamps_all_equal"] and checks["items_empty_text"] == 0


def test_cli_prints_throughput_and_peak_rss(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["--rows", "3000", "--out", str(tmp_path / "o"), "--seed", "1", "--items", "200"])
    out = capsys.readouterr().out
    assert "3000 interactions, 60 users, 200 items, 1 parts" in out
    assert "rows/s" in out and "peak RSS" in out
    with pytest.raises(SystemExit, match="at least 3 rows per user"):
        main(["--rows", "10", "--users", "5", "--out", str(tmp_path / "x")])
