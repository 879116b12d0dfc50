"""Replacement suggestions: nearest allowed catalogue item, never one the user already has."""

from __future__ import annotations

import numpy as np
import pytest

from seqclean.interests import l2_normalise
from seqclean.suggest import aligned_catalogue, suggest_replacements, suggestion_pool


def _brute(interest, cat, seg, mseg, miid, outside=()):  # type: ignore[no-untyped-def]
    best, conf = [], []
    for r in range(interest.shape[0]):
        q = interest[r] / np.linalg.norm(interest[r])
        sims = cat @ q
        sims[0] = -np.inf
        sims[list(outside)] = -np.inf
        sims[miid[mseg == seg[r]]] = -np.inf
        k = int(np.argmax(sims))
        best.append(k)
        conf.append(np.clip(sims[k], 0, 1))
    return np.array(best), np.array(conf)


def test_matches_brute_force_and_excludes_own_items() -> None:
    rng = np.random.default_rng(0)
    n_items, d = 40, 8
    cat = l2_normalise(rng.normal(size=(n_items + 1, d)))
    cat[0] = 0
    seg = np.repeat(np.arange(6), [3, 5, 1, 7, 2, 4])
    iid = rng.integers(1, n_items + 1, size=seg.size)
    interest = rng.normal(size=(seg.size, d)).astype(np.float32)
    want_b, want_c = _brute(interest, cat, seg, seg, iid)
    for block in (None, 1, 5):
        b, c = suggest_replacements(interest, cat, seg, seg, iid, block_rows=block)
        assert np.array_equal(b, want_b)
        np.testing.assert_allclose(c, want_c, atol=1e-5)
        for r in range(seg.size):
            assert b[r] not in set(iid[seg == seg[r]])
    assert (b > 0).all() and ((c >= 0) & (c <= 1)).all()


def test_suggests_the_item_nearest_the_interest() -> None:
    cat = np.zeros((4, 2), dtype=np.float32)
    cat[1], cat[2], cat[3] = [1, 0], [0, 1], [0.8, 0.6]
    seg = np.array([0, 0])
    iid = np.array([1, 2])
    b, c = suggest_replacements(np.array([[1.0, 0.1], [0.0, 0.0]]), cat, seg, seg, iid)
    assert b[0] == 3  # item 1 is nearer but the user already has it
    assert b[1] == 0 and c[1] == 0  # no interest: no suggestion


def test_no_allowed_item() -> None:
    cat = l2_normalise(np.eye(3, dtype=np.float32))
    seg = np.array([0, 0])
    b, c = suggest_replacements(np.ones((2, 3)), cat, seg, seg, np.array([1, 2]))
    assert b.tolist() == [0, 0] and c.tolist() == [0, 0]


def test_pool_restricts_candidates_to_the_most_interacted_items() -> None:
    rng = np.random.default_rng(1)
    n_items, d = 30, 6
    cat = l2_normalise(rng.normal(size=(n_items + 1, d)))
    cat[0] = 0
    count = np.concatenate([[0], rng.integers(1, 50, size=n_items)])
    count[7] = count[8] = 100  # a tie at the top: the smaller iid ranks first
    pool = suggestion_pool(count, size=10)
    assert pool is not None and pool.size == 10 and np.all(np.diff(pool) > 0)
    assert 7 in pool and 8 in pool
    assert suggestion_pool(count, size=n_items) is None  # the catalogue fits: every item
    seg = np.repeat(np.arange(5), [4, 2, 6, 1, 3])
    iid = rng.integers(1, n_items + 1, size=seg.size)
    interest = rng.normal(size=(seg.size, d)).astype(np.float32)
    outside = np.setdiff1d(np.arange(n_items + 1), pool)
    want_b, want_c = _brute(interest, cat, seg, seg, iid, outside)
    for block in (None, 1, 4):
        b, c = suggest_replacements(interest, cat, seg, seg, iid, block_rows=block, pool=pool)
        assert np.isin(b, pool).all()
        assert np.array_equal(b, want_b)
        np.testing.assert_allclose(c, want_c, atol=1e-5)


def test_a_pooled_catalogue_gives_the_suggestions_of_the_whole_one() -> None:
    """The scorer keeps only the pool's rows of the aligned catalogue; the suggestions are the same."""
    rng = np.random.default_rng(2)
    n_items, d = 40, 5
    col = rng.normal(size=(n_items + 1, d)).astype(np.float32)
    sem = rng.normal(size=(n_items + 1, d)).astype(np.float32)
    count = np.concatenate([[0], rng.integers(1, 50, size=n_items)])
    seg = np.repeat(np.arange(4), [5, 3, 7, 2])
    iid = rng.integers(1, n_items + 1, size=seg.size)
    interest = rng.normal(size=(seg.size, 2 * d)).astype(np.float32)
    for pool in (suggestion_pool(count, size=12), None):
        whole = suggest_replacements(interest, aligned_catalogue(col, sem), seg, seg, iid, pool=pool)
        cat = aligned_catalogue(col, sem, pool)
        assert cat.shape[0] == (n_items + 1 if pool is None else 13)
        pooled = suggest_replacements(interest, cat, seg, seg, iid, pool=pool, pooled=True)
        assert np.array_equal(whole[0], pooled[0]) and np.array_equal(whole[1], pooled[1])
    with pytest.raises(ValueError, match="pooled catalogue"):
        suggest_replacements(interest, aligned_catalogue(col, sem), seg, seg, iid, pool=np.arange(1, 6), pooled=True)


def test_the_same_bits_whatever_the_block_of_rows() -> None:
    """A float32 product's last bits change with the rows in the block (so with `--chunk-users`); the
    confidence is re-read exactly, so suggestions and confidences are bit-identical across blocks."""
    rng = np.random.default_rng(3)
    n_items, d = 300, 128
    cat = l2_normalise(rng.normal(size=(n_items + 1, d)).astype(np.float32))
    cat[0] = 0
    seg = np.repeat(np.arange(60), 10)
    iid = rng.integers(1, n_items + 1, size=seg.size)
    interest = rng.normal(size=(seg.size, d)).astype(np.float32)
    interest[5] = interest[4]  # equal rows: equal answers
    whole = suggest_replacements(interest, cat, seg, seg, iid)
    for block in (1, 7, 64):
        b, c = suggest_replacements(interest, cat, seg, seg, iid, block_rows=block)
        assert np.array_equal(b, whole[0]) and c.tobytes() == whole[1].tobytes()
    assert whole[1][4] == whole[1][5]
    cos = np.einsum("ij,ij->i", l2_normalise(interest).astype(np.float64), cat[whole[0]].astype(np.float64))
    np.testing.assert_array_equal(whole[1], np.clip(cos, 0, 1).astype(np.float32))
