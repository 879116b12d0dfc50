"""The end stack: the detector's output at a sequence's end, stacked with the causal next-item evidence."""

from __future__ import annotations

import numpy as np

from seqclean.end_stack import EndStack, fit_end_stack
from seqclean.metrics import roc_auc


def _draw(seed: int, col_signal: float, n: int = 4000) -> tuple[np.ndarray, ...]:
    """(p, col_logit, w, has_prev, group, label): a weak detector output, a col evidence of `col_signal`."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.15
    p = 1.0 / (1.0 + np.exp(-(-2.0 + 0.8 * y + rng.normal(size=n))))
    col = -3.0 - col_signal * y + rng.normal(size=n)
    return p, col, np.ones(n), np.ones(n, bool), rng.integers(0, 3, size=n), y


def test_the_stack_reads_end_evidence_the_detector_under_used() -> None:
    stack = fit_end_stack(_draw(0, 2.0))
    assert set(stack.betas) == {0, 1}
    p, col, w, hp, g, y = _draw(2, 2.0)
    out = stack(p, col, w, hp, g)
    end = g < 2
    assert roc_auc(y[end], out[end]) > roc_auc(y[end], p[end]) + 0.1
    assert np.array_equal(out[~end], p[~end])  # the middle of a sequence is left as the detector scored it


def test_col_evidence_of_the_wrong_sign_is_left_out_and_small_groups_keep_the_detector() -> None:
    p, col, w, hp, g, y = _draw(0, 0.0)
    col = col + 2.0 * y  # noise with *higher* next-item logits: not how the evidence reads
    stack = fit_end_stack((p, col, w, hp, g, y))
    assert stack.betas[0][2] == 0.0 and stack.betas[0][1] > 0
    few = _draw(1, 2.0, n=200)
    assert fit_end_stack(few).betas == {}


def test_cold_items_and_rows_without_a_previous_item_ignore_the_col_evidence() -> None:
    stack = fit_end_stack(_draw(0, 2.0))
    p = np.full(4, 0.2)
    col = np.array([-1.0, -8.0, -1.0, -8.0])
    w = np.array([0.0, 0.0, 1.0, 1.0])
    out = stack(p, col, w, np.ones(4, bool), np.zeros(4, np.int64))
    assert out[0] == out[1] and out[3] > out[2]
    no_prev = stack(p, col, np.ones(4), np.zeros(4, bool), np.zeros(4, np.int64))
    assert np.unique(no_prev).size == 1
    assert EndStack().report() == {}
