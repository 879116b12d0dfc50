"""Corruption, the ensemble and the calibration of the self-supervised detector."""

from __future__ import annotations

import numpy as np

from seqclean.detector import corrupt, fit_calibration, train_ensemble
from seqclean.interests import Segments


def test_corrupt_replaces_the_labelled_positions_only() -> None:
    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(200), rng.integers(1, 30, size=200))
    segs = Segments.from_sorted_ids(ids)
    iid = rng.integers(1, 101, size=ids.size)
    pop = np.concatenate([[0], rng.integers(0, 50, size=100)])
    out, label = corrupt(iid, segs, 100, pop, np.random.default_rng(1), rate=0.1)
    assert (out[~label] == iid[~label]).all()
    assert (out[label] != iid[label]).all()
    assert ((out >= 1) & (out <= 100)).all()
    assert 0.08 < label.mean() < 0.2
    # every sequence of two or more items has at least one corruption
    per_user = np.bincount(segs.seg, weights=label)
    assert (per_user[segs.length >= 2] >= 1).all()


def test_ensemble_learns_and_disagrees_near_the_boundary() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20000, 3)).astype(np.float32)
    y = (x[:, 0] + 0.3 * rng.normal(size=20000) > 1.0).astype(np.float32)
    ens = train_ensemble(x, y, ("a", "b", "c"), members=3, epochs=6, seed=0)
    p, std = ens.predict(x)
    assert ((p > 0.5) == (y > 0.5)).mean() > 0.88
    boundary = np.zeros((50, 3), dtype=np.float32)
    boundary[:, 0] = 1.0
    clear = np.zeros((50, 3), dtype=np.float32)
    clear[:, 0] = -2.0
    assert ens.predict(boundary)[1].mean() > 3 * ens.predict(clear)[1].mean()


def test_calibration_estimates_the_mixture_share() -> None:
    rng = np.random.default_rng(0)
    corrupted = rng.beta(6, 2, size=20000)  # how the detector sees corruptions
    clean = rng.beta(2, 8, size=20000)
    for share in (0.05, 0.2):
        n_noise = int(share * 20000)
        real = np.concatenate([rng.beta(6, 2, size=n_noise), clean[: 20000 - n_noise]])
        cal = fit_calibration(real, corrupted)
        assert abs(cal.prior - share) < 0.04, (share, cal.prior)
        post = cal(real)
        assert abs(post.mean() - share) < 0.05
        assert (np.diff(cal(np.linspace(0, 1, 50))) >= 0).all()  # monotone: ranking is kept
