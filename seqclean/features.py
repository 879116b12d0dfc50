"""Per-interaction evidence for the noise detector, in both spaces, as pure array computation.

For the interaction at position j of a user's sequence (item i), see docs/method.md for the why:

collaborative (backbone states H, item table E_col)
- `col_next_rank`: percentile of the backbone's next-item score <H_{j-1}, E_col[i]> among a fixed probe
  set of catalogue items (1 = the recommender expected i more than any probe item; 0.5 when no history)
- `col_short_sim`, `col_long_sim`: cosine of E_col[i] to the mean of E_col over j-3..j+3 (j excluded) and
  over all the user's other items
semantic (text embeddings E_sem)
- `sem_short_sim`, `sem_long_sim`: the same with text embeddings
- `sem_rank`, `sem_long_rank`: percentile of cos(e_i, short / long semantic context) among the probe items
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

from dataclasses import dataclass

import numpy as np

from seqclean.align import Alignment
from seqclean.interests import (
    Segments,
    l2_normalise,
    leave_one_out_mean,
    rowwise_cos,
    segment_max,
    segment_mean,
    shift_back,
    user_max,
    user_mean,
    window_mean,
)

WINDOW = 3
CAUSAL_WINDOW = 5

FULL_FEATURES = (
    "col_next_rank",
    "col_short_sim",
    "col_long_sim",
    "col_long_rank",
    "sem_short_sim",
    "sem_long_sim",
    "sem_rank",
    "sem_long_rank",
    "iadsr_ls_sc",
    "iadsr_lc_ss",
    "iadsr_ss_sc",
    "log_pop",
    "log_len",
    "rel_pos",
)
"""Inputs of the full detector head."""

SEMANTIC_FEATURES = ("sem_short_sim", "sem_long_sim", "sem_rank", "sem_long_rank", "log_len", "rel_pos")
"""Inputs of the semantic head that cold items lean on: no collaborative or popularity evidence."""


@dataclass
class Spaces:
    """Catalogue-sized inputs, aligned by iid (row 0 = padding)."""

    sem: np.ndarray  # (n_iid + 1, d_sem), rows L2-normalised
    col: np.ndarray  # (n_iid + 1, d_col)
    count: np.ndarray  # (n_iid + 1,) interactions per item in the log
    probe: np.ndarray  # (m,) iids of the fixed probe set for the rank features


def _percentile_vs_probe(query: np.ndarray, target: np.ndarray, probe: np.ndarray) -> np.ndarray:
    """Share of probe rows whose score against `query` is below the target's (ties count half)."""
    t = np.einsum("ij,ij->i", query, target)[:, None]
    p = query @ probe.T
    return ((p < t).sum(axis=1) + 0.5 * (p == t).sum(axis=1)) / probe.shape[0]


def compute_features(
    iid: np.ndarray, segs: Segments, states: np.ndarray, spaces: Spaces, align: Alignment | None
) -> dict[str, np.ndarray]:
    """All features of a chunk of whole users (rows sorted by user, position). `states` is H per row."""
    e_sem = spaces.sem[iid]
    e_col = spaces.col[iid]
    n_len = segs.length[segs.seg].astype(np.float32)
    pos = segs.position.astype(np.float32)

    prev = shift_back(states, segs)
    has_prev = pos > 0
    col_rank = _percentile_vs_probe(prev, e_col, spaces.col[spaces.probe])
    col_rank = np.where(has_prev, col_rank, 0.5)

    sem_ctx = window_mean(e_sem, segs, WINDOW, WINDOW)
    sem_long = leave_one_out_mean(e_sem, segs)
    col_ctx = l2_normalise(window_mean(e_col, segs, WINDOW, WINDOW))
    col_long = l2_normalise(leave_one_out_mean(e_col, segs))
    col_unit, probe_col = l2_normalise(e_col), l2_normalise(spaces.col[spaces.probe])
    has_others = n_len > 1
    f: dict[str, np.ndarray] = {
        "col_next_rank": col_rank,
        "col_short_sim": rowwise_cos(e_col, col_ctx),
        "col_long_sim": rowwise_cos(e_col, col_long),
        "col_long_rank": np.where(has_others, _percentile_vs_probe(col_long, col_unit, probe_col), 0.5),
        "sem_short_sim": rowwise_cos(e_sem, sem_ctx),
        "sem_long_sim": rowwise_cos(e_sem, sem_long),
        "sem_rank": np.where(has_others, _percentile_vs_probe(sem_ctx, e_sem, spaces.sem[spaces.probe]), 0.5),
        "sem_long_rank": np.where(has_others, _percentile_vs_probe(sem_long, e_sem, spaces.sem[spaces.probe]), 0.5),
        "log_pop": np.log1p(spaces.count[iid]).astype(np.float32),
        "log_len": np.log(n_len),
        "rel_pos": np.where(n_len > 1, pos / np.maximum(n_len - 1, 1), 0.5),
    }
    del sem_ctx, sem_long, col_ctx, col_long, col_unit  # (n, d) each: free them before the interests below
    if align is not None:
        s_col, l_col = states, segment_max(states, segs)
        ps = align.project_short(window_mean(e_sem, segs, CAUSAL_WINDOW - 1, 0, include_self=True))
        pl_ = align.project_long(segment_mean(e_sem, segs))
        f["iadsr_ls_sc"] = rowwise_cos(pl_, s_col)
        f["iadsr_lc_ss"] = rowwise_cos(l_col, ps)
        f["iadsr_ss_sc"] = rowwise_cos(s_col, ps)
        f["iadsr_score"] = f["iadsr_ls_sc"] + f["iadsr_lc_ss"] + f["iadsr_ss_sc"]
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
