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
