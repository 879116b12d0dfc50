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


def read_sequences(path: Path, exclude_rows: np.ndarray | None = None) -> list[np.ndarray]:
    """Per user (uid order), the iid sequence in position order, from sequences.parquet; without the rows
    whose input `row_index` is in `exclude_rows` (the self-cleaning round trains on the log without them).

    Views into one int64 array cut at each new uid: no Python object per interaction (`to_list()` on
    the grouped ids cost about 36 bytes an interaction, 1.8 GB at 50M rows; docs/scale.md)."""
    scan = pl.scan_parquet(path)
    if exclude_rows is not None and exclude_rows.size:
        scan = scan.filter(~pl.col("row_index").is_in(pl.Series(exclude_rows).implode()))
    df = scan.select("uid", "position", "iid").sort("uid", "position").collect()
    if df.height == 0:
        return []
    iid = df["iid"].to_numpy().astype(np.int64)
    return np.split(iid, np.flatnonzero(np.diff(df["uid"].to_numpy())) + 1)


def training_windows(seqs: Sequence[np.ndarray], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets), both int64 [N, max_len], right-padded with 0: target[j] is the item after input[j].

    A sequence s gives inputs s[:-1] and targets s[1:]; longer than max_len, they are cut into
    consecutive windows aligned on the end, so every target is used exactly once.
    """
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for s in seqs:
        if len(s) < 2:
            continue
        x, y = s[:-1], s[1:]
        for end in range(len(x), 0, -max_len):
            start = max(0, end - max_len)
            xs.append(x[start:end])
            ys.append(y[start:end])
    inputs = np.zeros((len(xs), max_len), dtype=np.int64)
    targets = np.zeros((len(xs), max_len), dtype=np.int64)
    for r, (x, y) in enumerate(zip(xs, ys, strict=True)):
        inputs[r, : len(x)] = x
        targets[r, : len(y)] = y
    return inputs, targets


def last_windows(seqs: Sequence[np.ndarray], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """The last max_len items of each sequence, right-padded, and each one's length (for next-item ranking)."""
    out = np.zeros((len(seqs), max_len), dtype=np.int64)
    lengths = np.zeros(len(seqs), dtype=np.int64)
    for r, s in enumerate(seqs):
        tail = s[-max_len:]
        out[r, : len(tail)] = tail
        lengths[r] = len(tail)
    return out, lengths


# ---------------------------------------------------------------- metrics


def rank_metrics(
    model: Any,
    inputs: np.ndarray,
    lengths: np.ndarray,
    targets: np.ndarray,
    device: str,
    ks: Sequence[int] = (5, 10, 20),
    batch_size: int = 512,
) -> dict[str, float]:
    """HR@K and NDCG@K of the next item, ranked against every item (full ranking, no sampling).

    Rank = number of items scored strictly higher than the target; history items are not masked
    (items may repeat in logs).
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
            scores = h @ table.T
            t = torch.from_numpy(targets[sel] - 1).to(device)
            tgt = scores.gather(1, t.unsqueeze(1))
            ranks.append((scores > tgt).sum(1).cpu().numpy())
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
