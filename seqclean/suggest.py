"""Replacement suggestions (LLM4DSR's correction step): the real catalogue item nearest to the user's
interest at a position, never one the user already has.

Pure NumPy, no I/O. The baseline scorer calls it with the semantic window interest; the full scorer
calls it with the aligned interest. Any interest space works as long as the catalogue rows live in it.
"""

from __future__ import annotations

import numpy as np

from seqclean.features import WINDOW
from seqclean.interests import Segments, l2_normalise, shift_back, window_sum

BLOCK_BUDGET = 1 << 25
"""Similarity-matrix cells per block (32M float32 = 128 MiB), so memory stays bounded for big catalogues."""


def suggest_replacements(
    interest: np.ndarray,
    catalogue: np.ndarray,
    seg: np.ndarray,
    member_seg: np.ndarray,
    member_iid: np.ndarray,
    *,
    block_rows: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """For each row, the best catalogue `iid` and a confidence in [0, 1].

    - `interest` (n, d): the interest at each row's position (need not be normalised).
    - `catalogue` (n_iid + 1, d): item vectors by `iid`, L2-normalised; row 0 is padding, never suggested.
    - `seg` (n,): the sequence (user) each row belongs to; `member_seg`, `member_iid` (m,): the pairs
      (sequence, item) present in the data. A row is never given an item of its own sequence.

    Confidence = the cosine of the interest to the suggested item, clipped to [0, 1]: how well the
    suggestion fits the user's interest there, independent of catalogue size (a softmax over a big
    catalogue would make every confidence tiny). Rows with no interest (all-zero vector) or no
    allowed item get iid 0 and confidence 0. Ties go to the smallest iid (argmax), so the result is
    deterministic. Work is done in blocks of rows: one matrix product against the catalogue per block.
    """
    n = interest.shape[0]
    n_items = catalogue.shape[0]
    best = np.zeros(n, dtype=np.int64)
    conf = np.zeros(n, dtype=np.float32)
    if n == 0 or n_items <= 1:
        return best, conf
    if block_rows is None:
        block_rows = max(1, BLOCK_BUDGET // n_items)
    q = l2_normalise(np.asarray(interest, dtype=np.float32))
    has_interest = np.linalg.norm(interest, axis=1) > 0
    cat = np.asarray(catalogue, dtype=np.float32)
    order = np.argsort(member_seg, kind="stable")
    mseg, miid = np.asarray(member_seg)[order], np.asarray(member_iid, dtype=np.int64)[order]
    for lo in range(0, n, block_rows):
        hi = min(lo + block_rows, n)
        sim = q[lo:hi] @ cat.T  # (b, n_items)
        sim[:, 0] = -np.inf
        bseg = seg[lo:hi]
        useg, local = np.unique(bseg, return_inverse=True)
        a, b = np.searchsorted(mseg, useg[0], "left"), np.searchsorted(mseg, useg[-1], "right")
        ms, mi = mseg[a:b], miid[a:b]
        keep = np.isin(ms, useg)
        mask = np.zeros((useg.size, n_items), dtype=bool)
        mask[np.searchsorted(useg, ms[keep]), mi[keep]] = True
        sim[mask[local]] = -np.inf
        arg = np.argmax(sim, axis=1)
        top = sim[np.arange(hi - lo), arg]
        ok = np.isfinite(top) & has_interest[lo:hi]
        best[lo:hi] = np.where(ok, arg, 0)
        conf[lo:hi] = np.where(ok, np.clip(top, 0.0, 1.0), 0.0)
    return best, conf


def aligned_catalogue(col: np.ndarray, sem_short: np.ndarray) -> np.ndarray:
    """Every catalogue item as [its collaborative vector, its projected text], both unit length (row 0 = 0).
    `sem_short` is the catalogue's text projected by the short-term head (`features.Tables.sem_short`)."""
    cat = l2_normalise(np.concatenate([l2_normalise(col), l2_normalise(sem_short)], axis=1))
    cat[0] = 0.0
    return cat


def aligned_suggestions(
    iid: np.ndarray,
    segs: Segments,
    states: np.ndarray,
    rows: np.ndarray,
    catalogue: np.ndarray,
    sem_short: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """LLM4DSR's correction, grounded in the catalogue: the item nearest to the user's interest at j in
    the aligned space (backbone state before j, and the projected semantic context around j), never one
    already in the sequence. Only for `rows` (a catalogue-wide product per row is the costly part):
    elsewhere the suggestion is empty (iid 0, confidence 0). The projected context is the window's sum of
    the items' projected texts (`sem_short`, per iid): a projection is linear and the sum is normalised."""
    best = np.zeros(iid.size, dtype=np.int64)
    conf = np.zeros(iid.size, dtype=np.float32)
    if not rows.any():
        return best, conf
    ctx_sem = window_sum(sem_short[iid], segs, WINDOW, WINDOW)[rows]
    interest = np.concatenate([l2_normalise(shift_back(states, segs)[rows]), l2_normalise(ctx_sem)], axis=1)
    interest[np.linalg.norm(ctx_sem, axis=1) == 0] = 0.0
    best[rows], conf[rows] = suggest_replacements(interest, catalogue, segs.seg[rows], segs.seg, iid)
    return best, conf
