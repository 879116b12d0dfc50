"""Corruption, the ensemble and the calibration of the self-supervised detector."""

from __future__ import annotations

import numpy as np

from seqclean.calibration import cap_by_rank
from seqclean.detector import (
    agreement_report,
    corrupt,
    fit_calibration,
    fit_group_calibrations,
    fit_ratio_calibration,
    train_ensemble,
    train_head,
)
from seqclean.interests import Segments
from seqclean.metrics import roc_auc


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


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _true_posterior(z: np.ndarray, share: float) -> np.ndarray:
    """Noise N(1, 1) and clean N(-2, 1) in logit space, mixed at `share`."""
    noise = share * np.exp(-0.5 * (z - 1.0) ** 2)
    return noise / (noise + (1 - share) * np.exp(-0.5 * (z + 2.0) ** 2))


def test_ratio_calibration_follows_the_true_posterior_on_few_rows() -> None:
    """The end groups hold one row per user: with 300 real rows the posterior must still reach the truth at the
    top (the binned estimate on five bins is capped at 5x the prior and flagged nothing there)."""
    rng = np.random.default_rng(0)
    share, n = 0.1, 300
    z_real = np.concatenate([rng.normal(1.0, 1.0, int(share * n)), rng.normal(-2.0, 1.0, n - int(share * n))])
    z_corr = rng.normal(1.0, 1.0, 60)
    cal = fit_ratio_calibration(_sigmoid(z_real), _sigmoid(z_corr), prior=share)
    grid = np.array([-1.0, 0.0, 1.0, 2.0])
    got, want = cal(_sigmoid(grid)), _true_posterior(grid, share)
    assert np.abs(got - want).max() < 0.2, (got, want)
    assert cal(_sigmoid(np.array([2.0])))[0] > 0.5
    binned = fit_calibration(_sigmoid(z_real), _sigmoid(z_corr), bins=5, prior=share)
    assert binned(_sigmoid(np.array([3.0])))[0] <= 5 * share + 1e-3  # the cap the ratio fit removes
    assert (np.diff(cal(np.linspace(0, 1, 50))) >= 0).all()


def test_group_calibrations_use_the_ratio_fit_at_the_ends_only() -> None:
    rng = np.random.default_rng(1)
    p_real, p_noise = rng.beta(2, 8, 3000), rng.beta(6, 2, 600)
    g_real, g_noise = rng.integers(0, 3, 3000), rng.integers(0, 3, 600)
    overall = fit_calibration(p_real, p_noise, prior=0.1)
    cals = fit_group_calibrations(p_real, g_real, p_noise, g_noise, overall, 3)
    assert all(c.prior == overall.prior for c in cals)
    assert cals[0].centres.size > 41 and cals[1].centres.size > 41  # tabulated ratio fit (64-point grid)
    assert cals[2].centres.size <= 40  # the rest keeps the binned estimate
    small = fit_group_calibrations(p_real[:50], g_real[:50], p_noise, g_noise, overall, 3)
    assert all(c is overall for c in small)  # too few rows: the overall calibration


def test_rank_cap_bounds_an_end_group_flag_rate_by_the_rest() -> None:
    """Clean rows at the end look noisier to the detector (no right-hand context); capped at the rest's posterior
    at the same within-group rank, the end is flagged no more often than the rest."""
    rng = np.random.default_rng(2)
    p_rest = np.concatenate([rng.beta(2, 8, 9000), rng.beta(6, 2, 1000)])
    p_end = np.concatenate([rng.beta(3, 6, 900), rng.beta(5, 3, 100)])  # shifted up, weaker separation
    noise = rng.beta(6, 2, 1200)
    rest_cal = fit_calibration(p_rest, noise, prior=0.1)
    loose = fit_ratio_calibration(p_end, rng.beta(5, 3, 120), prior=0.1)
    capped = cap_by_rank(loose, p_end, p_rest, rest_cal)
    rest_rate = float((rest_cal(p_rest) > 0.5).mean())
    assert float((capped(p_end) > 0.5).mean()) <= rest_rate + 0.01
    assert (capped(p_end) <= loose(p_end) + 1e-6).all()
    assert capped.kind == "ratio+rank"


def test_agreement_report_measures_the_product_and_the_detector_alone() -> None:
    """A detector that sees half of the corruptions clearly and a text score that sees all of them weakly: the
    product's held-out AP is higher; a text score that is noise lowers it, and the report says so."""
    rng = np.random.default_rng(0)
    y = rng.random(20000) < 0.12
    seen = rng.random(y.size) < 0.5
    p = np.clip(rng.normal(0.3 + 0.4 * (y & seen), 0.15), 0.01, 0.99)
    p_sem = np.clip(rng.normal(0.3 + 0.2 * y, 0.15), 0.01, 0.99)
    rep = agreement_report(p, p_sem, y, 0.5)
    assert rep["exponent"] == 0.5 and rep["heldout_ap"] > rep["heldout_ap_detector_alone"] + 0.05
    rep = agreement_report(p, rng.random(y.size), y, 0.5)
    assert rep["heldout_ap"] < rep["heldout_ap_detector_alone"] - 0.05
    assert agreement_report(p, p_sem, y, 0.0)["heldout_ap"] == rep["heldout_ap_detector_alone"]


def test_heads_train_enough_steps_on_a_small_log() -> None:
    # 3,000 rows are 3 batches a pass: three passes (9 steps) left a two-sided boundary unlearnt (ROC-AUC 0.52-0.68)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 2)).astype(np.float32)
    y = np.abs(x[:, 0]) > 1.2
    head = train_head({"a": x[:, 0], "b": x[:, 1]}, y, ("a", "b"), seed=1)
    assert roc_auc(y, head.predict_features({"a": x[:, 0], "b": x[:, 1]})) > 0.95
