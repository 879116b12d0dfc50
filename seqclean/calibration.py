"""Calibration: from the detector's P(corrupted) at its training mix to P(noise) in the real log.

The detector never sees real labels, so the real log's noise share and the posterior are read from how its
raw outputs on real rows compare with its outputs on held-out corruptions (mixture-proportion estimation),
per position-from-end group so that missing evidence at a sequence's end does not read as noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqclean.errors import UsageError


@dataclass
class Calibration:
    """Maps the detector's raw P(corrupted) to P(noise) in the real log.

    The raw output distribution on real rows is modelled as a mixture: a share `prior` of noise that
    looks like the corruptions, and clean rows. `prior` is the mixture-proportion estimate
    min_t P_real(p > t) / P_corrupted(p > t) over thresholds t in the upper tail (Scott, 2015), and the
    posterior in each raw-score bin is prior * f_corrupted / f_real, made non-decreasing and linearly
    interpolated between bin centres (ties broken by the raw score, so the ranking is kept).
    """

    centres: np.ndarray
    posterior: np.ndarray
    prior: float
    kind: str = "binned"  # how the posterior was read: binned, ratio (logistic fit), rank (the rest's at a rank)

    def __call__(self, p: np.ndarray) -> np.ndarray:
        out = np.interp(p, self.centres, self.posterior) + 1e-6 * p
        return np.clip(out, 0.0, 1.0)


def fit_calibration(
    p_real: np.ndarray, p_corrupted: np.ndarray, bins: int = 40, min_tail: float = 0.1, prior: float | None = None
) -> Calibration:
    """Estimate the real log's noise share and the per-bin posterior from held-out raw outputs (`prior`: use this
    noise share instead of estimating it, e.g. one estimated on more rows)."""
    edges = np.unique(np.quantile(p_real, np.linspace(0.0, 1.0, bins + 1)))
    edges[0], edges[-1] = 0.0, 1.0 + 1e-9
    f_real = np.histogram(p_real, bins=edges)[0] / max(p_real.size, 1)
    f_corr = np.histogram(p_corrupted, bins=edges)[0] / max(p_corrupted.size, 1)
    tail_real = np.cumsum(f_real[::-1])[::-1]
    tail_corr = np.cumsum(f_corr[::-1])[::-1]
    ok = tail_corr >= min_tail
    ratios = tail_real[ok] / tail_corr[ok]
    if prior is None:
        prior = float(np.clip(ratios.min() if ratios.size else 0.0, 0.0, 0.5))
    with np.errstate(divide="ignore", invalid="ignore"):
        post = np.where(f_real > 0, prior * f_corr / f_real, 1.0)
    post = np.maximum.accumulate(np.clip(post, 0.0, 1.0))
    centres = 0.5 * (edges[:-1] + edges[1:])
    return Calibration(centres=centres, posterior=post, prior=prior)


def fit_group_calibrations(
    p_real: np.ndarray, g_real: np.ndarray, p_noise: np.ndarray, g_noise: np.ndarray, overall: Calibration, groups: int
) -> list[Calibration]:
    """One calibration per position-from-end group (last, second last, the rest).

    The right-hand context is missing at the end of a sequence, so raw outputs there are distributed
    differently for clean rows too; each group's posterior is read from its own real vs corrupted
    distributions, so missing evidence does not read as noise. The noise share is the overall estimate:
    estimating it per group counts the end's weaker separation of clean rows as extra noise (measured: the
    last two were flagged 4x the middle's rate). The end groups hold one row per user, too few for bins (five
    bins cap the posterior at 5x the prior: nothing was ever flagged there), so their density ratio is a
    logistic fit in logit(p) (`fit_ratio_calibration`), capped by the rest's posterior at the same within-group
    rank (`cap_by_rank`): an end row never scores above a middle row that ranks as high among its own group.
    Groups with too few rows use `overall`.
    """
    rest = g_real == groups - 1
    pr_rest, pc_rest = p_real[rest], p_noise[g_noise == groups - 1]
    if pr_rest.size < 100 or pc_rest.size < 20:
        return [overall] * groups
    bins = int(np.clip(min(pr_rest.size, 4 * pc_rest.size) // 50, 5, 40))
    rest_cal = fit_calibration(pr_rest, pc_rest, bins=bins, prior=overall.prior)
    out: list[Calibration] = []
    for g in range(groups - 1):
        pr, pc = p_real[g_real == g], p_noise[g_noise == g]
        if pr.size < 50:
            out.append(overall)
        else:  # with too few corruptions to fit a ratio: the rest's posterior at the same rank alone
            ratio = fit_ratio_calibration(pr, pc, prior=overall.prior) if pc.size >= 10 else None
            out.append(cap_by_rank(ratio, pr, pr_rest, rest_cal))
    return out + [rest_cal]


def cap_by_rank(cal: Calibration | None, p_group: np.ndarray, p_rest: np.ndarray, rest_cal: Calibration) -> Calibration:
    """`cal`, lowered wherever the rest's posterior at the same quantile of its own real outputs is lower (with
    no `cal`: that posterior alone).

    Under the model's assumption (the same noise share at every position) this bounds an end group's flag rate
    by the middle's; a weaker separation at the end may still lower it (measured on ML-100K: the ratio fit
    alone flagged the last two at 1.6x the middle).
    """
    grid = np.quantile(p_group.astype(np.float64), np.linspace(0.0, 1.0, 65))
    centres = np.unique(np.concatenate([grid, [0.0, 1.0], [] if cal is None else cal.centres]))
    level = np.searchsorted(np.sort(p_group), centres, side="right") / max(p_group.size, 1)
    post = rest_cal(np.quantile(p_rest, np.clip(level, 0.0, 1.0)))
    if cal is not None:
        post = np.minimum(cal(centres), post)
    kind = "rank" if cal is None else f"{cal.kind}+rank"
    return Calibration(centres=centres, posterior=np.maximum.accumulate(post), prior=rest_cal.prior, kind=kind)


def logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p.astype(np.float64), 1e-6, 1 - 1e-6)
    return np.log(q / (1 - q))


def logistic_fit(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None, ridge: float = 1e-3) -> np.ndarray:
    """Logistic regression weights by Newton steps with a light ridge (x carries its own intercept column;
    `weights` default to the mean, so the ridge is on the same scale whatever the row count)."""
    w = np.full(y.size, 1.0 / max(y.size, 1)) if weights is None else weights
    beta = np.zeros(x.shape[1])
    eye = ridge * np.eye(x.shape[1])
    for _ in range(50):
        q = 1.0 / (1.0 + np.exp(-(x @ beta)))
        step = np.linalg.solve((x * (w * q * (1 - q))[:, None]).T @ x + eye, x.T @ (w * (q - y)) + ridge * beta)
        beta -= step
        if float(np.abs(step).max()) < 1e-9:
            break
    return beta


def fit_ratio_calibration(p_real: np.ndarray, p_corrupted: np.ndarray, prior: float, grid: int = 64) -> Calibration:
    """Posterior prior * f_corrupted / f_real with the log density ratio linear in logit(p).

    Linear is what a detector calibrated on its corruptions implies (its logit is the log ratio plus a
    constant); fitting slope and intercept by class-balanced logistic regression (Newton steps, a light ridge)
    lets the ends' weaker separation show as a flatter slope instead of a capped one. The posterior is
    tabulated on quantiles of the pooled outputs so that `Calibration` applies it like the binned one.
    """
    z = np.concatenate([logit(p_real), logit(p_corrupted)])
    y = np.concatenate([np.zeros(p_real.size), np.ones(p_corrupted.size)])
    w = np.where(y > 0, 0.5 / max(p_corrupted.size, 1), 0.5 / max(p_real.size, 1))
    mu, sd = float(z.mean()), float(max(z.std(), 1e-6))
    beta = logistic_fit(np.stack([np.ones_like(z), (z - mu) / sd], axis=1), y, w)
    beta[1] = max(beta[1], 0.0)  # a noisier-looking output is never less likely noise
    p_all = np.concatenate([p_real, p_corrupted]).astype(np.float64)
    centres = np.unique(np.concatenate([[0.0], np.quantile(p_all, np.linspace(0.0, 1.0, grid)), [1.0]]))
    log_ratio = beta[0] + beta[1] * (logit(centres) - mu) / sd
    post = np.clip(prior * np.exp(np.minimum(log_ratio, 50.0)), 0.0, 1.0)
    return Calibration(centres=centres, posterior=np.maximum.accumulate(post), prior=prior, kind="ratio")


def apply_group_calibrations(p: np.ndarray, group: np.ndarray, cals: list[Calibration]) -> np.ndarray:
    """Each row's posterior under its group's calibration (a single calibration serves every group)."""
    if len(cals) == 1:
        return cals[0](p)
    out = np.empty_like(p, dtype=np.float64)
    for k, cal in enumerate(cals):
        m = group == k
        out[m] = cal(p[m])
    return out


ITEM_GROUPINGS = ("none", "mix", "data", "min", "warm", "odds", "odds_down")


def _upper_tails(p: np.ndarray, thresholds: np.ndarray, total: int) -> np.ndarray:
    """Share of `total` rows that are in `p` and above each threshold."""
    s = np.sort(p)
    return (s.size - np.searchsorted(s, thresholds, side="right")) / max(total, 1)


def _simplex(k: int, n: int) -> list[np.ndarray]:
    """Every weight vector over `k` parts in steps of 1/`n`."""
    if k == 1:
        return [np.array([1.0])]
    return [np.concatenate([[a / n], rest * (n - a) / n]) for a in range(n + 1) for rest in _simplex(k - 1, n)]


def noise_kind_weights(
    p_real: np.ndarray,
    cold_real: np.ndarray,
    p_noise: np.ndarray,
    cold_noise: np.ndarray,
    kind_noise: np.ndarray,
    bins: int = 40,
    min_tail: float = 0.05,
    steps: int = 20,
) -> dict[int, float]:
    """The mix of corruption kinds that looks most like the real log's noise, read from the log itself.

    The kinds put their noise on different items (uniform replacement on the long tail, popularity-sampled on
    the head), so the real noise's split between cold and warm items says which kind it is more like. For each
    mix `w` the mixture-proportion estimate is taken over both item groups at once, min over thresholds t and
    groups g of P_real(p > t, g) / Q_w(p > t, g); the mix that explains the largest share of the real upper tail
    is the one whose cold/warm split the real noise has (a mix too cold or too warm runs out of real rows in one
    group first). Ties go to the mix nearer equal weights. Measured (docs/quality.md): right on popularity-sampled
    noise, leaning to popularity on uniform noise wherever the backbone has fitted the log's own cold noise.
    """
    kinds = np.unique(kind_noise)
    if kinds.size < 2:
        return {int(k): 1.0 for k in kinds}
    thresholds = np.unique(np.quantile(p_real, np.linspace(0.0, 1.0, bins + 1)))[1:-1]
    groups = (False, True)
    real = np.stack([_upper_tails(p_real[cold_real == g], thresholds, p_real.size) for g in groups])
    tails = np.empty((kinds.size, 2, thresholds.size))  # kind, item group (warm, cold), threshold
    for a, k in enumerate(kinds):
        of_kind = kind_noise == k
        for g in groups:
            tails[a, int(g)] = _upper_tails(p_noise[of_kind & (cold_noise == g)], thresholds, int(of_kind.sum()))
    best, best_w = -1.0, np.full(kinds.size, 1.0 / kinds.size)
    for w in sorted(_simplex(kinds.size, steps), key=lambda v: float(np.abs(v - 1.0 / kinds.size).sum())):
        q = np.tensordot(w, tails, axes=1)
        ok = q >= min_tail
        share = float((real[ok] / q[ok]).min()) if ok.any() else -1.0
        if share > best + 1e-9:
            best, best_w = share, w
    return {int(k): float(v) for k, v in zip(kinds, best_w, strict=True)}


def fit_item_group_calibrations(
    p_real: np.ndarray,
    g_real: np.ndarray,
    cold_real: np.ndarray,
    p_noise: np.ndarray,
    g_noise: np.ndarray,
    cold_noise: np.ndarray,
    overall: Calibration,
    groups: int,
    mode: str,
    kind_noise: np.ndarray | None = None,
) -> list[Calibration]:
    """`fit_group_calibrations` within each item group (warm, then cold): 2 x `groups` calibrations, or `groups`
    with `mode` "none".

    One noise share for every item overstated the posterior of warm rows 2-3x on a sparse shop log (uniform
    noise lands on the long tail: 23% of cold rows were noise, 4.9% of warm ones; docs/quality.md). A group's
    share is not observed; `mode` guesses it: `mix`, the overall share times the group's share of the corruptions
    over its share of the real rows; `data`, the mean of the one-calibration posterior over the group's rows;
    `min`, the lower of the two; `warm`, that for warm items, cold items as with one calibration; `odds`, the
    position calibrations themselves with each item group's posterior odds scaled to its share under `mix` with
    the corruption kinds reweighted to the mix that the real log's upper tail reads (`noise_kind_weights` on
    `kind_noise`, each held-out corruption's kind; `shift_prior`); `odds_down`, the same but never above the pooled
    share (within one fit, a group's posterior only ever falls). Which is right depends on the noise kind
    (measured in docs/quality.md). An item group with too few rows keeps the position calibrations.
    """
    if mode not in ITEM_GROUPINGS:
        raise UsageError(f"item_calibration {mode!r}: choose one of {', '.join(ITEM_GROUPINGS)}")
    base = fit_group_calibrations(p_real, g_real, p_noise, g_noise, overall, groups)
    if mode == "none":
        return base
    kinds = kind_noise if mode in ("odds", "odds_down") else None
    weights = noise_kind_weights(p_real, cold_real, p_noise, cold_noise, kinds) if kinds is not None else {}
    out: list[Calibration] = []
    for k in (False, True):
        r, c = cold_real == k, cold_noise == k
        if r.sum() < 100 or c.sum() < 20 or (mode == "warm" and k):
            out += base
            continue
        on_group = sum(w * float(c[kinds == kd].mean()) for kd, w in weights.items()) if kinds is not None else c.mean()
        mix = float(np.clip(overall.prior * on_group / r.mean(), 0.0, 0.5))
        if mode in ("odds", "odds_down"):
            out += [shift_prior(cal, min(mix, overall.prior) if mode == "odds_down" else mix) for cal in base]
            continue
        data = float(np.clip(overall(p_real[r]).mean(), 0.0, 0.5))
        prior = {"mix": mix, "data": data}.get(mode, min(mix, data))
        sub = fit_calibration(p_real[r], p_noise[c], prior=prior)
        out += fit_group_calibrations(p_real[r], g_real[r], p_noise[c], g_noise[c], sub, groups)
    return out


def shift_prior(cal: Calibration, prior: float) -> Calibration:
    """`cal` with its posterior odds scaled by the odds of `prior` over those of its own noise share (Bayes' rule
    for a group whose noise share differs while its outputs look like the pool's)."""
    if prior == cal.prior:
        return cal
    odds = (prior / max(1.0 - prior, 1e-9)) / (cal.prior / max(1.0 - cal.prior, 1e-9)) if cal.prior > 0 else 1.0
    post = np.clip(cal.posterior, 0.0, 1.0 - 1e-9)
    shifted = np.where(cal.posterior >= 1.0, 1.0, post * odds / (1.0 - post + post * odds))
    return Calibration(centres=cal.centres, posterior=shifted, prior=prior, kind=f"{cal.kind}+odds")


def calibration_groups(end: np.ndarray, cold: np.ndarray, n_cals: int, groups: int) -> np.ndarray:
    """Each row's calibration: its position-from-end group, offset by `groups` for cold items when the
    calibrations are per item group."""
    return end + groups * cold.astype(np.int64) if n_cals > groups else end


def item_group_report(cals: list[Calibration], groups: int) -> dict[str, float]:
    """The noise share each item group's calibration used ({} with one calibration for every item)."""
    if len(cals) <= groups:
        return {}
    return {"warm": round(cals[groups - 1].prior, 6), "cold": round(cals[2 * groups - 1].prior, 6)}
