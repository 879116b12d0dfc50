"""The self-supervised corruption task: which positions are replaced or inserted, and by what."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqclean.interests import Segments, l2_normalise, window_mean


@dataclass
class Corruption:
    iid: np.ndarray  # corrupted iids, rows grouped by user
    segs: Segments
    label: np.ndarray  # True = replaced or inserted
    origin: np.ndarray  # row of the clean input this row came from, -1 for inserted rows
    kind: np.ndarray  # 0 clean, 1 uniform, 2 popularity, 3 backbone-plausible, 4 text-plausible, 5 inserted


def corrupt_sequences(
    iid: np.ndarray,
    segs: Segments,
    rng: np.random.Generator,
    *,
    n_items: int,
    popularity: np.ndarray,
    col: np.ndarray,
    sem: np.ndarray,
    prev_state: np.ndarray,
    replace_rate: float,
    insert_rate: float,
    mix: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0),
    candidates: int = 64,
) -> Corruption:
    """Replace a `replace_rate` share of positions and insert bursts worth `insert_rate` of the rows.

    `prev_state` is the backbone state before each clean row (zero at a user's first row): the
    backbone-plausible replacement is the candidate it scores highest there. The text-plausible one is the
    candidate nearest (cosine) to the mean text of the row's neighbours j-3..j+3.
    """
    n = iid.size
    rows = np.flatnonzero(rng.random(n) < replace_rate)
    k = rows.size
    p = popularity[1 : n_items + 1].astype(np.float64) + 1.0
    p /= p.sum()
    kind = rng.choice(4, size=k, p=np.asarray(mix) / sum(mix)) + 1
    repl = rng.integers(1, n_items + 1, size=k)
    pop = kind == 2
    repl[pop] = rng.choice(np.arange(1, n_items + 1), size=int(pop.sum()), p=p)
    cand = rng.integers(1, n_items + 1, size=(k, candidates))
    for code, vec, query in ((3, col, prev_state[rows]), (4, sem, _text_context(iid, segs, sem)[rows])):
        m = kind == code
        if m.any():
            scores = np.einsum("kd,kcd->kc", query[m], vec[cand[m]])
            repl[m] = cand[m][np.arange(int(m.sum())), scores.argmax(axis=1)]
    same = repl == iid[rows]
    repl[same] = (repl[same] % n_items) + 1  # never "replace" an item by itself
    out = iid.copy()
    out[rows] = repl
    kinds = np.zeros(n, dtype=np.int8)
    kinds[rows] = kind

    # bursts of 1-3 items inserted before or after random anchor rows (so both ends are covered)
    n_burst = int(rng.binomial(n, insert_rate / 2.0)) if n else 0
    anchor = rng.integers(0, n, size=n_burst) if n_burst else np.zeros(0, np.int64)
    blen = rng.integers(1, 4, size=n_burst)
    after = rng.random(n_burst) < 0.5
    b_idx = np.repeat(np.arange(n_burst), blen)
    within = np.arange(b_idx.size) - np.repeat(np.cumsum(blen) - blen, blen)
    ins_key = 2.0 * anchor[b_idx] + np.where(after[b_idx], 0.0, -1.0) + (within + 1) / 8.0
    use_pop = rng.random(b_idx.size) < 0.5
    ins_iid = np.where(
        use_pop, rng.choice(np.arange(1, n_items + 1), size=b_idx.size, p=p), rng.integers(1, n_items + 1, b_idx.size)
    )
    key = np.concatenate([2.0 * np.arange(n), ins_key])
    order = np.argsort(key, kind="stable")
    all_iid = np.concatenate([out, ins_iid])[order]
    all_seg = np.concatenate([segs.seg, segs.seg[anchor[b_idx]]])[order]
    origin = np.concatenate([np.arange(n), np.full(b_idx.size, -1)])[order]
    all_kind = np.concatenate([kinds, np.full(b_idx.size, 5, np.int8)])[order]
    return Corruption(
        iid=all_iid.astype(np.int64),
        segs=Segments.from_sorted_ids(all_seg),
        label=all_kind > 0,
        origin=origin.astype(np.int64),
        kind=all_kind,
    )


def truncation_mask(segs: Segments, rng: np.random.Generator, share: float, min_len: int = 3) -> np.ndarray:
    """Rows kept when a `share` of users is cut after a random position (at least `min_len` rows kept).

    A user's true end has no right-hand context; windows over whole histories put only two such rows per
    user into training (about 2% of rows on MovieLens), so the detector was weakest exactly there (ROC-AUC
    on the last two 0.04 below the rest). Cut copies make "the end" common in training, with the features
    computed on the cut sequence as they would be on a shorter log.
    """
    n = segs.length
    cut = rng.random(n.size) < share
    lo = np.minimum(n, min_len)
    keep_len = np.where(cut, lo + np.floor(rng.random(n.size) * (n - lo + 1)).astype(np.int64), n)
    return segs.position < keep_len[segs.seg]


def _text_context(iid: np.ndarray, segs: Segments, sem: np.ndarray) -> np.ndarray:
    return l2_normalise(window_mean(sem[iid], segs, 3, 3))


# ---------------------------------------------------------------------------------------------- inputs
