"""Decoys: known noise planted in the backbone's training data, so that the detector learns from noise that the
backbone has fitted, as it has fitted the log's own noise.

Why: the detector learns from corruptions of the log, but the log's real noise was in the backbone's training
data and fresh corruptions were not, so the collaborative evidence against a corruption is two to four times as
strong as against the log's own noise on short sequences (docs/quality.md, "the corruption gap"). The backbone
trainer inserts a `decoys` share of extra rows into the sequences it trains on (uniform or popularity-sampled
items, half each, each just before or after a random row of the log) and writes them next to its weights
(`backbone/decoys.parquet`); the scorer's fit reads them back and trains the detector to find them in the
sequences the backbone saw. The scored log never contains them: `scores.parquet` has the input rows only.

A decoy is tied to the input row it sits next to (`anchor`, the row's `row_index`), so the same decoys go into
the self-cleaning round's backbone (a decoy whose anchor is left out is left out with it) and into any sample
of users read later.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from seqclean.interests import Segments
from seqclean.io import write_parquet
from seqclean.workdir import BACKBONE_DECOYS, BACKBONE_DIR

if TYPE_CHECKING:  # the detector package imports the backbone's trainer, which imports this module
    from seqclean.seqdetector.corruption import Corruption

UNIFORM, POPULARITY = 1, 2  # the corruption kinds' codes (`Corruption.kind`)
AUTO_RATE = 0.1
AUTO_MAX_MEAN_LENGTH = 20.0
"""Short sequences: where the backbone's fit of the log's own noise hides it (also `selfclean`'s auto rule)."""


def decoy_rate(setting: str, mean_length: float) -> float:
    """The share of decoys `--decoys` asks for: a share, or `auto`: `AUTO_RATE` on logs whose users average
    fewer than `AUTO_MAX_MEAN_LENGTH` interactions, else none (on long histories the corruption gap is small
    and decoys cost ranking: docs/quality.md, "Decoys")."""
    if str(setting).strip().lower() == "auto":
        return AUTO_RATE if mean_length < AUTO_MAX_MEAN_LENGTH else 0.0
    return float(setting)


def plant_decoys(sequences: Path, n_items: int, rate: float, seed: int) -> pl.DataFrame:
    """`round(rate * rows)` decoys for the log in `sequences` (the workdir's sequences.parquet).

    Columns: `uid`, `anchor` (the `row_index` of the row it sits next to), `after` (after it, else before),
    `iid`, `kind` (1 uniform, 2 popularity-sampled, as the log's interactions per item). Only the anchor rows
    and the per-item counts are read, so the memory is the decoys', not the log's."""
    scan = pl.scan_parquet(sequences)
    n_rows = scan.select(pl.len()).collect().item()
    k = int(round(rate * n_rows))
    if k == 0 or n_items < 1:
        return empty_decoys()
    per_item = scan.group_by("iid").len().collect(engine="streaming")
    counts = np.zeros(n_items + 1, np.float64)
    counts[per_item["iid"].to_numpy()] = per_item["len"].to_numpy()
    rng = np.random.default_rng([seed, 11])
    pick = rng.integers(0, n_rows, size=k)
    after = rng.random(k) < 0.5
    kind = np.where(rng.random(k) < 0.5, UNIFORM, POPULARITY).astype(np.int8)
    iid = rng.integers(1, n_items + 1, size=k)
    p = counts[1:] + 1.0
    pop = kind == POPULARITY
    iid[pop] = rng.choice(np.arange(1, n_items + 1), size=int(pop.sum()), p=p / p.sum())
    rows = (
        pl.scan_parquet(sequences)
        .select("uid", "row_index")
        .with_row_index("_r")
        .filter(pl.col("_r").is_in(pl.Series(np.unique(pick).astype(np.uint32)).implode()))
        .collect()
    )
    at = np.searchsorted(rows["_r"].to_numpy(), pick)
    return pl.DataFrame(
        {
            "uid": rows["uid"].to_numpy().astype(np.int64)[at],
            "anchor": rows["row_index"].to_numpy().astype(np.int64)[at],
            "after": after,
            "iid": iid.astype(np.int64),
            "kind": kind,
        }
    )


def empty_decoys() -> pl.DataFrame:
    return pl.DataFrame(
        schema={"uid": pl.Int64, "anchor": pl.Int64, "after": pl.Boolean, "iid": pl.Int64, "kind": pl.Int8}
    )


def write_decoys(decoys: pl.DataFrame, backbone_dir: Path) -> None:
    write_parquet(decoys, backbone_dir / BACKBONE_DECOYS)


def read_decoys(backbone: Path, uids: np.ndarray | None = None) -> pl.DataFrame | None:
    """The decoys of the backbone in `backbone` (its directory or the workdir; of `uids` only when given); None
    when it was trained without them."""
    found = (p for p in (backbone, backbone / BACKBONE_DIR) if (p / BACKBONE_DECOYS).exists())
    path = next((p / BACKBONE_DECOYS for p in found), None)
    if path is None:
        return None
    scan = pl.scan_parquet(path)
    if uids is not None:
        scan = scan.filter(pl.col("uid").is_in(pl.Series(uids).implode()))
    return scan.collect()


def with_decoys(iid: np.ndarray, segs: Segments, row_index: np.ndarray, decoys: pl.DataFrame) -> Corruption:
    """The sequences `iid` (grouped by user, in position order; `row_index` per row) with their decoys inserted.

    A decoy whose anchor is not among the rows is left out. Decoys at the same place keep their order in
    `decoys`. `label` marks the decoys, `kind` says which kind (0 for the log's rows), `origin` is the input
    row each row came from (-1 for a decoy)."""
    from seqclean.seqdetector.corruption import Corruption

    n = iid.size
    order = np.argsort(row_index, kind="stable")
    anchor = decoys["anchor"].to_numpy().astype(np.int64)
    at = np.searchsorted(row_index[order], anchor)
    found = (at < n) & (row_index[order][np.minimum(at, max(n - 1, 0))] == anchor) if n else np.zeros(0, bool)
    flat = order[at[found]]
    d_after = decoys["after"].to_numpy()[found]
    key = np.concatenate([2 * np.arange(n) + 1, 2 * flat + np.where(d_after, 2, 0)])
    merged = np.argsort(key, kind="stable")
    d_iid = decoys["iid"].to_numpy().astype(np.int64)[found]
    d_kind = decoys["kind"].to_numpy().astype(np.int8)[found]
    all_iid = np.concatenate([iid.astype(np.int64), d_iid])[merged]
    all_seg = np.concatenate([segs.seg, segs.seg[flat]])[merged]
    kind = np.concatenate([np.zeros(n, np.int8), d_kind])[merged]
    origin = np.concatenate([np.arange(n), np.full(flat.size, -1)])[merged]
    return Corruption(
        iid=all_iid, segs=Segments.from_sorted_ids(all_seg), label=kind > 0, origin=origin.astype(np.int64), kind=kind
    )


def stacked(base: Corruption, fresh: Corruption) -> Corruption:
    """`fresh` (a corruption of `base`'s sequences) with `base`'s decoys still labelled: both kinds of noise in
    one draw, the fitted decoys and the fresh corruptions."""
    from seqclean.seqdetector.corruption import Corruption

    inner = fresh.origin >= 0
    src = np.where(inner, fresh.origin, 0)
    kind = np.where(fresh.kind > 0, fresh.kind, np.where(inner, base.kind[src], 0)).astype(np.int8)
    origin = np.where(inner, base.origin[src], -1)
    return Corruption(iid=fresh.iid, segs=fresh.segs, label=kind > 0, origin=origin, kind=kind)
