"""InfoNCE and the alignment heads."""

from __future__ import annotations

import numpy as np
import torch

from seqclean.align import fit_alignment, info_nce


def test_info_nce_prefers_matching_pairs() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(64, 16, generator=g)
    matched = float(info_nce(a, a))
    shuffled = float(info_nce(a, a[torch.randperm(64, generator=g)]))
    assert matched < 0.5 < shuffled
    # symmetric in its arguments, and temperature 0.1 by default
    b = torch.randn(64, 16, generator=g)
    assert abs(float(info_nce(a, b)) - float(info_nce(b, a))) < 1e-5
    assert abs(float(info_nce(a, b)) - float(info_nce(a, b, temperature=0.1))) < 1e-7


def test_fit_alignment_recovers_a_linear_map() -> None:
    rng = np.random.default_rng(1)
    true = rng.normal(size=(32, 24)).astype(np.float32)
    sem = rng.normal(size=(3000, 32)).astype(np.float32)
    col = sem @ true + 0.05 * rng.normal(size=(3000, 24)).astype(np.float32)
    users_sem = rng.normal(size=(600, 32)).astype(np.float32)
    users_col = users_sem @ true
    al = fit_alignment(sem, col, users_sem, users_col, seed=0)
    assert al.w_short.shape == (32, 24) and al.w_long.shape == (32, 24)
    assert al.top1_short > 0.8 and al.top1_long > 0.8
    # unrelated spaces cannot be aligned: retrieval stays near chance
    noise = rng.normal(size=(3000, 24)).astype(np.float32)
    bad = fit_alignment(sem, noise, users_sem, rng.normal(size=(600, 24)).astype(np.float32), seed=0)
    assert bad.top1_short < 0.2
