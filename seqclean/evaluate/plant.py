"""Plant known noise in a log (LLM4DSR's protocol), so that detection and its downstream effect can be
measured against labels the scorer never sees.

Kinds:
- `uniform` (LLM4DSR): a seeded `rate` share of the eligible rows get their item replaced by a catalogue
  item drawn uniformly, different from the original;
- `popularity`: the same, drawn in proportion to item popularity (harder: popular items look plausible
  everywhere);
- `insert`: round(rate * eligible) new rows, each a uniformly drawn item inserted at a random eligible
  slot of a random user (a slot before an eligible row), with the timestamp of the gap's midpoint
  (integer timestamps: rounded down) and placed in the file right after the row before it, so that the
  documented tie rule (time, then input row order) puts it exactly in its slot.

`eligible` (a boolean per row) restricts planting; `seqclean evaluate` passes the training positions, so a
validation or test target is never changed and no row is inserted after them. Replacement kinds keep the
log's schema, row order, users and timestamps; `insert` adds rows (other columns null, except copies of the
user and time).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from seqclean.errors import UsageError

KINDS = ("uniform", "popularity", "insert")
ORDER = "_plant_order"


def plant_noise(
    log: pl.DataFrame,
    rate: float = 0.1,
    kind: str = "uniform",
    seed: int = 0,
    user_col: str = "user_id",
    item_col: str = "item_id",
    time_col: str = "timestamp",
    eligible: np.ndarray | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return (noisy_log, labels).

    `labels` has one row per row of `noisy_log`, in its order: `row_index` (row in the noisy log), user,
    timestamp, `is_noise`, `noise_kind` (null when clean), `original_item` (the item that was there;
    null for inserted rows), `source_row` (row in `log`; null for inserted rows).
    """
    if not 0.0 <= rate <= 1.0:
        raise UsageError(f"--ratio {rate}: must be between 0 and 1")
    if kind not in KINDS:
        raise UsageError(f"--plant {kind}: choose one of {', '.join(KINDS)} (or none)")
    n = log.height
    ok = np.ones(n, dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool)
    if ok.shape != (n,):
        raise ValueError("eligible must have one flag per row")
    rng = np.random.default_rng(seed)
    items = log[item_col]
    counts = items.value_counts(sort=False).sort(item_col)
    cat = counts[item_col].to_numpy()
    pool = np.flatnonzero(ok)
    k = int(round(rate * len(pool)))
    if kind == "insert":
        return _insert(log, rng, pool, k, cat, user_col, item_col, time_col)
    rows = np.sort(rng.choice(pool, size=k, replace=False)) if k else np.zeros(0, dtype=np.int64)
    orig_pos = np.searchsorted(cat, items.to_numpy()[rows])
    p = None if kind == "uniform" else counts["count"].to_numpy().astype(np.float64)
    if p is not None:
        p = p / p.sum()
    new_pos = rng.choice(len(cat), size=k, p=p)
    same = new_pos == orig_pos
    while same.any() and len(cat) > 1:  # redraw until every planted item differs from the original
        new_pos[same] = rng.choice(len(cat), size=int(same.sum()), p=p)
        same = new_pos == orig_pos
    is_noise = np.zeros(n, dtype=bool)
    is_noise[rows] = True
    new_items = items.to_numpy().copy()
    new_items[rows] = cat[new_pos]
    noisy = log.with_columns(pl.Series(item_col, new_items, dtype=items.dtype))
    labels = pl.DataFrame(
        {
            "row_index": np.arange(n, dtype=np.uint32),
            user_col: log[user_col],
            time_col: log[time_col],
            "is_noise": is_noise,
        }
    ).with_columns(
        pl.when(pl.col("is_noise")).then(pl.lit(kind)).otherwise(None).alias("noise_kind"),
        items.alias("original_item"),
        pl.Series("source_row", np.arange(n, dtype=np.int64)),
    )
    return noisy, labels


def _insert(
    log: pl.DataFrame,
    rng: np.random.Generator,
    pool: np.ndarray,
    k: int,
    cat: np.ndarray,
    user_col: str,
    item_col: str,
    time_col: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Insert k rows, each before a randomly chosen eligible row that has a predecessor in its user's sequence."""
    n = log.height
    seq = (
        log.select(user_col, time_col)
        .with_row_index("r")
        .sort([user_col, time_col, "r"])
        .with_columns(pl.col("r").shift(1).over(user_col).alias("prev"))
    )
    prev = np.full(n, -1, dtype=np.int64)
    r = seq["r"].to_numpy().astype(np.int64)
    prev[r] = seq["prev"].fill_null(-1).to_numpy()
    slots = pool[prev[pool] >= 0]  # an insert goes between a row and its predecessor
    chosen = np.sort(rng.choice(slots, size=min(k, len(slots)), replace=True)) if k and len(slots) else slots[:0]
    new_items = cat[rng.integers(0, len(cat), size=len(chosen))]
    times = log[time_col]
    t_next = times.to_numpy()[chosen]
    t_prev = times.to_numpy()[prev[chosen]]
    if times.dtype.is_integer():
        mid = t_prev + (t_next - t_prev) // 2
    elif times.dtype.is_float():
        mid = t_prev + (t_next - t_prev) / 2
    else:  # dates and datetimes: the earlier neighbour's time keeps the order through the row placement
        mid = t_prev
    # order key: original row r -> 2 * r; an insert after row p -> 2 * p + 1 (several after one row keep draw order)
    key_orig = 2 * np.arange(n, dtype=np.int64)
    key_new = 2 * prev[chosen] + 1
    users = log[user_col].to_numpy()[chosen]
    ins = pl.DataFrame(
        {
            user_col: pl.Series(users, dtype=log[user_col].dtype),
            item_col: pl.Series(new_items, dtype=log[item_col].dtype),
            time_col: pl.Series(mid, dtype=times.dtype),
        }
    )
    src = log.with_columns(
        pl.Series(ORDER, key_orig),
        pl.lit(False).alias("is_noise"),
        pl.Series("source_row", np.arange(n, dtype=np.int64)),
    )
    ins = ins.with_columns(
        pl.Series(ORDER, key_new), pl.lit(True).alias("is_noise"), pl.lit(None, dtype=pl.Int64).alias("source_row")
    )
    both = pl.concat([src, ins], how="diagonal_relaxed").sort(ORDER, maintain_order=True)
    noisy = both.select(log.columns).cast(log.schema)
    labels = both.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("row_index"),
        user_col,
        time_col,
        "is_noise",
        pl.when(pl.col("is_noise")).then(pl.lit("insert")).otherwise(None).alias("noise_kind"),
        pl.when(pl.col("is_noise")).then(None).otherwise(pl.col(item_col)).alias("original_item"),
        "source_row",
    )
    return noisy, labels
