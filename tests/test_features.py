"""Per-interaction features: each is a function of the user's own rows, and the cold head's inputs never read
the item's own collaborative embedding or popularity (what is unreliable for a cold item)."""

from __future__ import annotations

import numpy as np

from seqclean.align import Alignment
from seqclean.features import COLD_FEATURES, FULL_FEATURES, Spaces, _product, compute_features, probe_rows
from seqclean.interests import Segments


def _setup(seed: int = 0) -> tuple[np.ndarray, Segments, np.ndarray, Spaces, Alignment]:
    rng = np.random.default_rng(seed)
    n_items, d_sem, d_col = 40, 8, 6
    sem = rng.normal(size=(n_items + 1, d_sem)).astype(np.float32)
    sem /= np.linalg.norm(sem, axis=1, keepdims=True)
    col = rng.normal(size=(n_items + 1, d_col)).astype(np.float32)
    sem[0], col[0] = 0.0, 0.0
    count = rng.integers(1, 50, size=n_items + 1)
    spaces = Spaces(sem=sem, col=col, count=count, probe=np.arange(1, 21))
    lens = [5, 1, 12, 3]
    uid = np.repeat(np.arange(len(lens)), lens)
    iid = rng.integers(1, n_items + 1, size=uid.size)
    states = rng.normal(size=(uid.size, d_col)).astype(np.float32)
    align = Alignment(
        w_short=rng.normal(size=(d_sem, d_col)).astype(np.float32),
        w_long=rng.normal(size=(d_sem, d_col)).astype(np.float32),
        loss_short=0.0,
        loss_long=0.0,
        top1_short=0.0,
        top1_long=0.0,
    )
    return iid, Segments.from_sorted_ids(uid), states, spaces, align


def test_features_of_a_user_do_not_depend_on_the_other_users_in_the_chunk() -> None:
    iid, segs, states, spaces, align = _setup()
    whole = compute_features(iid, segs, states, spaces, align)
    lo, hi = int(segs.start[2]), int(segs.start[2] + segs.length[2])
    alone = compute_features(iid[lo:hi], Segments.from_sorted_ids(np.zeros(hi - lo)), states[lo:hi], spaces, align)
    for name in FULL_FEATURES + COLD_FEATURES:
        np.testing.assert_array_equal(whole[name][lo:hi], alone[name], err_msg=name)


def test_next_item_features_at_the_edges_of_a_sequence() -> None:
    iid, segs, states, spaces, align = _setup()
    f = compute_features(iid, segs, states, spaces, align)
    last = segs.start + segs.length - 1
    assert np.all(f["col_after_delta"][last] == 0.0)
    assert np.all(f["col_next_logit"][segs.start] == 0.0)
    assert np.all(f["col_next_logit"] <= 0.0)
    one_item_user = segs.start[segs.length == 1]
    assert np.all(f["col_nn_max"][one_item_user] == 0.0) and np.all(f["x_long_rank"][one_item_user] == 0.5)


def test_cold_head_inputs_ignore_the_items_own_collaborative_embedding_and_popularity() -> None:
    iid, segs, states, spaces, align = _setup()
    before = compute_features(iid, segs, states, spaces, align)
    target = int(iid[7])
    col, count = spaces.col.copy(), spaces.count.copy()
    col[target] = np.random.default_rng(1).normal(size=col.shape[1]) * 5
    count[target] = 1000
    changed = Spaces(sem=spaces.sem, col=col, count=count, probe=spaces.probe)
    after = compute_features(iid, segs, states, changed, align)
    rows = iid == target
    for name in COLD_FEATURES:
        np.testing.assert_array_equal(before[name][rows], after[name][rows], err_msg=name)
    assert not np.allclose(before["col_long_sim"][rows], after["col_long_sim"][rows])
    assert not np.allclose(before["log_pop"][rows], after["log_pop"][rows])


def test_probe_rows_equal_the_catalogue_product_gathered_per_row() -> None:
    """The per-chunk product over the chunk's distinct items gives each row the bits a catalogue-wide table
    would, whatever the block size and whichever other items are in the chunk."""
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(300, 16)).astype(np.float32)
    probe_t = vectors[rng.choice(300, size=24, replace=False)].T.astype(np.float64)
    table = (vectors.astype(np.float64) @ probe_t).astype(np.float32)
    iid = rng.integers(0, 300, size=500)
    for rows in (iid, iid[:7]):
        np.testing.assert_array_equal(probe_rows(vectors, np.unique(rows, return_inverse=True), probe_t), table[rows])
    np.testing.assert_array_equal(_product(vectors, probe_t.astype(np.float32), block=7), table)
