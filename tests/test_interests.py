"""The vectorised per-user segment functions agree with a plain per-user loop."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from seqclean.interests import Segments, leave_one_out_mean, rowwise_cos, window_mean

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
