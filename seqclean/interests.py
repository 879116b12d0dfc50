"""Per-position interests computed over chunks of whole users, as pure array functions.

A chunk is given as arrays sorted by (user, position): `seg` (0..n_users_in_chunk-1 per row), and
row vectors. Every function here is vectorised over all rows of a chunk: no Python loop per user.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Segments:
    """Row -> user-segment bookkeeping for a chunk sorted by (user, position)."""

    seg: np.ndarray  # (n,) segment index of each row
    start: np.ndarray  # (n_seg,) first row of each segment
    length: np.ndarray  # (n_seg,) rows per segment

    @classmethod
    def from_sorted_ids(cls, ids: np.ndarray) -> Segments:
        if ids.size == 0:
            z = np.zeros(0, dtype=np.int64)
            return cls(z, z, z)
        change = np.flatnonzero(np.diff(ids)) + 1
        start = np.concatenate([[0], change]).astype(np.int64)
        length = np.diff(np.concatenate([start, [ids.size]])).astype(np.int64)
        seg = np.repeat(np.arange(start.size, dtype=np.int64), length)
        return cls(seg, start, length)

    @property
    def position(self) -> np.ndarray:
        """0-based position of each row within its segment."""
        return np.arange(self.seg.size, dtype=np.int64) - self.start[self.seg]


def l2_normalise(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norm, eps)).astype(np.float32)


def rowwise_cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of matching rows; 0 where either row is all zeros (no evidence)."""
    return np.einsum("ij,ij->i", l2_normalise(a), l2_normalise(b)).astype(np.float32)


def leave_one_out_mean(vecs: np.ndarray, segs: Segments) -> np.ndarray:
    """Mean of the user's other rows (the row itself excluded); zeros for one-row users."""
    sums = _segment_sums(vecs, segs)
    others = sums[segs.seg] - vecs
    n = (segs.length[segs.seg] - 1).astype(np.float64)[:, None]
    return np.where(n > 0, others / np.maximum(n, 1), 0.0).astype(np.float32)


def window_mean(vecs: np.ndarray, segs: Segments, before: int, after: int, *, include_self: bool = False) -> np.ndarray:
    """Mean over positions [p-before, p+after] of the same user, the row itself excluded unless
    `include_self`.

    `after=0` gives a causal (history-only) window. Zeros where the window holds no row.
    """
    cs = np.zeros((vecs.shape[0] + 1, vecs.shape[1]), dtype=np.float64)
    np.cumsum(vecs, axis=0, out=cs[1:])
    rows = np.arange(vecs.shape[0])
    s = segs.start[segs.seg]
    e = s + segs.length[segs.seg]
    lo = np.maximum(rows - before, s)
    hi = np.minimum(rows + after + 1, e)
    total = cs[hi] - cs[lo] - (0 if include_self else vecs)
    n = (hi - lo - (0 if include_self else 1)).astype(np.float64)[:, None]
    return np.where(n > 0, total / np.maximum(n, 1), 0.0).astype(np.float32)


def segment_max(vecs: np.ndarray, segs: Segments) -> np.ndarray:
    """Max-pool over each user's rows, broadcast back to every row (IADSR's long-term interest)."""
    if vecs.shape[0] == 0:
        return vecs.copy()
    return np.maximum.reduceat(vecs, segs.start, axis=0)[segs.seg]


def segment_mean(vecs: np.ndarray, segs: Segments) -> np.ndarray:
    """Mean over each user's rows (the row itself included), broadcast back to every row."""
    sums = _segment_sums(vecs, segs)
    return (sums / np.maximum(segs.length, 1)[:, None])[segs.seg].astype(np.float32)


def shift_back(vecs: np.ndarray, segs: Segments) -> np.ndarray:
    """Row p gets row p-1 of the same user (zeros at p = 0): the state *before* an interaction."""
    out = np.zeros_like(vecs)
    out[1:] = vecs[:-1]
    out[segs.start] = 0
    return out


def _segment_sums(vecs: np.ndarray, segs: Segments) -> np.ndarray:
    if vecs.shape[0] == 0:
        return np.zeros((0, vecs.shape[1]), dtype=np.float64)
    return np.add.reduceat(vecs.astype(np.float64), segs.start, axis=0)


def window_neighbours(vecs: np.ndarray, segs: Segments, width: int, top: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-neighbour cosine of each row among the same user's rows at offsets 1..`width` on either side:
    (the best, the mean of the best `top`). Zeros where the user has no other row.

    Mean pooling blurs a user with several interests; the nearest neighbour does not: an item that belongs
    to one of the user's interests usually has a close neighbour nearby, a stray one does not.
    """
    unit = l2_normalise(vecs)
    n = unit.shape[0]
    missing = np.float32(-2.0)
    sims = np.full((n, 2 * width), missing, dtype=np.float32)
    for o in range(1, min(width, n - 1) + 1):
        same = segs.seg[o:] == segs.seg[:-o]
        d = np.where(same, np.einsum("ij,ij->i", unit[o:], unit[:-o]), missing)
        sims[o:, 2 * o - 2] = d  # neighbour o rows before
        sims[:-o, 2 * o - 1] = d  # neighbour o rows after
    best = -np.sort(-sims, axis=1)[:, :top]
    valid = best > -1.5
    mean_top = np.where(valid, best, 0.0).sum(axis=1) / np.maximum(valid.sum(axis=1), 1)
    return np.where(valid[:, 0], best[:, 0], 0.0).astype(np.float32), mean_top.astype(np.float32)
