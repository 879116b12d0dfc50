"""Plant known noise in a clean log (LLM4DSR's protocol), so detection can be measured against labels.

A seeded `rate` share of all interactions (exactly round(rate * n) rows, chosen uniformly) get their
item replaced by a random catalogue item different from the original: uniformly over the log's items
(`kind="uniform"`, LLM4DSR) or in proportion to item popularity (`kind="popularity"`, harder: popular
items look plausible everywhere). User, timestamp and every other column are left as they were, so
the row order and schema of the log are unchanged.

    python -m bench.plant_noise --interactions .data/ml-100k/interactions.parquet --out /tmp/ml-noisy
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl

KINDS = ("uniform", "popularity")


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
    rng = np.random.default_rng(seed)
    n = log.height
    items = log[item_col]
    counts = items.value_counts(sort=False).sort(item_col)
    cat = counts[item_col]
    k = int(round(rate * n))
    rows = np.sort(rng.choice(n, size=k, replace=False)) if k else np.zeros(0, dtype=np.int64)
    orig_pos = np.searchsorted(cat.to_numpy(), items.to_numpy()[rows])
    if kind == "uniform":
        p = None
    else:
        w = counts["count"].to_numpy().astype(np.float64)
        p = w / w.sum()
    new_pos = rng.choice(cat.len(), size=k, p=p)
    same = new_pos == orig_pos
    while same.any() and cat.len() > 1:  # redraw until every planted item differs from the original
        new_pos[same] = rng.choice(cat.len(), size=int(same.sum()), p=p)
        same = new_pos == orig_pos
    is_noise = np.zeros(n, dtype=bool)
    is_noise[rows] = True
    new_items = items.to_numpy().copy()
    new_items[rows] = cat.to_numpy()[new_pos]
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
    )
    return noisy, labels


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
