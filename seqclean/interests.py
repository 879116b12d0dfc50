"""Per-position interests computed over chunks of whole users, as pure array functions.

A chunk is given as arrays sorted by (user, position): `seg` (0..n_users_in_chunk-1 per row), and
row vectors. Every function here is vectorised over all rows of a chunk: no Python loop per user.

Memory: a chunk holds ~10^5 rows of 384-d vectors, so an (n, d) float64 temporary costs ~12 KiB a row. The
means accumulate in float64 one block of `COLUMN_BLOCK` columns at a time, and the cosines run over blocks of
`ROW_BLOCK` rows, so temporaries follow the block, not n x d. Each element goes through the same float64
operations in the same order as a whole-array formula would, so the results are bit-identical to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

COLUMN_BLOCK = 32
"""Columns per float64 block of the segment and window means: (n, 32) float64 is 256 bytes a row."""

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
    sums = _segment_sums(vecs, segs)
    n = (segs.length[segs.seg] - 1).astype(np.float64)
    return _mean_by_columns(vecs, n, lambda cols: sums[:, cols][segs.seg])


def window_mean(vecs: np.ndarray, segs: Segments, before: int, after: int, *, include_self: bool = False) -> np.ndarray:
    """Mean over positions [p-before, p+after] of the same user, the row itself excluded unless
    `include_self`.

    `after=0` gives a causal (history-only) window. Zeros where the window holds no row. The running sum
    runs over the whole chunk in float64, one column block at a time (its rounding is per column).
    """
    rows = np.arange(vecs.shape[0])
    s = segs.start[segs.seg]
    e = s + segs.length[segs.seg]
    lo = np.maximum(rows - before, s)
    hi = np.minimum(rows + after + 1, e)
    n = (hi - lo - (0 if include_self else 1)).astype(np.float64)

    def window_sums(cols: slice) -> np.ndarray:
        cs = np.zeros((vecs.shape[0] + 1, cols.stop - cols.start), dtype=np.float64)
        np.cumsum(vecs[:, cols], axis=0, out=cs[1:])
        total = cs[hi]
        total -= cs[lo]
        return total

    return _mean_by_columns(vecs, n, window_sums, subtract_self=not include_self)


def _mean_by_columns(
    vecs: np.ndarray, n: np.ndarray, sums_of: Callable[[slice], np.ndarray], *, subtract_self: bool = True
) -> np.ndarray:
    """`where(n > 0, (sums - vecs) / max(n, 1), 0)` as float32 (`- vecs` only if `subtract_self`), computed in
    float64 one `COLUMN_BLOCK` at a time. `sums_of(cols)` returns a fresh (rows, cols) float64 block, updated
    in place."""
    empty = ~(n > 0)
    denom = np.maximum(n, 1)[:, None]
    out = np.empty(vecs.shape, dtype=np.float32)
    for cols in _blocks(vecs.shape[1], COLUMN_BLOCK):
        total = sums_of(cols)
        if subtract_self:
            total -= vecs[:, cols]
        total /= denom
        total[empty] = 0.0
        out[:, cols] = total
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
    sums = _segment_sums(vecs, segs)
    return (sums / np.maximum(segs.length, 1)[:, None]).astype(np.float32)


def segment_mean(vecs: np.ndarray, segs: Segments) -> np.ndarray:
    """Mean over each user's rows (the row itself included), broadcast back to every row.

    Rounded to float32 per user before the broadcast: the same values, without an (n, d) float64 copy.
    """
    return user_mean(vecs, segs)[segs.seg]


def shift_back(vecs: np.ndarray, segs: Segments) -> np.ndarray:
    """Row p gets row p-1 of the same user (zeros at p = 0): the state *before* an interaction."""
    out = np.zeros_like(vecs)
    out[1:] = vecs[:-1]
    out[segs.start] = 0
    return out


def _segment_sums(vecs: np.ndarray, segs: Segments) -> np.ndarray:
    """Per-user float64 sums, (n_seg, d). Each column is summed on its own (pairwise over the user's rows),
    so casting one column block at a time gives the sums of the whole-array cast."""
    sums = np.zeros((segs.start.size, vecs.shape[1]), dtype=np.float64)
    if vecs.shape[0] == 0:
        return sums
    for cols in _blocks(vecs.shape[1], COLUMN_BLOCK):
        sums[:, cols] = np.add.reduceat(vecs[:, cols].astype(np.float64), segs.start, axis=0)
    return sums


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
