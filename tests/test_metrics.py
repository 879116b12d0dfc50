from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from seqclean.metrics import precision_recall, roc_auc


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 5)), min_size=2, max_size=40))
def test_auc_matches_pairwise_definition(rows: list[tuple[bool, int]]) -> None:
    y = np.array([r[0] for r in rows])
    s = np.array([r[1] for r in rows], dtype=float)
    pos, neg = s[y], s[~y]
    got = roc_auc(y, s)
    if pos.size == 0 or neg.size == 0:
        assert np.isnan(got)
        return
    pairs = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert abs(got - pairs / (pos.size * neg.size)) < 1e-12


def test_precision_recall() -> None:
    p, r = precision_recall(np.array([1, 1, 0, 0], bool), np.array([1, 0, 1, 0], bool))
    assert (p, r) == (0.5, 0.5)
