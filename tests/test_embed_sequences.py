"""The bucketed sequence build (`seqclean.embed_sequences`) against the one-pass build it replaced: same
file, byte for byte, whatever the bucket count; same counts and the same refusals."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from seqclean.checks import input_checks, refuse_duplicates
from seqclean.embed_inputs import EmbedConfig, catalogue, scan_items, scan_log
from seqclean.embed_sequences import bucket_starts, write_sequences
from seqclean.errors import InputDataError
from seqclean.io import ROW_INDEX


def one_pass(cfg: EmbedConfig, log: pl.LazyFrame, cat: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """The build as it was (the whole log collected at once): the oracle."""
    u, i, t = cfg.user_col, cfg.item_col, cfg.time_col
    full = log.with_row_index(ROW_INDEX).select(ROW_INDEX, u, i, t)
    n_rows = int(full.select(pl.len()).collect().item())
    base = full.unique(subset=[u, i, t], keep="first", maintain_order=True)
    n_dup = n_rows - int(base.select(pl.len()).collect().item())
    if n_dup and cfg.duplicates == "error":
        first = full.filter(pl.struct(u, i, t).is_duplicated()).head(1).collect()
        refuse_duplicates(cfg.interactions, n_dup, (first[u][0], first[i][0], first[t][0]), (u, i, t))
    users = base.select(u).unique().sort(u).with_row_index("uid").with_columns(pl.col("uid").cast(pl.Int32))
    seq = (
        base.join(users, on=u)
        .join(cat.lazy().select(i, "iid"), on=i, how="left")
        .sort(["uid", t, ROW_INDEX])
        .with_columns(pl.int_range(pl.len(), dtype=pl.Int32).over("uid").alias("position"))
        .select("uid", "position", "iid", ROW_INDEX, u, i, t)
        .collect()
    )
    return seq, n_dup


def make_log(tmp: Path, string_users: bool, n_users: int = 40, seed: int = 0) -> EmbedConfig:
    """Users of 1 to 30 rows with timestamp ties (same user and time, other items) and exact duplicates."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 30, n_users)
    users = np.repeat(rng.permutation(n_users) * 7, lengths)  # ids not in row order, with gaps
    n = users.size
    frame = pl.DataFrame(
        {
            "user_id": [f"u{x:03d}" for x in users] if string_users else users,
            "item_id": rng.integers(1, 25, n),
            "timestamp": rng.integers(0, 12, n),  # few distinct times: many ties
            "rating": rng.random(n),
        }
    )
    dups = frame.sample(n // 8, seed=seed)  # exact repeats, later in the file
    frame = pl.concat([frame, dups]).sample(fraction=1.0, shuffle=True, seed=seed + 1)
    frame.write_parquet(tmp / "log.parquet")
    pl.DataFrame({"item_id": np.arange(1, 26), "title": [f"t{k}" for k in range(1, 26)]}).write_parquet(
        tmp / "items.parquet"
    )
    return EmbedConfig(interactions=tmp / "log.parquet", items=tmp / "items.parquet", workdir=tmp / "wd")


def inputs(cfg: EmbedConfig) -> tuple[pl.LazyFrame, pl.DataFrame]:
    log = scan_log(cfg)
    return log, catalogue(cfg, scan_items(cfg, log.collect_schema()[cfg.item_col]))


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_parquet(buf, row_group_size=100_000)
    return buf.getvalue()


@pytest.mark.parametrize("string_users", [False, True])
def test_bucketed_build_is_the_one_pass_build_for_any_bucket_count(tmp_path: Path, string_users: bool) -> None:
    cfg = make_log(tmp_path, string_users)
    log, cat = inputs(cfg)
    want, n_dup = one_pass(cfg, log, cat)
    assert n_dup > 0 and want.height > 300
    want_bytes = parquet_bytes(want)
    for bucket_rows in (1, 7, 50, 10**6):  # a bucket per user, ..., one bucket
        dest = tmp_path / f"b{bucket_rows}" / "sequences.parquet"
        dest.parent.mkdir()
        got = write_sequences(cfg, log, cat, dest, bucket_rows=bucket_rows)
        assert dest.read_bytes() == want_bytes, bucket_rows
        assert (got.n_duplicates, got.n_interactions, got.n_users) == (n_dup, want.height, want["uid"].n_unique())
        counts = want.group_by("iid").len().sort("iid")
        assert got.item_counts[counts["iid"].to_numpy()].tolist() == counts["len"].to_list()
        assert got.item_counts.sum() == want.height
        assert list(dest.parent.iterdir()) == [dest]  # the bucket parts are gone


def test_refusals_are_the_one_pass_ones_and_leave_no_file(tmp_path: Path) -> None:
    cfg = make_log(tmp_path, string_users=True)
    cfg.duplicates = "error"
    log, cat = inputs(cfg)
    with pytest.raises(InputDataError) as want:
        one_pass(cfg, log, cat)
    dest = tmp_path / "sequences.parquet"
    with pytest.raises(InputDataError) as got:
        write_sequences(cfg, log, cat, dest, bucket_rows=20)
    assert str(got.value) == str(want.value) and "exact duplicate" in str(got.value)
    assert not dest.exists() and list(tmp_path.glob(".*")) == []

    cfg.duplicates = "drop"
    few = cat.filter(pl.col("item_id") % 5 != 0)  # interactions with unknown items
    with pytest.raises(InputDataError, match="item ids missing") as got:
        write_sequences(cfg, log, few, dest, bucket_rows=20)
    seq, _ = one_pass(cfg, log, few)
    unknown = seq.filter(pl.col("iid").is_null())
    ex = ", ".join(map(str, unknown["item_id"].unique().sort().head(5).to_list()))
    assert f"{unknown.height} interactions" in str(got.value) and f"e.g. {ex})" in str(got.value)
    assert not dest.exists()


def test_bucket_starts_keep_users_whole_and_buckets_near_the_target() -> None:
    lengths = np.array([5, 1, 1, 40, 2, 2, 2, 9, 1, 1])
    starts = bucket_starts(lengths, 10)
    sizes = np.add.reduceat(lengths, starts)
    assert starts[0] == 0 and sizes.sum() == lengths.sum() and len(starts) <= -(-lengths.sum() // 10)
    assert bucket_starts(lengths, 1000).tolist() == [0]
    assert bucket_starts(np.ones(9, dtype=np.int64), 3).tolist() == [0, 3, 6]


def test_input_checks_read_the_written_file_lazily(tmp_path: Path) -> None:
    cfg = make_log(tmp_path, string_users=False)
    log, cat = inputs(cfg)
    seq, n_dup = one_pass(cfg, log, cat)
    counts = seq.group_by("iid").len().rename({"len": "n_interactions"})
    cat = cat.join(counts, on="iid", how="left").fill_null(0)
    dest = tmp_path / "sequences.parquet"
    write_sequences(cfg, log, cat, dest, bucket_rows=30)
    lazy = input_checks(pl.scan_parquet(dest), cat, "timestamp", n_dup)
    assert lazy == input_checks(seq, cat, "timestamp", n_dup)
    assert lazy["users_under_3_interactions"] == int((seq.group_by("uid").len()["len"] < 3).sum()) > 0
    nan = pl.DataFrame({"uid": [0, 0, 1], "t": [float("nan")] * 3})
    assert input_checks(nan, cat, "t", 0)["timestamps_all_equal"]  # NaN is one value, as n_unique counts it
    mixed = pl.DataFrame({"uid": [0, 0, 1], "t": [1.0, 1.0, float("nan")]})
    assert not input_checks(mixed, cat, "t", 0)["timestamps_all_equal"]
