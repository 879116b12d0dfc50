"""The backbone's data, without torch: sequences read from the workdir, training/validation windows,
and the full-ranking metrics (HR@10, NDCG@10) that early stopping and `bench/` use."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl


def read_sequences(
    path: Path,
    exclude_rows: np.ndarray | None = None,
    uids: np.ndarray | None = None,
    decoys: pl.DataFrame | None = None,
) -> list[np.ndarray]:
    """Per user (uid order), the iid sequence in position order, from sequences.parquet; without the rows
    whose input `row_index` is in `exclude_rows` (the self-cleaning round trains on the log without them);
    only the users in `uids` when given (a training budget reads its sample, not the log); with `decoys`
    inserted when given (`seqclean.decoys`).

    Views into one int64 array cut at each new uid: no Python object per interaction (`to_list()` on
    the grouped ids cost about 36 bytes an interaction, 1.8 GB at 50M rows; docs/scale.md)."""
    cols = ("uid", "position", "iid") + (("row_index",) if decoys is not None else ())
    df = _scan(path, exclude_rows, uids).select(*cols).sort("uid", "position").collect()
    if df.height == 0:
        return []
    iid = df["iid"].to_numpy().astype(np.int64)
    uid = df["uid"].to_numpy()
    if decoys is not None:
        from seqclean.decoys import with_decoys
        from seqclean.interests import Segments

        c = with_decoys(iid, Segments.from_sorted_ids(uid), df["row_index"].to_numpy().astype(np.int64), decoys)
        return np.split(c.iid, c.segs.start[1:])
    return np.split(iid, np.flatnonzero(np.diff(uid)) + 1)


def user_lengths(path: Path, exclude_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(uid, rows) per user in uid order, after `exclude_rows`, as a streaming aggregate (one row per user)."""
    df = _scan(path, exclude_rows).group_by("uid").len().sort("uid").collect(engine="streaming")
    return df["uid"].to_numpy(), df["len"].to_numpy()


def _scan(path: Path, exclude_rows: np.ndarray | None, uids: np.ndarray | None = None) -> pl.LazyFrame:
    scan = pl.scan_parquet(path)
    if exclude_rows is not None and exclude_rows.size:
        scan = scan.filter(~pl.col("row_index").is_in(pl.Series(exclude_rows).implode()))
    if uids is not None:
        scan = scan.filter(pl.col("uid").is_in(pl.Series(uids).implode()))
    return scan


def training_windows(
    seqs: Sequence[np.ndarray], max_len: int, dtype: type[np.integer[Any]] = np.int64, chunk: int = 65_536
) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets), both `dtype` [N, max_len], right-padded with 0: target[j] is the item after input[j].

    A sequence s gives inputs s[:-1] and targets s[1:]; longer than max_len, they are cut into
    consecutive windows aligned on the end, so every target is used exactly once. Windows come per
    sequence, last window first. Vectorised over `chunk` windows at a time (no Python loop per window):
    the index arrays stay bounded while the output is the log once (int32 halves it; the trainer uses it).
    """
    flat, offsets, lengths = _flatten(seqs, dtype)
    n = np.maximum(lengths - 1, 0)  # inputs per sequence
    n_win = (n + max_len - 1) // max_len
    seq = np.repeat(np.arange(len(n)), n_win)
    k = np.arange(len(seq)) - np.repeat(np.cumsum(n_win) - n_win, n_win)
    end = n[seq] - k * max_len
    start = np.maximum(end - max_len, 0)
    inputs = np.zeros((len(seq), max_len), dtype=dtype)
    targets = np.zeros((len(seq), max_len), dtype=dtype)
    for b in range(0, len(seq), chunk):
        s0, w = offsets[seq[b : b + chunk]] + start[b : b + chunk], (end - start)[b : b + chunk]
        inputs[b : b + chunk] = _gather(flat, s0, w, max_len)
        targets[b : b + chunk] = _gather(flat, s0 + 1, w, max_len)
    return inputs, targets


def last_windows(
    seqs: Sequence[np.ndarray], max_len: int, dtype: type[np.integer[Any]] = np.int64
) -> tuple[np.ndarray, np.ndarray]:
    """The last max_len items of each sequence, right-padded, and each one's length (for next-item ranking)."""
    flat, offsets, lengths = _flatten(seqs, dtype)
    w = np.minimum(lengths, max_len)
    return _gather(flat, offsets + lengths - w, w, max_len).reshape(len(seqs), max_len), w


def _gather(flat: np.ndarray, start: np.ndarray, width: np.ndarray, max_len: int) -> np.ndarray:
    """Rows of `max_len` items: `flat[start : start + width]` each, right-padded with 0, in `flat`'s dtype."""
    pos = np.arange(max_len)
    valid = pos[None, :] < width[:, None]
    idx = np.where(valid, start[:, None] + pos[None, :], 0)
    return np.where(valid, flat[idx] if len(flat) else 0, 0).astype(flat.dtype, copy=False)


def _flatten(seqs: Sequence[np.ndarray], dtype: type[np.integer[Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All sequences in one array (`dtype`), each one's offset in it and its length (int64)."""
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    parts = [np.asarray(s) for s in seqs if len(s)]
    flat = np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)
    offsets = np.cumsum(lengths) - lengths
    return flat, offsets, lengths


def sample_users(n: int, budget: int, seed: int) -> np.ndarray:
    """Sorted indices of at most `budget` of `n` users (all when `budget` is 0 or not below `n`), drawn
    uniformly without replacement from `seed`: a training or validation budget that does not follow the log."""
    if budget <= 0 or budget >= n:
        return np.arange(n)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(12,)))
    return np.sort(rng.choice(n, size=budget, replace=False))


# ---------------------------------------------------------------- metrics


def rank_metrics(
    model: Any,
    inputs: np.ndarray,
    lengths: np.ndarray,
    targets: np.ndarray,
    device: str,
    ks: Sequence[int] = (5, 10, 20),
    batch_size: int = 512,
    item_chunk: int = 16_384,
    prior: Any = None,
) -> dict[str, float]:
    """HR@K and NDCG@K of the next item, ranked against every item (full ranking, no sampling).
    `prior`: the loss's per-item logit offset (`NextItemLoss.prior`), added to every score when given.

    Rank = number of items scored strictly higher than the target; history items are not masked
    (items may repeat in logs). Catalogues above `item_chunk` items are scored a slice at a time, so
    memory stays at batch_size x item_chunk scores whatever the catalogue (32 MiB a slice: at 65,536 the
    validation was embed's peak on a 200,000-item catalogue, 240 MiB above the training's; docs/scale.md).
    """
    import torch

    model.eval()
    ranks = []
    order = np.argsort(lengths, kind="stable")  # similar lengths together: trim the padding
    with torch.no_grad():
        table = model.item_emb.weight[1:]
        for b in range(0, len(inputs), batch_size):
            sel = order[b : b + batch_size]
            n = int(lengths[sel].max())
            x = torch.from_numpy(inputs[sel, :n]).to(device)
            last = torch.from_numpy(lengths[sel] - 1).to(device)
            h = model(x)[torch.arange(len(x), device=device), last]
            t = torch.from_numpy(targets[sel] - 1).to(device)
            if len(table) <= item_chunk:
                scores = h @ table.T
                if prior is not None:
                    scores += prior  # in place: no second (batch x catalogue) array
                tgt = scores.gather(1, t.unsqueeze(1))
                ranks.append((scores > tgt).sum(1).cpu().numpy())
                continue
            tgt = (h * table[t]).sum(1, keepdim=True) + (0.0 if prior is None else prior[t].unsqueeze(1))
            rank = torch.zeros(len(x), dtype=torch.long, device=device)
            for c in range(0, len(table), item_chunk):
                part = h @ table[c : c + item_chunk].T
                if prior is not None:
                    part += prior[c : c + item_chunk]
                above = part > tgt
                col = torch.arange(c, c + above.shape[1], device=device)
                rank += (above & (col.unsqueeze(0) != t.unsqueeze(1))).sum(1)  # never the target itself
            ranks.append(rank.cpu().numpy())
    return metrics_from_ranks(np.concatenate(ranks) if ranks else np.zeros(0), ks)


def metrics_from_ranks(r: np.ndarray, ks: Sequence[int]) -> dict[str, float]:
    """HR@k and NDCG@k from 0-based ranks of the target among all items (one relevant item per row)."""
    out: dict[str, float] = {}
    for k in ks:
        hit = r < k
        out[f"HR@{k}"] = float(hit.mean()) if len(r) else 0.0
        out[f"NDCG@{k}"] = float(np.where(hit, 1.0 / np.log2(r + 2.0), 0.0).mean()) if len(r) else 0.0
    return out


# ---------------------------------------------------------------- training


@dataclass
class BestEpoch:
    """Epoch selection on validation NDCG@10, shared by the backbone and evaluate's downstream SASRec: the best
    epoch's metrics and weights, and when `patience` epochs in a row brought no improvement."""

    patience: int
    state: dict[str, Any]  # the best epoch's weights (the initial ones until an epoch is recorded)
    best: dict[str, float] = field(default_factory=dict)
    epoch: int = 0
    bad: int = 0

    def step(self, epoch: int, metrics: dict[str, float], model: Any) -> bool:
        """Record one epoch's validation metrics (keeping the weights when they are the best); True = stop."""
        if not self.best or metrics["NDCG@10"] > self.best["NDCG@10"]:
            self.best, self.epoch, self.bad = metrics, epoch, 0
            self.state = copy.deepcopy(model.state_dict())
            return False
        self.bad += 1
        return self.bad >= self.patience
