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

NEAR_TOP = 1e-4
"""Candidates whose float32 cosine is within this of a row's best are re-scored exactly (float64, pair by pair):
a float32 product's last bits depend on how many rows share the block (BLAS blocking), so without this the
confidence, and on a near tie the item, changed with `--chunk-users`. float32's error on these unit-vector
products is below 1e-5."""

POOL = 10_000
"""Suggestions come from the `POOL` most-interacted items (the whole catalogue when it is smaller): a
replacement should be an item with evidence behind it, and the product per row is then bounded (at 200,000
items and 15% of rows above `suggest_min_score`, the whole catalogue cost more than all other scoring)."""


def suggestion_pool(count: np.ndarray, size: int = POOL) -> np.ndarray | None:
    """The `size` iids with the most interactions (ties: smaller iid first), sorted by iid; None = every item.
    `count` is indexed by iid (row 0 = padding)."""
    n = count.shape[0] - 1
    if n <= size:
        return None
    top = np.lexsort((np.arange(1, n + 1), -np.asarray(count[1:], dtype=np.int64)))[:size] + 1
    return np.sort(top)


def candidate_iids(pool: np.ndarray | None, n_rows: int) -> np.ndarray:
    """The iids suggestions are drawn from, padding (0) first: `[0, *pool]`, or every iid below `n_rows`."""
    return np.arange(n_rows) if pool is None else np.concatenate([[0], np.asarray(pool, dtype=np.int64)])


def suggest_replacements(
    interest: np.ndarray,
    catalogue: np.ndarray,
    seg: np.ndarray,
    member_seg: np.ndarray,
    member_iid: np.ndarray,
    *,
    block_rows: int | None = None,
    pool: np.ndarray | None = None,
    pooled: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """For each row, the best catalogue `iid` and a confidence in [0, 1].

    - `interest` (n, d): the interest at each row's position (need not be normalised).
    - `catalogue` (n_iid + 1, d): item vectors by `iid`, L2-normalised; row 0 is padding, never suggested.
    - `seg` (n,): the sequence (user) each row belongs to; `member_seg`, `member_iid` (m,): the pairs
      (sequence, item) present in the data. A row is never given an item of its own sequence.
    - `pool`: the candidate iids (`suggestion_pool`), sorted; None = the whole catalogue.
    - `pooled`: `catalogue` holds only the rows of iids `[0, *pool]`, in that order (`aligned_catalogue(...,
      pool)`), so a caller need not keep the whole catalogue's vectors.

    Confidence = the cosine of the interest to the suggested item, clipped to [0, 1]: how well the
    suggestion fits the user's interest there, independent of catalogue size (a softmax over a big
    catalogue would make every confidence tiny). Rows with no interest (all-zero vector) or no
    allowed item get iid 0 and confidence 0. Ties go to the smallest iid (argmax), so the result is
    deterministic. Work is done in blocks of rows: one matrix product against the candidates per block; a
    row's own items are masked pair by pair (a user holds a few of the candidates, not a dense mask's worth).
    """
    n = interest.shape[0]
    best = np.zeros(n, dtype=np.int64)
    conf = np.zeros(n, dtype=np.float32)
    if n == 0 or catalogue.shape[0] <= 1:
        return best, conf
    cand = candidate_iids(pool, catalogue.shape[0])
    if pooled and cand.size != catalogue.shape[0]:
        raise ValueError(f"a pooled catalogue has {catalogue.shape[0]} rows, the pool {cand.size - 1} + padding")
    n_items = max(int(cand[-1]), int(np.max(member_iid, initial=0))) + 1 if pooled else catalogue.shape[0]
    column = np.full(n_items, -1, dtype=np.int64)
    column[cand] = np.arange(cand.size)
    if block_rows is None:
        block_rows = max(1, BLOCK_BUDGET // cand.size)
    q = l2_normalise(np.asarray(interest, dtype=np.float32))
    has_interest = np.linalg.norm(interest, axis=1) > 0
    cat = np.asarray(catalogue, dtype=np.float32)
    cat = cat if pool is None or pooled else cat[cand]
    order = np.argsort(member_seg, kind="stable")
    mseg, miid = np.asarray(member_seg)[order], np.asarray(member_iid, dtype=np.int64)[order]
    for lo in range(0, n, block_rows):
        hi = min(lo + block_rows, n)
        sim = q[lo:hi] @ cat.T  # (b, candidates)
        sim[:, 0] = -np.inf
        a = np.searchsorted(mseg, seg[lo:hi], "left")
        size = np.searchsorted(mseg, seg[lo:hi], "right") - a
        row = np.repeat(np.arange(hi - lo), size)
        col = column[miid[np.repeat(a - np.cumsum(size) + size, size) + np.arange(row.size)]]
        sim[row[col >= 0], col[col >= 0]] = -np.inf
        arg, top = _exact_best(sim, q[lo:hi], cat)
        ok = np.isfinite(top) & has_interest[lo:hi]
        best[lo:hi] = np.where(ok, cand[arg], 0)
        conf[lo:hi] = np.where(ok, np.clip(top, 0.0, 1.0), 0.0)
    return best, conf


def _exact_best(sim: np.ndarray, q: np.ndarray, cat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, (the best candidate column, its cosine as float32) from the float32 screen `sim` (-inf = not
    allowed): the candidates within `NEAR_TOP` of the row's best are re-scored in float64 pair by pair, which
    gives the same bits whatever the block, and the best of them wins (ties: the smaller column)."""
    screen = sim.max(axis=1)
    arg = np.zeros(sim.shape[0], dtype=np.int64)
    top = np.full(sim.shape[0], -np.inf, dtype=np.float32)
    live = np.isfinite(screen)
    r, c = np.nonzero(live[:, None] & (sim >= (screen - NEAR_TOP)[:, None]))
    if r.size:
        exact = np.einsum("ij,ij->i", q[r].astype(np.float64), cat[c].astype(np.float64))
        first = np.lexsort((c, -exact, r))
        first = first[np.concatenate([[True], r[first][1:] != r[first][:-1]])]
        arg[r[first]], top[r[first]] = c[first], exact[first].astype(np.float32)
    return arg, top


def aligned_catalogue(col: np.ndarray, sem_short: np.ndarray, pool: np.ndarray | None = None) -> np.ndarray:
    """Every catalogue item as [its collaborative vector, its projected text], both unit length (row 0 = 0).
    `sem_short` is the catalogue's text projected by the short-term head (`features.Tables.sem_short`). With a
    `pool`, only the rows of iids `[0, *pool]` (for `suggest_replacements(..., pooled=True)`): at 200,000 items
    the whole aligned catalogue is 98 MiB, the pool's 10,000 rows 5 MiB."""
    if pool is not None:
        rows = candidate_iids(pool, col.shape[0])
        col, sem_short = col[rows], sem_short[rows]
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
    pool: np.ndarray | None = None,
    pooled: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """LLM4DSR's correction, grounded in the catalogue: the item nearest to the user's interest at j in
    the aligned space (backbone state before j, and the projected semantic context around j), never one
    already in the sequence, among the `pool` candidates. Only for `rows` (a product per row is the costly part):
    elsewhere the suggestion is empty (iid 0, confidence 0). The projected context is the window's sum of
    the items' projected texts (`sem_short`, per iid): a projection is linear and the sum is normalised.
    `pooled`: `catalogue` is `aligned_catalogue(..., pool)` (the pool's rows only)."""
    best = np.zeros(iid.size, dtype=np.int64)
    conf = np.zeros(iid.size, dtype=np.float32)
    if not rows.any():
        return best, conf
    ctx_sem = window_sum(sem_short[iid], segs, WINDOW, WINDOW)[rows]
    interest = np.concatenate([l2_normalise(shift_back(states, segs)[rows]), l2_normalise(ctx_sem)], axis=1)
    interest[np.linalg.norm(ctx_sem, axis=1) == 0] = 0.0
    best[rows], conf[rows] = suggest_replacements(
        interest, catalogue, segs.seg[rows], segs.seg, iid, pool=pool, pooled=pooled
    )
    return best, conf
