"""Per-position inputs (gated
collaborative vector, projected text, scalars with missing flags) and per-user windows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqclean.interests import Segments, l2_normalise
from seqclean.seqdetector.options import COLLAB_SCALARS, MISSING_FLAGS, NEEDS_NEXT, NEEDS_OTHERS, NEEDS_PREV, SCALARS


@dataclass
class InputSpec:
    """How per-position inputs are built (fitted once on the training rows)."""

    col_scale: float
    cold_k: float
    mean: np.ndarray
    scale: np.ndarray
    pop_max: float


def availability(segs: Segments) -> dict[str, np.ndarray]:
    pos = segs.position
    n_len = segs.length[segs.seg]
    return {"has_prev": pos > 0, "has_next": pos < n_len - 1, "has_others": n_len > 1}


def _mask_for(name: str, avail: dict[str, np.ndarray]) -> np.ndarray | None:
    if name in NEEDS_PREV:
        return avail["has_prev"]
    if name in NEEDS_NEXT:
        return avail["has_next"]
    if name in NEEDS_OTHERS:
        return avail["has_others"]
    return None


def fit_input_spec(
    feats: dict[str, np.ndarray], segs: Segments, col: np.ndarray, count: np.ndarray, cold_k: float
) -> InputSpec:
    """Standardisation constants from the rows where each feature is defined."""
    avail = availability(segs)
    mean = np.zeros(len(SCALARS), np.float32)
    scale = np.ones(len(SCALARS), np.float32)
    for c, name in enumerate(SCALARS):
        m = _mask_for(name, avail)
        v = feats[name] if m is None else feats[name][m]
        if v.size:
            mean[c], scale[c] = float(v.mean()), float(max(v.std(), 1e-6))
    rms = float(np.sqrt(np.mean(col[1:] ** 2))) if col.shape[0] > 1 else 1.0
    return InputSpec(
        col_scale=max(rms, 1e-6), cold_k=cold_k, mean=mean, scale=scale, pop_max=float(np.log1p(count.max()) or 1.0)
    )


def collab_weight(count: np.ndarray, cold_k: float) -> np.ndarray:
    c = count.astype(np.float32)
    return c / (c + cold_k) if cold_k > 0 else np.ones_like(c)


def position_inputs(
    iid: np.ndarray,
    segs: Segments,
    feats: dict[str, np.ndarray],
    spec: InputSpec,
    col: np.ndarray,
    sem: np.ndarray,
    sem_short: np.ndarray,
    count: np.ndarray,
    gate_keep: np.ndarray | None = None,
) -> np.ndarray:
    """(rows, F) float32 inputs; `gate_keep` (training only) zeroes the collaborative gate on some rows.
    `sem_short`: the catalogue's text projected by IADSR's short-term head (`features.Tables.sem_short`)."""
    w = collab_weight(count[iid], spec.cold_k)
    if gate_keep is not None:
        w = w * gate_keep
    avail = availability(segs)
    dc, ds = col.shape[1], sem.shape[1]
    x = np.empty((iid.size, n_inputs(col, sem)), np.float32)  # each block written in place: no concatenation
    np.multiply(col[iid] / spec.col_scale, w[:, None], out=x[:, :dc])
    np.multiply(l2_normalise(sem_short[iid]), np.sqrt(dc), out=x[:, dc : 2 * dc], casting="same_kind")
    np.multiply(sem[iid], np.sqrt(ds), out=x[:, 2 * dc : 2 * dc + ds], casting="same_kind")
    at = 2 * dc + ds
    for c, name in enumerate(SCALARS):
        v = (feats[name] - spec.mean[c]) / spec.scale[c]
        m = _mask_for(name, avail)
        if m is not None:
            v = np.where(m, v, 0.0)
        if name in COLLAB_SCALARS:
            v = v * w
        x[:, at + c] = v
    at += len(SCALARS)
    for f in MISSING_FLAGS:
        x[:, at] = avail[f]
        at += 1
    n_len = segs.length[segs.seg].astype(np.float32)
    x[:, at] = w
    x[:, at + 1] = np.log1p(count[iid]) / spec.pop_max
    x[:, at + 2] = np.log(n_len) / 5.0
    return x


def n_inputs(col: np.ndarray, sem: np.ndarray) -> int:
    """Width of `position_inputs`' rows: the collaborative vector, the projected text, the text, the scalars,
    their missing flags and three context values (gate, popularity, length)."""
    return 2 * col.shape[1] + sem.shape[1] + len(SCALARS) + len(MISSING_FLAGS) + 3


# ---------------------------------------------------------------------------------------------- windows


def plan_windows(lengths: np.ndarray, window: int, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-user windows and, for every row, (window index, offset in it).

    Windows: (global start row, length). A user of n <= `window` rows has one window; a longer one has
    windows starting every `stride` rows (the last one flush with the end), and each row is answered by the
    window it is most central in, so it sees context on both sides wherever the sequence has it.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    extra = np.maximum(lengths - window, 0)
    n_win = np.where(lengths > 0, 1 + (extra + stride - 1) // stride, 0)
    user = np.repeat(np.arange(lengths.size), n_win)
    first = np.repeat(np.cumsum(n_win) - n_win, n_win)
    k = np.arange(user.size) - first
    local = np.minimum(k * stride, np.maximum(lengths[user] - window, 0))
    wstart = offsets[user] + local
    wlen = np.minimum(window, lengths[user])
    # rows
    seg = np.repeat(np.arange(lengths.size), lengths)
    pos = np.arange(seg.size) - offsets[seg]
    half = (window - stride) / 2.0
    kr = np.clip(np.floor((pos - half) / stride).astype(np.int64), 0, n_win[seg] - 1)
    row_win = first_of(n_win)[seg] + kr
    row_off = pos - (wstart[row_win] - offsets[seg])
    return np.stack([wstart, wlen], axis=1), row_win, row_off


def first_of(n_win: np.ndarray) -> np.ndarray:
    return np.cumsum(n_win) - n_win


def gather_windows(x: np.ndarray, win: np.ndarray, pad_to: int) -> tuple[np.ndarray, np.ndarray]:
    """(B, pad_to, F) inputs and (B, pad_to) validity mask for windows `win` (rows of (start, length))."""
    pos = np.arange(pad_to)
    valid = pos[None, :] < win[:, 1:2]
    idx = np.where(valid, win[:, 0:1] + pos[None, :], 0)
    out = x[idx]
    out[~valid] = 0.0
    return out, valid.astype(np.float32)


def pad_length(n: np.ndarray, window: int) -> np.ndarray:
    """Padding depends only on a window's own length (multiples of 8, at most `window`), never on the batch."""
    return np.minimum(((n + 7) // 8) * 8, window)


# ---------------------------------------------------------------------------------------------- model
