"""The vectorised per-user segment functions agree with a plain per-user loop and with float64 whole-array
formulas, and a user's results are bit for bit the same whatever other users share the chunk."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqclean import interests
from seqclean.interests import (
    Segments,
    l2_normalise,
    leave_one_out_mean,
    rowwise_cos,
    segment_max,
    segment_mean,
    user_max,
    user_mean,
    window_mean,
    window_sum,
)

lengths = st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=6)


def _chunk(lens: list[int], seed: int) -> tuple[np.ndarray, Segments]:
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(len(lens)) * 3 + 1, lens)
    return rng.normal(size=(ids.size, 4)).astype(np.float32), Segments.from_sorted_ids(ids)


@settings(max_examples=60, deadline=None)
@given(lengths, st.integers(0, 1000), st.integers(0, 4), st.integers(0, 4))
def test_window_and_loo_match_loop(lens: list[int], seed: int, before: int, after: int) -> None:
    v, segs = _chunk(lens, seed)
    got_w = window_mean(v, segs, before, after)
    got_l = leave_one_out_mean(v, segs)
    row = 0
    for n in lens:
        for p in range(n):
            lo, hi = max(0, p - before), min(n, p + after + 1)
            others = [row - p + q for q in range(lo, hi) if q != p]
            exp = v[others].mean(axis=0) if others else np.zeros(4)
            np.testing.assert_allclose(got_w[row], exp, atol=1e-5)
            all_others = [row - p + q for q in range(n) if q != p]
            exp_l = v[all_others].mean(axis=0) if all_others else np.zeros(4)
            np.testing.assert_allclose(got_l[row], exp_l, atol=1e-5)
            row += 1
    assert list(segs.position) == [p for n in lens for p in range(n)]


def test_cosine_zero_rows_give_zero() -> None:
    a = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]], dtype=np.float32)
    b = np.array([[1.0, 0.0], [1.0, 0.0], [-1.0, -1.0]], dtype=np.float32)
    np.testing.assert_allclose(rowwise_cos(a, b), [1.0, 0.0, -1.0], atol=1e-6)


# Whole-array formulas in float64: the float32 functions must agree with them to float32 precision.
def _ref_l2_normalise(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norm, eps)).astype(np.float32)


def _ref_rowwise_cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", _ref_l2_normalise(a), _ref_l2_normalise(b)).astype(np.float32)


def _ref_segment_sums(vecs: np.ndarray, segs: Segments) -> np.ndarray:
    if vecs.shape[0] == 0:
        return np.zeros((0, vecs.shape[1]), dtype=np.float64)
    return np.add.reduceat(vecs.astype(np.float64), segs.start, axis=0)


def _ref_leave_one_out_mean(vecs: np.ndarray, segs: Segments) -> np.ndarray:
    others = _ref_segment_sums(vecs, segs)[segs.seg] - vecs
    n = (segs.length[segs.seg] - 1).astype(np.float64)[:, None]
    return np.where(n > 0, others / np.maximum(n, 1), 0.0).astype(np.float32)


def _ref_window_mean(vecs: np.ndarray, segs: Segments, before: int, after: int, include_self: bool) -> np.ndarray:
    cs = np.zeros((vecs.shape[0] + 1, vecs.shape[1]), dtype=np.float64)
    np.cumsum(vecs, axis=0, out=cs[1:])
    rows = np.arange(vecs.shape[0])
    s = segs.start[segs.seg]
    e = s + segs.length[segs.seg]
    lo = np.maximum(rows - before, s)
    hi = np.minimum(rows + after + 1, e)
    total = cs[hi] - cs[lo] - (0 if include_self else vecs)
    n = (hi - lo - (0 if include_self else 1)).astype(np.float64)[:, None]
    return np.where(n > 0, total / np.maximum(n, 1), 0.0).astype(np.float32)


def _ref_segment_mean(vecs: np.ndarray, segs: Segments) -> np.ndarray:
    sums = _ref_segment_sums(vecs, segs)
    return (sums / np.maximum(segs.length, 1)[:, None])[segs.seg].astype(np.float32)


def _ref_segment_max(vecs: np.ndarray, segs: Segments) -> np.ndarray:
    if vecs.shape[0] == 0:
        return vecs.copy()
    return np.maximum.reduceat(vecs, segs.start, axis=0)[segs.seg]


# Lengths 1 (no other row), short ones, and ones past 8 and 128 rows, where NumPy's pairwise sum changes shape.
SEGMENT_LENGTHS = (1, 1, 2, 3, 5, 9, 17, 140, 300)


def _close(got: np.ndarray, want: np.ndarray) -> bool:
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    return (
        got.dtype == np.float32
        and got.shape == want.shape
        and bool(np.allclose(got, want, rtol=1e-5, atol=1e-5 * scale))
    )


@pytest.mark.parametrize("row_block", [interests.ROW_BLOCK, 13])
@pytest.mark.parametrize("d", [1, 45, 100])
@pytest.mark.parametrize("seed", range(4))
def test_functions_match_float64_formulas_and_do_not_depend_on_the_chunk(
    monkeypatch: pytest.MonkeyPatch, row_block: int, d: int, seed: int
) -> None:
    """Row block 13 makes several ragged blocks; each user is also computed alone and must give the same bits."""
    monkeypatch.setattr(interests, "ROW_BLOCK", row_block)
    rng = np.random.default_rng(seed)
    lens = rng.choice(SEGMENT_LENGTHS, size=int(rng.integers(1, 12)))
    lens[0] = 1
    segs = Segments.from_sorted_ids(np.repeat(np.arange(lens.size) * 2 + 7, lens))
    n = int(lens.sum())
    dtype = np.float32 if seed % 2 == 0 else np.float64
    v = (rng.normal(size=(n, d)) * 10.0 ** rng.integers(-3, 4, size=(1, d))).astype(dtype)
    v[rng.random(n) < 0.05] = 0.0
    w = rng.normal(size=(n, d)).astype(np.float32)
    _assert_all_match_reference(v, w, segs)
    assert _close(rowwise_cos(w[:, ::-1], v), _ref_rowwise_cos(w[:, ::-1], v))  # not C-contiguous
    assert _close(l2_normalise(np.asfortranarray(v)), _ref_l2_normalise(np.asfortranarray(v)))
    for s, m in zip(segs.start, segs.length, strict=True):
        alone = Segments.from_sorted_ids(np.zeros(int(m), dtype=np.int64))
        rows = slice(int(s), int(s + m))
        for fn in _functions():
            assert np.array_equal(fn(v, segs)[rows], fn(v[rows], alone)), fn


def _functions() -> list[Callable[[np.ndarray, Segments], np.ndarray]]:
    return [
        lambda v, s: window_mean(v, s, 3, 3),
        lambda v, s: window_sum(v, s, 4, 0, include_self=True),
        leave_one_out_mean,
        segment_mean,
        segment_max,
    ]


def test_functions_on_an_empty_chunk() -> None:
    v, segs = np.zeros((0, 45), dtype=np.float32), Segments.from_sorted_ids(np.zeros(0, dtype=np.int64))
    _assert_all_match_reference(v, v, segs)


def _assert_all_match_reference(v: np.ndarray, w: np.ndarray, segs: Segments) -> None:
    for before, after in [(3, 3), (4, 0), (0, 0), (0, 6)]:
        for include_self in (False, True):
            got = window_mean(v, segs, before, after, include_self=include_self)
            assert _close(got, _ref_window_mean(v, segs, before, after, include_self))
    assert _close(leave_one_out_mean(v, segs), _ref_leave_one_out_mean(v, segs))
    assert _close(segment_mean(v, segs), _ref_segment_mean(v, segs))
    assert _close(user_mean(v, segs), _ref_segment_mean(v, segs)[segs.start])
    assert np.array_equal(segment_max(v, segs), _ref_segment_max(v, segs))
    assert np.array_equal(user_max(v, segs), _ref_segment_max(v, segs)[segs.start])
    assert _close(l2_normalise(v), _ref_l2_normalise(v))
    assert _close(rowwise_cos(v, w), _ref_rowwise_cos(v, w))


@settings(max_examples=40, deadline=None)
@given(lens=lengths, seed=st.integers(0, 10_000), width=st.integers(1, 4))
def test_window_neighbours_match_a_per_user_loop(lens: list[int], seed: int, width: int) -> None:
    v, segs = _chunk(lens, seed)
    best, top3 = interests.window_neighbours(v, segs, width)
    unit = v / np.linalg.norm(v, axis=1, keepdims=True)
    for s, n in zip(segs.start, segs.length, strict=True):
        for p in range(n):
            near = [q for q in range(max(0, p - width), min(n, p + width + 1)) if q != p]
            sims = sorted((float(unit[s + p] @ unit[s + q]) for q in near), reverse=True)
            want_best = sims[0] if sims else 0.0
            want_top = float(np.mean(sims[:3])) if sims else 0.0
            assert best[s + p] == pytest.approx(want_best, abs=1e-5)
            assert top3[s + p] == pytest.approx(want_top, abs=1e-5)
