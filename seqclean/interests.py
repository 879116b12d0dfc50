"""Per-position interests computed over chunks of whole users, as pure array functions.

A chunk is given as arrays sorted by (user, position): `seg` (0..n_users_in_chunk-1 per row), and
row vectors. Every function here is vectorised over all rows of a chunk: no Python loop per user.

Chunk invariance: a row's result must not depend on the other users in its chunk (scores are the same
whatever `--chunk-users`, and on the Ray engine). The sums here are float32 additions in an order fixed per
row (`window_sum`, `user_sum`), never a running sum over the chunk or a float32 matrix product (BLAS blocking
changes a row's last bits with the number of rows).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

COLUMN_BLOCK = 32
"""Columns per block of `user_sum`: `add.reduceat` down a long, wide array is slow; on a contiguous
(rows, 32) copy the same additions in the same order run ~3x faster (bit-identical)."""

ROW_BLOCK = 8192
"""Rows per block of `l2_normalise` and `rowwise_cos`: their temporaries are (8192, d)."""

EPS = 1e-12
"""Floor of the norm in `l2_normalise`: an all-zero row stays zero."""


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


def _blocks(size: int, step: int) -> Iterator[slice]:
    """Consecutive slices of `step` covering range(size), the last one shorter."""
    for lo in range(0, size, step):
        yield slice(lo, min(lo + step, size))


def _l2_normalise_all(x: np.ndarray, eps: float) -> np.ndarray:
    """The whole-array formula; `copy=False` as the quotient is already a fresh array."""
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norm, eps)).astype(np.float32, copy=False)


def l2_normalise(x: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Rows scaled to unit length (float32), `ROW_BLOCK` rows at a time so that the squares and the quotient
    in the input's precision never exist for the whole array.

    Only C-contiguous 2-d arrays are blocked: a row of one is reduced the same way whatever the block, while
    other layouts may be reduced in a different order, so they take the whole-array formula.
    """
    x = np.asarray(x)
    if x.ndim != 2 or not x.flags.c_contiguous or x.shape[0] <= ROW_BLOCK:
        return _l2_normalise_all(x, eps)
    out = np.empty(x.shape, dtype=np.float32)
    for rows in _blocks(x.shape[0], ROW_BLOCK):
        out[rows] = _l2_normalise_all(x[rows], eps)
    return out


def rowwise_cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of matching rows; 0 where either row is all zeros (no evidence).

    Blocked over rows like `l2_normalise`, so the two normalised (n, d) copies are never held whole.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or not (a.flags.c_contiguous and b.flags.c_contiguous) or a.shape != b.shape:
        return np.einsum("ij,ij->i", l2_normalise(a), l2_normalise(b)).astype(np.float32)
    out = np.empty(a.shape[0], dtype=np.float32)
    for rows in _blocks(a.shape[0], ROW_BLOCK):
        out[rows] = np.einsum("ij,ij->i", _l2_normalise_all(a[rows], EPS), _l2_normalise_all(b[rows], EPS))
    return out


def leave_one_out_mean(vecs: np.ndarray, segs: Segments) -> np.ndarray:
    """Mean of the user's other rows (the row itself excluded); zeros for one-row users."""
    n = segs.length[segs.seg] - 1
    return _divide(leave_one_out_sum(vecs, segs), n)


def leave_one_out_sum(vecs: np.ndarray, segs: Segments) -> np.ndarray:
    """Sum of the user's other rows, float32 (the user's sum, less the row)."""
    out = np.repeat(user_sum(vecs, segs), segs.length, axis=0)  # the user's sum on each of its rows
    return np.subtract(out, vecs, out=out)  # float64 `vecs`: subtracted in float64, rounded once (as before)


def window_mean(vecs: np.ndarray, segs: Segments, before: int, after: int, *, include_self: bool = False) -> np.ndarray:
    """Mean over positions [p-before, p+after] of the same user, the row itself excluded unless
    `include_self`. `after=0` gives a causal (history-only) window. Zeros where the window holds no row."""
    pos, length = segs.position, segs.length[segs.seg]
    n = np.minimum(pos, before) + np.minimum(length - 1 - pos, after) + (1 if include_self else 0)
    return _divide(window_sum(vecs, segs, before, after, include_self=include_self), n)


def window_sum(vecs: np.ndarray, segs: Segments, before: int, after: int, *, include_self: bool = False) -> np.ndarray:
    """Sum over positions [p-before, p+after] of the same user (the row itself only if `include_self`), float32.

    One shifted, masked add per offset, in a fixed order (self, p-1, p-2, ..., p+1, p+2, ...): every row's sum is
    the same sequence of float32 additions whatever else is in the chunk, so results do not depend on the chunk
    (a running sum over the chunk would, and in float64 costs ~8x the time: docs/performance.md).
    """
    x = np.asarray(vecs, dtype=np.float32)
    out = x.copy() if include_self else np.zeros_like(x)
    if x.shape[0] == 0:
        return out
    pos, tail = segs.position, segs.length[segs.seg] - 1 - segs.position
    for o in range(1, min(before, x.shape[0] - 1) + 1):  # row p gets row p-o when o <= its position
        _add_except(out[o:], x[:-o], np.flatnonzero(pos[o:] < o))
    for o in range(1, min(after, x.shape[0] - 1) + 1):  # row p gets row p+o when o <= rows after it
        _add_except(out[:-o], x[o:], np.flatnonzero(tail[:-o] < o))
    return out


def _add_except(out: np.ndarray, x: np.ndarray, skip: np.ndarray) -> None:
    """`out += x` in place except on rows `skip` (kept as they were): a plain add and a put-back of the few rows
    at users' edges is ~1.6x faster than a masked `np.add(..., where=)`, with the same bits."""
    kept = out[skip]
    np.add(out, x, out=out)
    out[skip] = kept


def _divide(sums: np.ndarray, n: np.ndarray) -> np.ndarray:
    """`sums / n` per row as float32, zeros where n = 0 (no row to average)."""
    out = np.zeros_like(sums)
    np.divide(sums, np.maximum(n, 1).astype(np.float32)[:, None], out=out, where=(n > 0)[:, None])
    return out


def user_max(vecs: np.ndarray, segs: Segments) -> np.ndarray:
    """Max-pool over each user's rows, one row per user (n_seg, d)."""
    if vecs.shape[0] == 0:
        return vecs.copy()
    return np.maximum.reduceat(vecs, segs.start, axis=0)


def segment_max(vecs: np.ndarray, segs: Segments) -> np.ndarray:
    """Max-pool over each user's rows, broadcast back to every row (IADSR's long-term interest)."""
    return user_max(vecs, segs)[segs.seg]


def user_mean(vecs: np.ndarray, segs: Segments) -> np.ndarray:
    """Mean over each user's rows as float32, one row per user (n_seg, d): what callers that want one
    value per user need, without broadcasting it to every row first."""
    return user_sum(vecs, segs) / np.maximum(segs.length, 1).astype(np.float32)[:, None]


def segment_mean(vecs: np.ndarray, segs: Segments) -> np.ndarray:
    """Mean over each user's rows (the row itself included), broadcast back to every row."""
    return user_mean(vecs, segs)[segs.seg]


def shift_back(vecs: np.ndarray, segs: Segments) -> np.ndarray:
    """Row p gets row p-1 of the same user (zeros at p = 0): the state *before* an interaction."""
    out = np.zeros_like(vecs)
    out[1:] = vecs[:-1]
    out[segs.start] = 0
    return out


def user_sum(vecs: np.ndarray, segs: Segments) -> np.ndarray:
    """Per-user float32 sums, (n_seg, d): `add.reduceat` adds a segment's rows one after another from its own
    first row, so a user's sum does not depend on the other users in the chunk."""
    x = np.asarray(vecs, dtype=np.float32)
    out = np.zeros((segs.start.size, x.shape[1]), dtype=np.float32)
    if x.shape[0] == 0:
        return out
    for cols in _blocks(x.shape[1], COLUMN_BLOCK):  # a contiguous copy of each block: ~3x faster than in place
        out[:, cols] = np.add.reduceat(np.ascontiguousarray(x[:, cols]), segs.start, axis=0)
    return out


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


def from_end(segs: Segments) -> np.ndarray:
    """0 for a user's last row, 1 for the second last, ..."""
    return segs.length[segs.seg] - 1 - segs.position


END_GROUPS = 3


def end_group(segs: Segments) -> np.ndarray:
    """0 = a user's last row, 1 = second last, 2 = any other (one-row users count as last)."""
    return np.minimum(from_end(segs), END_GROUPS - 1)
