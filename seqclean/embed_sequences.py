"""`embed`'s `sequences.parquet`, built one bucket of whole users at a time, so that memory follows a bucket
(about `BUCKET_ROWS` input rows) and the user table, never the log.

Why: the one-pass build (dedup, join, sort and positions over the whole log, then `collect()`) held about
0.25 KiB a row, 12 GiB at 50M rows (docs/scale.md). Here:

1. a streaming `group_by` gives the sorted user table with each user's row count (`uid` = rank);
2. users are cut into buckets of consecutive `uid`s holding about `bucket_rows` rows each (a user is never
   split); with more than one bucket, one streaming pass writes each row into its bucket's Parquet part
   (`sink_parquet` with a partition key computed by comparisons with the buckets' first user ids, so the
   plan stays elementwise and streams);
3. each bucket, in `uid` order, is read, deduplicated, sorted and numbered on its own, and streamed into one
   Parquet writer (a Python scan source feeding `sink_parquet`), so the file is byte-identical to the
   one-pass build's `write_parquet` (same rows, order, schema and 100,000-row row groups).

Per-item counts, the duplicate and unknown-item checks are accumulated bucket by bucket. The bucket count
never changes the output: each bucket holds whole users and the order is (uid, timestamp, row_index).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from seqclean.checks import refuse_duplicates
from seqclean.errors import InputDataError
from seqclean.io import ROW_INDEX, atomic_path, input_errors
from seqclean.spill import partition, scan_frames, spill_dir

if TYPE_CHECKING:
    from seqclean.embed_inputs import EmbedConfig

BUCKET_ROWS = 500_000
"""Input rows per bucket (whole users): what the build holds in memory at once (about 0.2 KiB a row)."""
MAX_PARTS = 16  # files the partition pass writes at most (its memory grows with the parts open at once)
ROW_GROUP = 100_000  # sequences.parquet row groups (score reads chunks of users by a `uid` predicate)
_BUCKETED_DTYPES = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64, pl.String)


@dataclass
class SequenceStats:
    """What `embed` needs from the build besides the file."""

    n_input_rows: int
    n_interactions: int  # distinct (user, item, time) rows written
    n_users: int
    item_counts: np.ndarray  # interactions per iid (index 0, the padding id, unused)

    @property
    def n_duplicates(self) -> int:
        return self.n_input_rows - self.n_interactions


@dataclass
class _Checks:
    """Accumulated over buckets; raised once the file is written, before it is renamed into place."""

    n_read: int = 0  # input rows the buckets held: all of them, or a bucket went astray
    n_unique: int = 0
    first_dup: tuple[int, tuple[Any, Any, Any]] | None = None  # (row_index, (user, item, time)) of the first
    n_unknown: int = 0
    unknown_ids: list[pl.Series] = field(default_factory=list)


def bucket_starts(lengths: np.ndarray, bucket_rows: int) -> np.ndarray:
    """Index of each bucket's first user: consecutive users, about `bucket_rows` rows a bucket."""
    n = int(lengths.sum())
    if n <= bucket_rows or lengths.size == 0:
        return np.zeros(1, dtype=np.int64)
    k = -(-n // bucket_rows)
    cum = np.cumsum(lengths)
    bucket = (cum - 1) * k // n  # a user goes where its last row falls
    return np.flatnonzero(np.diff(bucket, prepend=-1))


def write_sequences(
    cfg: EmbedConfig, log: pl.LazyFrame, catalogue: pl.DataFrame, dest: Path, bucket_rows: int = BUCKET_ROWS
) -> SequenceStats:
    """Write `dest` (one row per distinct interaction, sorted by (uid, timestamp, row_index), with its
    position) and return its counts; raises `InputDataError` for refused duplicates or unknown items, with
    `dest` left untouched. Each (user, item, time) is kept at its first row (see `embed_inputs`)."""
    u, i, t = cfg.user_col, cfg.item_col, cfg.time_col
    full = log.with_row_index(ROW_INDEX).select(ROW_INDEX, u, i, t)
    schema = full.collect_schema()
    with input_errors(cfg.interactions):
        users = full.group_by(u).len().sort(u).collect(engine="streaming")
    lengths = users["len"].to_numpy()
    starts = bucket_starts(lengths, bucket_rows) if schema[u] in _BUCKETED_DTYPES else np.zeros(1, dtype=np.int64)
    ids = users[u]
    del users
    items = catalogue.select(i, "iid")
    counts = np.zeros(int(catalogue.select(pl.col("iid").max()).item() or 0) + 1, dtype=np.int64)
    checks = _Checks()
    out_schema = pl.Schema([("uid", pl.Int32), ("position", pl.Int32), ("iid", pl.Int32)])
    for c in (ROW_INDEX, u, i, t):
        out_schema[c] = schema[c]
    with spill_dir(dest.parent, ".sequences-buckets-") as tmp:
        sources = _bucket_sources(full, ids, starts, Path(tmp), cfg.interactions)
        ends = [*starts[1:].tolist(), ids.len()]

        def buckets() -> Iterator[pl.DataFrame]:
            for k, (lo, hi) in enumerate(zip(starts.tolist(), ends, strict=True)):
                users_k = pl.DataFrame({u: ids.slice(lo, hi - lo), "uid": np.arange(lo, hi, dtype=np.int32)})
                seq = _bucket(sources(k), users_k, items, (u, i, t), cfg.duplicates == "error", checks)
                counts[:] += np.bincount(seq["iid"].drop_nulls().to_numpy(), minlength=counts.size)
                yield seq

        with atomic_path(dest) as part, input_errors(cfg.interactions):
            lf = scan_frames(buckets, out_schema, "sequence buckets")
            lf.sink_parquet(part, row_group_size=ROW_GROUP, engine="streaming")
            _raise_refused(cfg, checks, int(lengths.sum()), (u, i, t))
    return SequenceStats(int(lengths.sum()), checks.n_unique, ids.len(), counts)


def _bucket_sources(full: pl.LazyFrame, ids: pl.Series, starts: np.ndarray, tmp: Path, path: Path) -> Any:
    """Bucket number -> its rows (lazy): the log itself for one bucket; else one streaming pass writes the
    rows into at most `MAX_PARTS` parts of consecutive buckets, and a bucket is its part filtered on its
    users. A row's part: how many part starts its user is at or after (comparisons with the parts' first user
    ids: elementwise, so the plan streams; a join on the user table does not stay flat, and the partitioned
    sink holds a buffer per open part, hence the cap)."""
    n = starts.size
    if n == 1:
        return lambda k: full
    u = ids.name
    part_of = np.arange(n) * min(n, MAX_PARTS) // n  # bucket -> part, consecutive buckets together
    part_firsts = ids.gather(starts[np.flatnonzero(np.diff(part_of)) + 1].tolist()).to_list()
    key = pl.sum_horizontal([(pl.col(u) >= pl.lit(f, dtype=ids.dtype)).cast(pl.Int32) for f in part_firsts])
    with input_errors(path):
        part = partition(full, key, tmp)
    firsts = ids.gather(starts.tolist())

    def bucket(k: int) -> pl.LazyFrame:
        mine = pl.col(u) >= pl.lit(firsts[k], dtype=ids.dtype)
        if k + 1 < n:
            mine = mine & (pl.col(u) < pl.lit(firsts[k + 1], dtype=ids.dtype))
        return part(int(part_of[k])).filter(mine)

    return bucket


def _bucket(
    rows: pl.LazyFrame,
    users: pl.DataFrame,
    items: pl.DataFrame,
    cols: tuple[str, str, str],
    want_first_dup: bool,
    checks: _Checks,
) -> pl.DataFrame:
    """One bucket's sequences (the one-pass build's rows for these users, in its order) and its checks."""
    u, i, t = cols
    # sorted so that the repeats of a (user, item, time) follow its first row: a hash-free dedup (a hash
    # group_by or unique on three columns holds about three times the bucket)
    raw = rows.collect(engine="streaming").sort([u, t, i, ROW_INDEX])
    checks.n_read += raw.height
    raw = raw.with_columns(pl.all_horizontal(_same_as_previous(c, raw.schema[c]) for c in (u, t, i)).alias("_repeat"))
    checks.n_unique += raw.height - int(raw["_repeat"].sum())
    if want_first_dup and raw["_repeat"].any():
        in_dup = pl.col("_repeat") | pl.col("_repeat").shift(-1, fill_value=False)
        d = raw.filter(in_dup).sort(ROW_INDEX).row(0, named=True)
        if checks.first_dup is None or d[ROW_INDEX] < checks.first_dup[0]:
            checks.first_dup = (d[ROW_INDEX], (d[u], d[i], d[t]))
    base = raw.filter(~pl.col("_repeat")).drop("_repeat")
    del raw
    seq = (
        base.join(users, on=u)
        .join(items, on=i, how="left")
        .sort(["uid", t, ROW_INDEX])
        .with_columns(pl.int_range(pl.len(), dtype=pl.Int32).over("uid").alias("position"))
        .select("uid", "position", "iid", ROW_INDEX, u, i, t)
    )
    if seq.height != base.height:
        raise InputDataError(f"internal: {base.height - seq.height} rows of a bucket found no user")  # a bug
    unknown = seq.filter(pl.col("iid").is_null())[i]
    if unknown.len():
        checks.n_unknown += unknown.len()
        checks.unknown_ids = [pl.concat([*checks.unknown_ids, unknown.unique().sort().head(5)]).unique().sort()]
    return seq


def _same_as_previous(col: str, dtype: pl.DataType) -> pl.Expr:
    """Equal to the previous row's value (NaN equal to NaN, as `unique` counts it); false on the first row."""
    c, prev = pl.col(col), pl.col(col).shift()
    same = c == prev
    if dtype.is_float():
        same = same | (c.is_nan() & prev.is_nan())
    return same.fill_null(False)


def _raise_refused(cfg: EmbedConfig, checks: _Checks, n_rows: int, cols: tuple[str, str, str]) -> None:
    """The one-pass build's two refusals, in its order: duplicates under `--duplicates error`, unknown items."""
    if checks.n_read != n_rows:
        raise InputDataError(f"internal: the buckets held {checks.n_read} of {n_rows} rows")  # a bug, never input
    n_dup = n_rows - checks.n_unique
    if n_dup and cfg.duplicates == "error" and checks.first_dup is not None:
        refuse_duplicates(cfg.interactions, n_dup, checks.first_dup[1], cols)
    if checks.n_unknown:
        ex = ", ".join(map(str, checks.unknown_ids[0].head(5).to_list()))
        raise InputDataError(
            f"{cfg.interactions}: {checks.n_unknown} interactions have item ids missing from {cfg.items} "
            f"(column '{cols[1]}', e.g. {ex}); add those items with their text, or drop them from the log"
        )
