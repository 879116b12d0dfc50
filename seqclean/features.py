"""Per-interaction evidence for the noise detector, in both spaces, as pure array computation.

For the interaction at position j of a user's sequence (item i), see docs/method.md for the why:

collaborative (backbone states H, item table E_col)
- `col_next_rank`: percentile of the backbone's next-item score <H_{j-1}, E_col[i]> among a fixed probe
  set of catalogue items (1 = the recommender expected i more than any probe item; 0.5 when no history)
- `col_next_logit`: the same score as a log-probability, <H_{j-1}, E_col[i]> minus the log-sum-exp over the
  probe items (and i): the percentile saturates at 1 for the popular items every user is expected to like,
  the logit keeps ranking them (0 when no history)
- `col_after_delta`: how much item i changed the backbone's expectation of the *next* item:
  <H_j, E_col[i+1]> - <H_{j-1}, E_col[i+1]>. An item that fits the sequence helps predict what follows it;
  a stray one does not (LLM4DSR's "does the sequence read better without it", in one forward pass; 0 at the
  last position)
- `col_short_sim`, `col_long_sim`: cosine of E_col[i] to the mean of E_col over j-3..j+3 (j excluded) and
  over all the user's other items
- `col_nn_max`, `col_nn_top3`: nearest-neighbour cosine of E_col[i] among the user's items at j-25..j+25 (`NEIGHBOURS`)
  (best, mean of the best 3): mean pooling blurs a user with several interests, neighbours do not
semantic (text embeddings E_sem)
- `sem_short_sim`, `sem_long_sim`: the same with text embeddings
- `sem_rank`, `sem_long_rank`: percentile of cos(e_i, short / long semantic context) among the probe items
- `sem_nn_max`, `sem_nn_top3`: the nearest-neighbour cosines with text embeddings
cross-space (the item's text, projected by the aligned short-term head P_s, against the user's collaborative
state: evidence that holds for a cold item, whose own E_col is poorly trained)
- `x_next_rank`: percentile of <H_{j-1}, P_s e_i> among the probe items' P_s e (0.5 when no history)
- `x_long_rank`: the same against the mean of the user's other states H (0.5 for one-item users)
- `col_long_rank`: percentile of cos(E_col[i], mean of the user's other items) among the probe items: a
  uniformly random item scores Uniform(0, 1) whatever the user, so this is comparable across users
IADSR's interest alignment (S = short-term, L = long-term)
- S_col[j] = H_j, L_col = max-pool of H over the sequence; S_sem[j] = mean of e over j-4..j,
  L_sem = mean of e over the sequence; semantic interests projected by the aligned heads.
- `iadsr_score` = cos(L_sem, S_col) + cos(L_col, S_sem) + cos(S_col, S_sem), in [-3, 3], higher = more
  consistent, with its three parts as `iadsr_ls_sc`, `iadsr_lc_ss`, `iadsr_ss_sc`
item and context
- `log_pop` (log1p interactions of the item), `log_len` (log of the sequence length), `rel_pos`
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seqclean.align import Alignment
from seqclean.interests import (
    Segments,
    l2_normalise,
    leave_one_out_sum,
    rowwise_cos,
    segment_max,
    shift_back,
    user_max,
    user_mean,
    user_sum,
    window_mean,
    window_neighbours,
    window_sum,
)

WINDOW = 3
CAUSAL_WINDOW = 5
NEIGHBOURS = 25

CONTEXT_FEATURES = ("log_len", "rel_pos")
COLLAB_ITEM_FEATURES = (
    "col_next_rank",
    "col_next_logit",
    "col_after_delta",
    "col_short_sim",
    "col_long_sim",
    "col_long_rank",
    "col_nn_max",
    "col_nn_top3",
    "log_pop",
)
SEMANTIC_ITEM_FEATURES = ("sem_short_sim", "sem_long_sim", "sem_rank", "sem_long_rank", "sem_nn_max", "sem_nn_top3")
IADSR_TERMS = ("iadsr_ls_sc", "iadsr_lc_ss", "iadsr_ss_sc")

FULL_FEATURES = COLLAB_ITEM_FEATURES + SEMANTIC_ITEM_FEATURES + IADSR_TERMS + CONTEXT_FEATURES
"""Inputs of the full detector head: everything."""

COLD_FEATURES = SEMANTIC_ITEM_FEATURES + ("x_next_rank", "x_long_rank", "iadsr_lc_ss") + CONTEXT_FEATURES
"""Inputs of the head cold items lean on: the item's text, alone and against the user's collaborative interest;
never the item's own collaborative embedding or its popularity, which are what is unreliable for a cold item."""

COLLAB_FEATURES = COLLAB_ITEM_FEATURES + CONTEXT_FEATURES
"""Inputs of the collaborative-only reference head (reported for comparison, not used in noise_score)."""

SEMANTIC_FEATURES = SEMANTIC_ITEM_FEATURES + CONTEXT_FEATURES
"""Inputs of the semantic-only reference head (reported for comparison, not used in noise_score)."""


@dataclass
class Tables:
    """Per-fit products, computed once: the probe items' vectors (in float64, for `probe_rows`) and the
    catalogue's projected texts. A row's scores against the probe items are computed per chunk for the chunk's
    distinct items only (`probe_rows`): a catalogue-sized (items x probes) table cost 195 MiB each at 200,000
    items, held for the whole score."""

    probe_sem: np.ndarray  # (d_sem, m) float64: e_sem[probe].T
    probe_col: np.ndarray  # (d_col, m) float64: unit(E_col[probe]).T
    sem_short: np.ndarray | None  # (n_iid + 1, d_col): e_sem[i] projected by the short-term head
    sem_long: np.ndarray | None  # (n_iid + 1, d_col): ... by the long-term head


def _product(a: np.ndarray, b: np.ndarray, block: int = 4096) -> np.ndarray:
    """`a @ b` in float64, rounded to float32, in row blocks: deterministic for the same inputs (see
    `_probe_scores`), and the float64 copy of `a` is one block at a time, not the catalogue."""
    b64 = b.astype(np.float64)
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.float32)
    for lo in range(0, a.shape[0], block):
        out[lo : lo + block] = a[lo : lo + block].astype(np.float64) @ b64
    return out


def probe_rows(vectors: np.ndarray, distinct: tuple[np.ndarray, np.ndarray], probe_t: np.ndarray) -> np.ndarray:
    """(rows, m) scores of each row's item against the probe items: the product for the distinct items only,
    gathered per row (each item's row is the same whatever else is in the chunk). `distinct` is
    `np.unique(iid, return_inverse=True)`, computed once per chunk for both spaces."""
    uniq, inv = distinct
    return _product(vectors[uniq], probe_t)[inv.reshape(-1)]


@dataclass
class Spaces:
    """Catalogue-sized inputs, aligned by iid (row 0 = padding)."""

    sem: np.ndarray  # (n_iid + 1, d_sem), rows L2-normalised
    col: np.ndarray  # (n_iid + 1, d_col)
    count: np.ndarray  # (n_iid + 1,) interactions per item in the log
    probe: np.ndarray  # (m,) iids of the fixed probe set for the rank features
    _tables: tuple[Any, Tables] | None = field(default=None, repr=False, compare=False)

    def tables(self, align: Alignment | None) -> Tables:
        """The catalogue products for this alignment, built on first use (not pickled: rebuilt where used)."""
        if self._tables is None or self._tables[0] is not align:
            short = long = None
            if align is not None:
                short, long = _product(self.sem, align.w_short), _product(self.sem, align.w_long)
            probe_sem = self.sem[self.probe].T.astype(np.float64)
            probe_col = l2_normalise(self.col[self.probe]).T.astype(np.float64)
            t = Tables(probe_sem, probe_col, short, long)
            self._tables = (align, t)
        return self._tables[1]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_tables": None}


def _probe_scores(
    query: np.ndarray, target: np.ndarray, probe: np.ndarray, block: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """(score of each row's target, (rows, probe) scores of the probe items) against `query`.

    Computed in float64 and rounded to float32, in row blocks: a float32 product's last bit depends on how BLAS
    blocks the matrix (so on the chunk size), and a target that is itself a probe item then ties with its probe
    score in one chunking and not in another, moving the percentile by 1/len(probe)."""
    t = np.einsum("ij,ij->i", query.astype(np.float64), target.astype(np.float64)).astype(np.float32)
    return t, _product(query, probe.T, block)


def _percentile(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Share of probe scores below the target's (ties count half). The comparisons are counted as bytes into
    int32 (exact): a bool array's `sum` converts every element to int64 first, ~3x slower."""
    tc = t[:, None]
    below = np.add.reduce((p < tc).view(np.uint8), axis=1, dtype=np.int32).astype(np.int64)
    ties = np.add.reduce((p == tc).view(np.uint8), axis=1, dtype=np.int32).astype(np.int64)
    return (below + 0.5 * ties) / p.shape[1]


def _percentile_vs_probe(query: np.ndarray, target: np.ndarray, probe: np.ndarray) -> np.ndarray:
    """Share of probe rows whose score against `query` is below the target's (ties count half)."""
    return _percentile(*_probe_scores(query, target, probe))


def _log_softmax(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """log( exp(t) / (exp(t) + sum of exp(probe scores)) ), computed stably."""
    top = np.maximum(p.max(axis=1), t) if p.shape[1] else t
    lse = top + np.log(np.exp(p - top[:, None]).sum(axis=1) + np.exp(t - top))
    return (t - lse).astype(np.float32)


def _rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b)


def compute_features(
    iid: np.ndarray, segs: Segments, states: np.ndarray, spaces: Spaces, align: Alignment | None
) -> dict[str, np.ndarray]:
    """All features of a chunk of whole users (rows sorted by user, position). `states` is H per row.

    Contexts are sums, not means, where only a cosine or a rank reads them (neither changes with a positive
    scale), and a context's scores against the probe items are sums of its items' rows (`probe_rows`)."""
    t = spaces.tables(align)
    e_sem = spaces.sem[iid]
    e_col = spaces.col[iid]
    n_len = segs.length[segs.seg].astype(np.float32)
    pos = segs.position.astype(np.float32)

    prev = shift_back(states, segs)
    has_prev = pos > 0
    next_t, next_p = _probe_scores(prev, e_col, spaces.col[spaces.probe])  # shared by the rank and the logit
    col_rank = np.where(has_prev, _percentile(next_t, next_p), 0.5)

    sem_ctx = window_sum(e_sem, segs, WINDOW, WINDOW)
    sem_long = leave_one_out_sum(e_sem, segs)
    col_ctx = window_sum(e_col, segs, WINDOW, WINDOW)
    col_long = leave_one_out_sum(e_col, segs)
    has_others = n_len > 1
    distinct = np.unique(iid, return_inverse=True)
    sp, cp = probe_rows(spaces.sem, distinct, t.probe_sem), probe_rows(spaces.col, distinct, t.probe_col)
    f: dict[str, np.ndarray] = {
        "col_next_rank": col_rank,
        "col_short_sim": rowwise_cos(e_col, col_ctx),
        "col_long_sim": rowwise_cos(e_col, col_long),
        "col_long_rank": np.where(
            has_others, _percentile(_rowdot(l2_normalise(e_col), col_long), leave_one_out_sum(cp, segs)), 0.5
        ),
        "sem_short_sim": rowwise_cos(e_sem, sem_ctx),
        "sem_long_sim": rowwise_cos(e_sem, sem_long),
        "sem_rank": np.where(
            has_others, _percentile(_rowdot(e_sem, sem_ctx), window_sum(sp, segs, WINDOW, WINDOW)), 0.5
        ),
        "sem_long_rank": np.where(has_others, _percentile(_rowdot(e_sem, sem_long), leave_one_out_sum(sp, segs)), 0.5),
        "log_pop": np.log1p(spaces.count[iid]).astype(np.float32),
        "log_len": np.log(n_len),
        "rel_pos": np.where(n_len > 1, pos / np.maximum(n_len - 1, 1), 0.5),
    }
    del sp, cp, sem_ctx, sem_long, col_ctx, col_long  # (n, m) and (n, d) each: free them before what follows
    f["col_next_logit"] = np.where(has_prev, _log_softmax(next_t, next_p), 0.0)
    del next_p
    e_next = np.zeros_like(e_col)
    e_next[:-1] = e_col[1:]
    has_next = pos < n_len - 1
    delta = _rowdot(states, e_next) - _rowdot(prev, e_next)
    f["col_after_delta"] = np.where(has_next, delta, 0.0)
    f["col_nn_max"], f["col_nn_top3"] = window_neighbours(e_col, segs, NEIGHBOURS)
    f["sem_nn_max"], f["sem_nn_top3"] = window_neighbours(e_sem, segs, NEIGHBOURS)
    if t.sem_short is not None and t.sem_long is not None:
        item_x = t.sem_short[iid]
        s_col, l_col = states, segment_max(states, segs)
        ps = window_sum(item_x, segs, CAUSAL_WINDOW - 1, 0, include_self=True)
        pl_ = user_sum(t.sem_long[iid], segs)[segs.seg]
        f["iadsr_ls_sc"] = rowwise_cos(pl_, s_col)
        f["iadsr_lc_ss"] = rowwise_cos(l_col, ps)
        f["iadsr_ss_sc"] = rowwise_cos(s_col, ps)
        f["iadsr_score"] = f["iadsr_ls_sc"] + f["iadsr_lc_ss"] + f["iadsr_ss_sc"]
        probe_x = t.sem_short[spaces.probe]
        f["x_next_rank"] = np.where(has_prev, _percentile_vs_probe(prev, item_x, probe_x), 0.5)
        others = l2_normalise(leave_one_out_sum(states, segs))
        x_long = _percentile_vs_probe(others, l2_normalise(item_x), l2_normalise(probe_x))
        f["x_long_rank"] = np.where(has_others, x_long, 0.5)
    return {k: np.asarray(v, dtype=np.float32) for k, v in f.items()}


def interest_pairs(
    iid: np.ndarray, segs: Segments, states: np.ndarray, sem: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training pairs for the alignment heads: (S_sem, S_col) per row and (L_sem, L_col) per user."""
    e_sem = sem[iid]
    s_sem = window_mean(e_sem, segs, CAUSAL_WINDOW - 1, 0, include_self=True)
    l_sem = user_mean(e_sem, segs)
    l_col = user_max(states, segs)
    return s_sem, states, l_sem, l_col
