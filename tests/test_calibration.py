"""Calibration per item group: cold and warm items get their own noise share and posterior."""

from __future__ import annotations

import numpy as np
import pytest

from seqclean.calibration import (
    apply_group_calibrations,
    calibration_groups,
    fit_calibration,
    fit_group_calibrations,
    fit_item_group_calibrations,
    item_group_report,
    noise_kind_weights,
    shift_prior,
)
from seqclean.errors import UsageError


def _log(seed: int) -> tuple[np.ndarray, ...]:
    """Real rows: 30% cold items with 25% noise, 70% warm with 5% (the tail takes uniform noise); the detector
    separates noise equally well in both groups. Corruptions fall on cold items as often as the real noise does."""
    rng = np.random.default_rng(seed)
    n = 20000
    cold = rng.random(n) < 0.3
    noise = rng.random(n) < np.where(cold, 0.25, 0.05)
    p = np.where(noise, rng.beta(5, 2, n), rng.beta(2, 5, n))
    m = 3000
    cold_noise = rng.random(m) < (0.3 * 0.25) / (0.3 * 0.25 + 0.7 * 0.05)
    p_noise = rng.beta(5, 2, m)
    return p, np.full(n, 2), cold, noise, p_noise, np.full(m, 2), cold_noise


def test_each_item_group_gets_its_own_noise_share() -> None:
    p, g, cold, noise, p_noise, g_noise, cold_noise = _log(0)
    overall = fit_calibration(p, p_noise)
    mode = "mix"  # the corruptions fall on the groups as the real noise does: the shares come out right
    cals = fit_item_group_calibrations(p, g, cold, p_noise, g_noise, cold_noise, overall, 3, mode)
    assert len(cals) == 6
    post = apply_group_calibrations(p, calibration_groups(g, cold, len(cals), 3), cals)
    for k, share in ((False, 0.05), (True, 0.25)):
        assert abs(post[cold == k].mean() - share) < 0.03, (mode, k, post[cold == k].mean())
    flagged = post > 0.5
    assert noise[flagged & ~cold].mean() >= 0.45  # warm rows above 0.5 are noise about as often as the score says
    one = apply_group_calibrations(p, g, fit_group_calibrations(p, g, p_noise, g_noise, overall, 3))
    # one noise share for every item: the warm rows' posterior overstated, the cold rows' understated
    assert one[~cold].mean() > 0.05 + 0.02 and one[cold].mean() < 0.25 - 0.05


def test_none_keeps_the_position_calibrations_and_small_groups_fall_back() -> None:
    p, g, cold, _, p_noise, g_noise, cold_noise = _log(1)
    overall = fit_calibration(p, p_noise)
    base = fit_group_calibrations(p, g, p_noise, g_noise, overall, 3)
    none = fit_item_group_calibrations(p, g, cold, p_noise, g_noise, cold_noise, overall, 3, "none")
    assert len(none) == 3 and all(np.array_equal(a.posterior, b.posterior) for a, b in zip(none, base, strict=True))
    assert np.array_equal(calibration_groups(g, cold, 3, 3), g)
    few = np.zeros_like(cold)
    few[:50] = True  # 50 cold rows: too few for their own calibration
    cals = fit_item_group_calibrations(p, g, few, p_noise, g_noise, cold_noise, overall, 3, "mix")
    assert all(np.array_equal(a.posterior, b.posterior) for a, b in zip(cals[3:], base, strict=True))


def test_the_modes_shares_and_warm_leaves_cold_items() -> None:
    p, g, cold, _, p_noise, g_noise, cold_noise = _log(2)
    overall = fit_calibration(p, p_noise)
    args = (p, g, cold, p_noise, g_noise, cold_noise, overall, 3)
    modes = ("mix", "data", "min", "warm")
    share = {m: [c.prior for c in fit_item_group_calibrations(*args, m)] for m in modes}
    assert share["min"] == [min(a, b) for a, b in zip(share["mix"], share["data"], strict=True)]
    assert share["data"][2] > share["mix"][2] and share["data"][5] < share["mix"][5]  # each takes one side
    base = fit_group_calibrations(p, g, p_noise, g_noise, overall, 3)
    warm = fit_item_group_calibrations(*args, "warm")
    assert share["warm"][:3] == share["min"][:3]
    assert all(np.array_equal(a.posterior, b.posterior) for a, b in zip(warm[3:], base, strict=True))


def test_an_unknown_mode_is_a_usage_error() -> None:
    p, g, cold, _, p_noise, g_noise, cold_noise = _log(3)
    with pytest.raises(UsageError, match="item_calibration 'tail'"):
        fit_item_group_calibrations(p, g, cold, p_noise, g_noise, cold_noise, fit_calibration(p, p_noise), 3, "tail")


def _kinds_log(seed: int, noise_cold: float) -> tuple[np.ndarray, ...]:
    """30% cold rows, 10% noise of which `noise_cold` falls on cold items; held-out corruptions of two kinds,
    uniform (60% on cold items) and popularity-sampled (10%), half each."""
    rng = np.random.default_rng(seed)
    n, m = 20000, 4000
    noise = rng.random(n) < 0.1
    cold = np.where(noise, rng.random(n) < noise_cold, rng.random(n) < (0.3 - 0.1 * noise_cold) / 0.9)
    p = np.where(noise, rng.beta(5, 2, n), rng.beta(2, 5, n))
    kind = rng.integers(1, 3, m)
    cold_noise = rng.random(m) < np.where(kind == 1, 0.6, 0.1)
    return p, np.full(n, 2), cold, noise, rng.beta(5, 2, m), np.full(m, 2), cold_noise, kind


@pytest.mark.parametrize(("noise_cold", "uniform_weight"), [(0.6, (0.7, 1.0)), (0.1, (0.0, 0.3))])
def test_noise_kind_weights_read_the_kind_from_the_cold_warm_split(noise_cold: float, uniform_weight: tuple) -> None:
    p, g, cold, noise, p_noise, g_noise, cold_noise, kind = _kinds_log(4, noise_cold)
    w = noise_kind_weights(p, cold, p_noise, cold_noise, kind)
    assert set(w) == {1, 2} and abs(sum(w.values()) - 1.0) < 1e-9
    assert uniform_weight[0] <= w[1] <= uniform_weight[1], w
    overall = fit_calibration(p, p_noise)
    args = (p, g, cold, p_noise, g_noise, cold_noise, overall, 3)
    kinds = item_group_report(fit_item_group_calibrations(*args, "odds", kind), 3)
    mix = item_group_report(fit_item_group_calibrations(*args, "mix", kind), 3)
    truth = {"warm": noise[~cold].mean(), "cold": noise[cold].mean()}
    for group in ("warm", "cold"):  # within 35% of the true share, where the fixed corruption mix is 2x off
        assert abs(kinds[group] - truth[group]) < 0.35 * truth[group], (group, kinds, truth)
    if noise_cold < 0.3:
        assert mix["cold"] > 1.5 * truth["cold"]  # the mix alone over-flags cold items on head-heavy noise


def test_noise_kind_weights_with_one_kind_or_none() -> None:
    p, _, cold, _, p_noise, _, cold_noise, _ = _kinds_log(5, 0.6)
    assert noise_kind_weights(p, cold, p_noise, cold_noise, np.full(p_noise.size, 2)) == {2: 1.0}
    overall = fit_calibration(p, p_noise)
    g, g_noise = np.full(p.size, 2), np.full(p_noise.size, 2)
    without = fit_item_group_calibrations(p, g, cold, p_noise, g_noise, cold_noise, overall, 3, "odds")
    mix = fit_item_group_calibrations(p, g, cold, p_noise, g_noise, cold_noise, overall, 3, "mix")
    assert [c.prior for c in without] == [c.prior for c in mix]  # no kinds given: the corruption mix as drawn


@pytest.mark.parametrize("noise_cold", [0.6, 0.1])
def test_odds_keeps_the_pooled_shapes_and_moves_each_group_to_its_share(noise_cold: float) -> None:
    p, g, cold, noise, p_noise, g_noise, cold_noise, kind = _kinds_log(6, noise_cold)
    overall = fit_calibration(p, p_noise)
    args = (p, g, cold, p_noise, g_noise, cold_noise, overall, 3)
    base = fit_item_group_calibrations(*args, "none")
    cals = fit_item_group_calibrations(*args, "odds", kind)
    post = apply_group_calibrations(p, calibration_groups(g, cold, len(cals), 3), cals)
    pooled = apply_group_calibrations(p, g, base)
    for k in (False, True):
        m = cold == k
        assert abs(post[m].mean() - noise[m].mean()) < 0.25 * noise[m].mean(), (k, post[m].mean(), noise[m].mean())
        order = np.argsort(p[m], kind="stable")
        assert np.all(np.diff(post[m][order]) >= 0) and np.all(np.diff(pooled[m][order]) >= 0)
    assert np.array_equal(shift_prior(base[2], base[2].prior).posterior, base[2].posterior)


def test_odds_down_only_lowers_a_groups_share() -> None:
    p, g, cold, noise, p_noise, g_noise, cold_noise, kind = _kinds_log(7, 0.6)
    overall = fit_calibration(p, p_noise)
    args = (p, g, cold, p_noise, g_noise, cold_noise, overall, 3)
    base = fit_item_group_calibrations(*args, "none")
    odds = item_group_report(fit_item_group_calibrations(*args, "odds", kind), 3)
    down = fit_item_group_calibrations(*args, "odds_down", kind)
    assert odds["cold"] > overall.prior > odds["warm"]  # the cold items hold most of the noise here
    assert item_group_report(down, 3) == {"warm": odds["warm"], "cold": round(overall.prior, 6)}
    assert all(np.array_equal(a.posterior, b.posterior) for a, b in zip(down[3:], base, strict=True))
