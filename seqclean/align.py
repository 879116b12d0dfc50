"""IADSR's alignment: linear projections (no bias) of semantic interests into the collaborative space,
trained with InfoNCE (in-batch negatives, cosine similarity, temperature 0.1, as in the authors' code).

Two heads, one per interest kind: short-term (per position) and long-term (per user). Training uses
torch; the result is two plain matrices, so scoring needs only NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from seqclean.backbone.loop import torch_threads

TEMPERATURE = 0.1


def info_nce(a: Any, b: Any, temperature: float = TEMPERATURE) -> Any:
    """Symmetric InfoNCE between matching rows of `a` and `b` (torch tensors, shape (n, d)).

    Row i of `a` and row i of `b` are a positive pair; every other row of the batch is a negative.
    """
    import torch
    import torch.nn.functional as F

    a = F.normalize(a, dim=-1)
    b = F.normalize(b, dim=-1)
    logits = a @ b.T / temperature
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


@dataclass
class Alignment:
    """Projection matrices semantic -> collaborative space, plus how well they aligned."""

    w_short: np.ndarray  # (d_sem, d_col)
    w_long: np.ndarray  # (d_sem, d_col)
    loss_short: float
    loss_long: float
    top1_short: float  # held-out in-batch retrieval accuracy (chance = 1 / batch size)
    top1_long: float

    def report(self) -> dict[str, float]:
        """The fit's figures for summary.json (InfoNCE losses, held-out top-1 retrieval)."""
        return {
            "infonce_short": round(self.loss_short, 4),
            "infonce_long": round(self.loss_long, 4),
            "top1_short": round(self.top1_short, 4),
            "top1_long": round(self.top1_long, 4),
        }


def _train_head(
    sem: np.ndarray, col: np.ndarray, *, epochs: int, batch: int, lr: float, seed: int
) -> tuple[np.ndarray, float, float]:
    import torch

    gen = torch.Generator().manual_seed(seed)
    n = sem.shape[0]
    perm = torch.randperm(n, generator=gen)
    n_val = max(min(n // 5, 2048), 1) if n >= 10 else 0
    val_idx, tr_idx = perm[:n_val], perm[n_val:]
    s = torch.from_numpy(np.ascontiguousarray(sem, dtype=np.float32))
    c = torch.from_numpy(np.ascontiguousarray(col, dtype=np.float32))
    w = torch.nn.Linear(sem.shape[1], col.shape[1], bias=False)
    with torch.no_grad():
        w.weight.copy_(torch.randn(w.weight.shape, generator=gen) / np.sqrt(sem.shape[1]))
    opt = torch.optim.Adam(w.parameters(), lr=lr)
    last = float("nan")
    for _ in range(epochs):
        order = tr_idx[torch.randperm(tr_idx.numel(), generator=gen)]
        for k in range(0, order.numel() - 1, batch):
            idx = order[k : k + batch]
            if idx.numel() < 2:
                continue
            loss = info_nce(w(s[idx]), c[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            last = float(loss.detach())
    top1 = float("nan")
    if n_val >= 2:
        with torch.no_grad():
            vb = val_idx[: min(batch, n_val)]
            a = torch.nn.functional.normalize(w(s[vb]), dim=-1)
            b = torch.nn.functional.normalize(c[vb], dim=-1)
            top1 = float(((a @ b.T).argmax(dim=1) == torch.arange(vb.numel())).float().mean())
    return w.weight.detach().numpy().T.copy(), last, top1


def fit_alignment(
    short_sem: np.ndarray,
    short_col: np.ndarray,
    long_sem: np.ndarray,
    long_col: np.ndarray,
    *,
    epochs: int = 4,
    batch: int = 256,
    lr: float = 1e-2,
    max_pairs: int = 20_000,
    seed: int = 0,
) -> Alignment:
    """Train both heads; inputs are matching rows of semantic and collaborative interests.

    At most `max_pairs` short-term pairs (a seeded subsample) are used: a linear map needs no more.
    """
    import torch

    if short_sem.shape[0] > max_pairs:
        keep = np.sort(np.random.default_rng(seed).choice(short_sem.shape[0], size=max_pairs, replace=False))
        short_sem, short_col = short_sem[keep], short_col[keep]
    with torch_threads(1):  # tiny matrices: one thread is faster and leaves the other cores alone
        torch.manual_seed(seed)
        ws, ls, ts = _train_head(short_sem, short_col, epochs=epochs, batch=batch, lr=lr, seed=seed)
        wl, ll, tl = _train_head(long_sem, long_col, epochs=epochs * 5, batch=batch, lr=lr, seed=seed + 1)
    return Alignment(w_short=ws, w_long=wl, loss_short=ls, loss_long=ll, top1_short=ts, top1_long=tl)
