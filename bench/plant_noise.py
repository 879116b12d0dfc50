"""Plant known noise in a clean log (LLM4DSR's protocol), so detection can be measured against labels.

A seeded `rate` share of all interactions (exactly round(rate * n) rows, chosen uniformly) get their
item replaced by a random catalogue item different from the original: uniformly over the log's items
(`kind="uniform"`, LLM4DSR) or in proportion to item popularity (`kind="popularity"`, harder: popular
items look plausible everywhere). User, timestamp and every other column are left as they were, so
the row order and schema of the log are unchanged. Replacement is `seqclean.evaluate.plant.plant_noise` over
every row (evaluate restricts it to training inputs); only the bench's insertion differs (appended rows).

`kind="insert"` instead adds round(rate * n) new rows (a uniformly drawn catalogue item each), every one
at a random place in a random user's sequence (before or after a uniformly chosen row of the log), with a
timestamp between its neighbours; the other columns are copied from that row. The new rows are appended
after the original ones (labels `row_index` n, n+1, ...), so the original rows keep their row index.

    python -m bench.plant_noise --interactions .data/ml-100k/interactions.parquet --out /tmp/ml-noisy
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl

from seqclean.evaluate.plant import plant_noise as plant_in_training

KINDS = ("uniform", "popularity", "insert")


def plant_noise(
    log: pl.DataFrame,
    rate: float = 0.1,
    kind: str = "uniform",
    seed: int = 0,
    user_col: str = "user_id",
    item_col: str = "item_id",
    time_col: str = "timestamp",
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return (noisy_log, labels).

    `noisy_log` has `log`'s schema and row order. `labels` has one row per interaction:
    `row_index` (row number in the log), user, timestamp, `is_noise`, `noise_kind` (null when clean),
    `original_item` (the item that was there). Join on `row_index`; (user, timestamp) also works when
    a user has no two interactions at the same time.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate {rate}: must be between 0 and 1")
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r}: choose one of {', '.join(KINDS)}")
    if kind == "insert":
        return _insert(log, rate, np.random.default_rng(seed), user_col, item_col, time_col)
    # replacement: the library's planting over every row (evaluate restricts it to training inputs)
    noisy, labels = plant_in_training(log, rate, kind, seed, user_col, item_col, time_col)
    return noisy, labels.drop("source_row")


def _insert(
    log: pl.DataFrame, rate: float, rng: np.random.Generator, user_col: str, item_col: str, time_col: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    n = log.height
    k = int(round(rate * n))
    ts = log[time_col].to_numpy()
    order = np.lexsort((np.arange(n), ts, log[user_col].to_numpy()))  # rows by user, then time
    uid_sorted = log[user_col].to_numpy()[order]
    anchor_pos = rng.integers(0, n, size=k)  # a position in the sorted log
    before = rng.random(k) < 0.5
    t_anchor = ts[order[anchor_pos]]
    nb = np.where(before, anchor_pos - 1, anchor_pos + 1)
    has_nb = (nb >= 0) & (nb < n)
    nb_c = np.clip(nb, 0, n - 1)
    same_user = has_nb & (uid_sorted[nb_c] == uid_sorted[anchor_pos])
    t_nb = np.where(same_user, ts[order[nb_c]], np.where(before, t_anchor - 2, t_anchor + 2))
    new_t = (t_anchor + t_nb) // 2 + ((t_anchor + t_nb) % 2) * before  # strictly between when the gap allows
    cat = np.sort(log[item_col].unique().to_numpy())
    new_items = cat[rng.integers(0, cat.size, size=k)]
    src = order[anchor_pos]
    extra = log[src.tolist()].with_columns(
        pl.Series(item_col, new_items, dtype=log[item_col].dtype),
        pl.Series(time_col, new_t, dtype=log[time_col].dtype),
    )
    noisy = pl.concat([log, extra])
    labels = pl.DataFrame(
        {
            "row_index": np.arange(n + k, dtype=np.uint32),
            user_col: noisy[user_col],
            time_col: noisy[time_col],
            "is_noise": np.r_[np.zeros(n, bool), np.ones(k, bool)],
        }
    ).with_columns(
        pl.when(pl.col("is_noise")).then(pl.lit("insert")).otherwise(None).alias("noise_kind"),
        pl.concat([log[item_col], pl.Series(item_col, [None] * k, dtype=log[item_col].dtype)]).alias("original_item"),
    )
    return noisy, labels


def last_interactions(
    log: pl.DataFrame, low: int, high: int, seed: int = 0, user_col: str = "user_id", time_col: str = "timestamp"
) -> pl.DataFrame:
    """A sparse log: each user's most recent k interactions, k drawn uniformly in [low, high] per user
    (seeded); items keep whatever interactions remain, so many become rare. Row order is kept."""
    users = log[user_col].unique().sort()
    rng = np.random.default_rng(seed)
    keep = pl.DataFrame({user_col: users, "_k": rng.integers(low, high + 1, size=users.len())})
    return (
        log.with_row_index("_r")
        .join(keep, on=user_col)
        .with_columns(pl.col(time_col).rank("ordinal", descending=True).over(user_col).alias("_rank"))
        .filter(pl.col("_rank") <= pl.col("_k"))
        .sort("_r")
        .drop("_r", "_k", "_rank")
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--interactions", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="directory for interactions/noise_labels.parquet")
    ap.add_argument("--rate", type=float, default=0.1)
    ap.add_argument("--kind", choices=KINDS, default="uniform")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--user-col", default="user_id")
    ap.add_argument("--item-col", default="item_id")
    ap.add_argument("--time-col", default="timestamp")
    a = ap.parse_args()
    noisy, labels = plant_noise(
        pl.read_parquet(a.interactions), a.rate, a.kind, a.seed, a.user_col, a.item_col, a.time_col
    )
    a.out.mkdir(parents=True, exist_ok=True)
    noisy.write_parquet(a.out / "interactions.parquet")
    labels.write_parquet(a.out / "noise_labels.parquet")
    print(f"planted {int(labels['is_noise'].sum())} of {labels.height} ({a.kind}, seed {a.seed}) -> {a.out}")


if __name__ == "__main__":
    main()
