"""A seeded synthetic interaction log of any size, written block by block as partitioned Parquet.

    PYTHONPATH=. python -m bench.synthetic --rows 1000000 --out /tmp/syn1m --seed 0 [--users U] [--items I]
        [--noise 0.1] [--block-users 16384]

The shop of `sample_data/generate.py` (its 20 categories, product types, modifiers and brands), scaled up:
- items: `--items` (default rows/250, at least 1,000: about 200,000 at 50M rows), each with a category, a
  product type and a title `"{brand} {modifier} {product} in {colour}"`; popularity is Zipf (exponent 0.9)
  over a random ranking of the catalogue;
- users: `--users` (default rows/50); lengths drawn so that they sum to exactly `--rows`, at least 3 each,
  long-tailed (multinomial with lognormal weights, sigma 1.1): about 50 on average, a few thousand at most;
- each user has 3 interest slots (a category and 2 liked product types) with Dirichlet weights; each
  interaction replaces one slot with a new interest with probability 0.03 (drifting interests); a clean
  interaction draws a slot, a product type (a liked one 3 times in 4) and an item of that category and type
  by popularity;
- timestamps come in sessions (a new session with probability 1/4, seconds to minutes apart inside one,
  days between sessions, each user's span kept under a year);
- planted noise, `--noise` of the rows: `random` (a uniformly random item), `popular` (a popularity-sampled
  item outside all of the user's current interest categories), `shared` (a burst of 1-3 interactions from
  another user's interests, as on a shared account).

Files: `OUT/items.parquet` (item_id, title, category, price), `OUT/interactions/part-NNNNN.parquet`
(user_id, item_id, timestamp, rating, device) and `OUT/noise_labels/part-NNNNN.parquet` (user_id, timestamp,
is_noise, noise_kind: the layout of `sample_data/noise_labels.parquet`), one part per block of users.

Memory: only one block of users is ever held (numpy, vectorised over its rows). Determinism: users are cut
into fixed partitions of `PARTITION_USERS`; every partition draws from its own generator
`SeedSequence(seed, spawn_key=(2, partition))`, and a block is a run of whole partitions, so the files'
concatenated rows do not depend on `--block-users` (only how they are cut into parts does). Rows within a
partition are sorted by (timestamp, user_id), labels by (user_id, timestamp).
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

PARTITION_USERS = 1024  # fixed: changing it changes the data for a seed
ROWS_PER_USER = 50
ROWS_PER_ITEM = 250
MIN_ITEMS = 1_000
MIN_LEN = 3
SLOTS = 3
DRIFT = 0.03
ZIPF = 0.9
T0 = 1_640_995_200  # 2022-01-01 UTC
KINDS = ("random", "popular", "shared")
KIND_SHARE = (0.5, 0.3, 0.2)  # of noise events; a shared event becomes a burst of 1-3 rows
COLOURS = ("Black", "White", "Red", "Blue", "Green", "Grey", "Navy", "Olive", "Sand", "Teal", "Plum", "Orange")


def _shop() -> Any:
    """The vocabulary of sample_data/generate.py (a script, not a package: loaded from its path)."""
    path = Path(__file__).resolve().parent.parent / "sample_data" / "generate.py"
    spec = importlib.util.spec_from_file_location("_sample_generate", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@dataclass
class Catalogue:
    items: pl.DataFrame  # item_id, title, category, price
    group: np.ndarray  # per item index: category * 8 + product type
    cat: np.ndarray  # per item index: category
    group_cdf: np.ndarray  # items sorted by group; g + cumulative popularity share within group g
    group_order: np.ndarray  # item index of each entry of group_cdf
    pop_cdf: np.ndarray  # cumulative popularity over all items (for `popular` noise)
    n_cats: int


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def make_catalogue(seed: int, n_items: int) -> Catalogue:
    shop = _shop()
    cats = list(shop.CATEGORIES)
    n_cats, n_groups = len(cats), len(cats) * 8
    if n_items < n_groups:
        raise SystemExit(f"--items {n_items}: give at least {n_groups} (one per category and product type)")
    rng = _rng(seed, 0)
    group = rng.permutation(np.arange(n_items) % n_groups)
    cat, kind = group // 8, group % 8
    nouns = np.array([shop.CATEGORIES[c][0] for c in cats])  # (n_cats, 8)
    mods = np.array([shop.CATEGORIES[c][1] for c in cats])
    mod = mods[cat, rng.integers(8, size=n_items)]
    brand = np.array(shop.BRANDS)[rng.integers(len(shop.BRANDS), size=n_items)]
    colour = np.array(COLOURS)[rng.integers(len(COLOURS), size=n_items)]
    noun = nouns[cat, kind]
    book = np.char.endswith(mod, ":")  # books: "<Title>: <kind> by <author>", as in sample_data
    title = np.where(
        book,
        np.char.add(np.char.add(np.char.add(mod, " "), noun), np.char.add(" by ", brand)),
        np.char.add(np.char.add(np.char.add(brand, " "), np.char.add(mod, " ")), np.char.add(noun, " in ")),
    )
    title = np.where(book, title, np.char.add(title, colour))
    pop = 1.0 / (rng.permutation(n_items) + 1.0) ** ZIPF
    order = np.lexsort((np.arange(n_items), group))
    g_sorted = group[order]
    csum = np.cumsum(pop[order])
    start = np.searchsorted(g_sorted, np.arange(n_groups))
    before = np.where(start > 0, csum[np.maximum(start - 1, 0)], 0.0)
    total = np.append(csum[start[1:] - 1], csum[-1]) - before
    group_cdf = g_sorted + (csum - before[g_sorted]) / total[g_sorted]
    group_cdf[np.r_[start[1:] - 1, n_items - 1]] = np.arange(n_groups) + 1.0  # exact upper ends
    items = pl.DataFrame(
        {
            "item_id": np.arange(1, n_items + 1, dtype=np.int64),
            "title": title.tolist(),
            "category": np.array(cats)[cat].tolist(),
            "price": np.round(rng.lognormal(3.0, 0.8, n_items), 2),
        }
    )
    pop_cdf = np.cumsum(pop) / pop.sum()
    return Catalogue(items, group, cat, group_cdf, order, pop_cdf, n_cats)


def user_lengths(seed: int, n_rows: int, n_users: int) -> np.ndarray:
    """Interactions per user: at least MIN_LEN, long-tailed, summing to exactly n_rows."""
    if n_users < 1 or n_rows < n_users * MIN_LEN:
        raise SystemExit(f"--rows {n_rows} / --users {n_users}: need at least {MIN_LEN} rows per user")
    rng = _rng(seed, 1)
    w = rng.lognormal(0.0, 1.1, n_users)
    return MIN_LEN + rng.multinomial(n_rows - n_users * MIN_LEN, w / w.sum()).astype(np.int64)


def _draw_in_group(cat: Catalogue, group: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Item index of popularity quantile u in each row's (category, type) group."""
    pos = np.searchsorted(cat.group_cdf, group + u, side="right")
    return cat.group_order[np.minimum(pos, cat.group_order.size - 1)]


def _interests(rng: np.random.Generator, n: int, n_cats: int) -> np.ndarray:
    """n interests as (category, liked type, liked type)."""
    return np.stack([rng.integers(n_cats, size=n), rng.integers(8, size=n), rng.integers(8, size=n)], axis=1)


def partition(seed: int, p: int, lengths: np.ndarray, first_user: int, cat: Catalogue, noise: float) -> pl.DataFrame:
    """All rows of one partition of users (ids first_user, first_user+1, ...), with their labels."""
    rng = _rng(seed, 2, p)
    n_u, n = lengths.size, int(lengths.sum())
    user = np.repeat(np.arange(n_u), lengths)
    start = np.cumsum(lengths) - lengths  # first row of each user
    pos = np.arange(n) - start[user]
    # interests: initial slots per user, drift events replace one slot with the row's new interest
    slots = _interests(rng, n_u * SLOTS, cat.n_cats).reshape(n_u, SLOTS, 3)
    weights = rng.dirichlet(np.full(SLOTS, 2.0), size=n_u).cumsum(axis=1)
    new = _interests(rng, n, cat.n_cats)
    drift = rng.random(n) < DRIFT
    drift_slot = rng.integers(SLOTS, size=n)
    current = np.empty((n, SLOTS, 3), dtype=np.int32)
    for j in range(SLOTS):
        last = np.maximum.accumulate(np.where(drift & (drift_slot == j), np.arange(n), -1))
        fresh = last >= start[user]
        current[:, j] = np.where(fresh[:, None], new[np.maximum(last, 0)], slots[user, j])
    slot = (rng.random(n)[:, None] > weights[user]).sum(axis=1).clip(max=SLOTS - 1)
    chosen = current[np.arange(n), slot]
    liked = rng.random(n) < 0.75
    kind = np.where(liked, np.where(rng.random(n) < 0.5, chosen[:, 1], chosen[:, 2]), rng.integers(8, size=n))
    item = _draw_in_group(cat, chosen[:, 0] * 8 + kind, rng.random(n))
    # sessions: a new one with probability 1/4; minutes apart inside, days between (span under a year)
    new_session = (rng.random(n) < 0.25) | (pos == 0)
    day_gap = np.minimum(3 * 86_400.0, 300 * 86_400.0 / np.maximum(1.0, lengths * 0.25))[user]
    gap = np.where(new_session, rng.exponential(1.0, n) * day_gap, rng.exponential(90.0, n)).astype(np.int64) + 1
    gap[start] = rng.integers(0, 365 * 86_400, size=n_u)
    csum = np.cumsum(gap)
    ts = T0 + csum - (csum[start] - gap[start])[user]
    rating = np.round(rng.uniform(1, 5, n) * 2) / 2
    device = np.array(["ios", "android", "web"])[rng.choice(3, size=n, p=[0.4, 0.35, 0.25])]
    # noise: events of three kinds; a shared event starts a burst of 1-3 rows within the user. Draws of a
    # fixed size first and the ones whose size depends on the noise last, so that every draw above (and
    # so each clean row) is the same whatever `noise` is
    burst_len = rng.integers(1, 4, size=n)
    event_rate = noise / (KIND_SHARE[0] + KIND_SHARE[1] + KIND_SHARE[2] * 2.0)  # mean burst length 2
    event = rng.random(n) < event_rate
    label = np.where(event, np.searchsorted(np.cumsum(KIND_SHARE), rng.random(n), side="right") + 1, 0)
    other_user = (np.arange(n_u) + rng.integers(1, max(n_u, 2), size=n_u)) % n_u
    other = slots[other_user[user], 0]  # another user's first interest
    other_kind = np.where(rng.random(n) < 0.5, other[:, 1], other[:, 2])
    item[label == 1] = rng.integers(cat.group.size, size=int((label == 1).sum()))
    pop_rows = np.flatnonzero(label == 2)  # up to 8 popularity draws each; the first outside its interests
    tries = np.searchsorted(cat.pop_cdf, rng.random((pop_rows.size, 8))).clip(max=cat.group.size - 1)
    outside = ~(cat.cat[tries][:, :, None] == current[pop_rows][:, None, :, 0]).any(axis=2)
    item[pop_rows] = tries[np.arange(pop_rows.size), outside.argmax(axis=1)]
    shared = label == 3
    item[shared] = _draw_in_group(cat, other[shared, 0] * 8 + other_kind[shared], rng.random(int(shared.sum())))
    for off in (1, 2):  # the burst's later rows: the same other interest, new draws
        src = np.flatnonzero(shared & (burst_len > off) & (pos + off < lengths[user]))
        dst = src + off
        label[dst] = 3
        item[dst] = _draw_in_group(cat, other[src, 0] * 8 + other_kind[src], rng.random(src.size))
    return pl.DataFrame(
        {
            "user_id": (first_user + user).astype(np.int64),
            "item_id": (item + 1).astype(np.int64),
            "timestamp": ts.astype(np.int64),
            "rating": rating,
            "device": device,
            "is_noise": label > 0,
            "noise_kind": pl.Series(label, dtype=pl.Int8).replace_strict(
                dict(enumerate(KINDS, start=1)), default=None, return_dtype=pl.String
            ),
        }
    )


def generate(
    out: Path,
    rows: int,
    seed: int,
    users: int | None = None,
    items: int | None = None,
    noise: float = 0.1,
    block_users: int = 16_384,
) -> dict[str, Any]:
    """Write the log, the items and the labels under `out`; returns counts."""
    n_users = users or max(1, rows // ROWS_PER_USER)
    n_items = items or max(MIN_ITEMS, rows // ROWS_PER_ITEM)
    if not 0.0 <= noise < 1.0:
        raise SystemExit(f"--noise {noise}: give a share in [0, 1)")
    cat = make_catalogue(seed, n_items)
    lengths = user_lengths(seed, rows, n_users)
    parts_per_block = max(1, -(-block_users // PARTITION_USERS))
    n_parts = -(-n_users // PARTITION_USERS)
    n_blocks = -(-n_parts // parts_per_block)
    digits = max(5, len(str(n_blocks - 1)))
    for sub in ("interactions", "noise_labels"):
        (out / sub).mkdir(parents=True, exist_ok=True)
        for old in (out / sub).glob("part-*.parquet"):
            old.unlink()
    cat.items.write_parquet(out / "items.parquet")
    n_noise = 0
    for b in range(n_blocks):
        frames = []
        for p in range(b * parts_per_block, min(n_parts, (b + 1) * parts_per_block)):
            lo, hi = p * PARTITION_USERS, min(n_users, (p + 1) * PARTITION_USERS)
            frames.append(partition(seed, p, lengths[lo:hi], lo + 1, cat, noise).sort(["timestamp", "user_id"]))
        block = pl.concat(frames)
        name = f"part-{b:0{digits}d}.parquet"
        block.drop("is_noise", "noise_kind").write_parquet(out / "interactions" / name)
        labels = block.select("user_id", "timestamp", "is_noise", "noise_kind").sort(["user_id", "timestamp"])
        labels.write_parquet(out / "noise_labels" / name)
        n_noise += int(block["is_noise"].sum())
        del block, labels, frames
    return {"rows": rows, "users": n_users, "items": n_items, "noise_rows": n_noise, "parts": n_blocks}


def peak_rss_mib() -> float:
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (kib / 1024 if sys.platform == "darwin" else kib) / 1024


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, required=True, help="interactions to write (exactly)")
    ap.add_argument("--out", type=Path, required=True, help="output directory")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--users", type=int, default=None, help=f"default rows/{ROWS_PER_USER}")
    ap.add_argument("--items", type=int, default=None, help=f"default max({MIN_ITEMS}, rows/{ROWS_PER_ITEM})")
    ap.add_argument("--noise", type=float, default=0.1, help="share of planted noise rows")
    ap.add_argument("--block-users", type=int, default=16_384, help="users per written part (memory bound)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    res = generate(args.out, args.rows, args.seed, args.users, args.items, args.noise, args.block_users)
    wall = time.perf_counter() - t0
    print(
        f"{res['rows']} interactions, {res['users']} users, {res['items']} items, {res['parts']} parts, "
        f"noise share {res['noise_rows'] / res['rows']:.4f} -> {args.out}\n"
        f"{wall:.1f} s, {res['rows'] / wall:,.0f} rows/s, peak RSS {peak_rss_mib():.0f} MiB"
    )


if __name__ == "__main__":
    main()
