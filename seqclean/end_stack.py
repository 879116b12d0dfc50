"""The end of a sequence: the detector's output stacked with the backbone's causal next-item evidence.

Why: at a user's real last row the detector scored 0.02-0.03 ROC-AUC *below* one of its own inputs,
`col_next_logit` (docs/quality.md, "The dense end gap"). In training, half the sequences are cut copies whose
end is a row the backbone was trained to predict, so the detector learns the end from memorised levels; a
real last row never was a backbone target. Held-out users' corruptions do have real ends, so a small
logistic fit there (per end group: logit of the detector's output, the cold-gated `col_next_logit`) reads the
end as the scored log has it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from seqclean.calibration import logistic_fit, logit
from seqclean.interests import Segments, end_group


@dataclass
class EndStack:
    """Per end group (0 = last row, 1 = second last): logistic weights over `design`'s columns."""

    betas: dict[int, np.ndarray] = field(default_factory=dict)
    mu: float = 0.0
    sd: float = 1.0

    def __call__(
        self, p: np.ndarray, col_logit: np.ndarray, w: np.ndarray, has_prev: np.ndarray, group: np.ndarray
    ) -> np.ndarray:
        """The stacked output on each end group that kept one; other rows unchanged."""
        out = p.astype(np.float64, copy=True)
        for g, beta in self.betas.items():
            m = group == g
            if m.any():
                x = design(p[m], col_logit[m], w[m], has_prev[m], self.mu, self.sd)
                out[m] = 1.0 / (1.0 + np.exp(-(x @ beta)))
        return out

    def apply(self, p: np.ndarray, w: np.ndarray, segs: Segments, feats: dict[str, np.ndarray]) -> np.ndarray:
        """The stack on one chunk of whole users (`stack_inputs`' columns)."""
        return self(*stack_inputs(p, w, segs, feats)) if self.betas else p

    def report(self) -> dict[str, list[float]]:
        return {str(g): [round(float(b), 4) for b in beta] for g, beta in sorted(self.betas.items())}


def design(
    p: np.ndarray, col_logit: np.ndarray, w: np.ndarray, has_prev: np.ndarray, mu: float, sd: float
) -> np.ndarray:
    """[1, logit p, standardised col_next_logit, has-evidence]; the collaborative columns are gated by the
    cold weight w and are 0 where there is no previous item, so a cold item is judged as the detector judged it."""
    gate = w.astype(np.float64) * has_prev
    z = gate * (col_logit.astype(np.float64) - mu) / sd
    return np.stack([np.ones(p.size), logit(p), z, gate], axis=1)


def fit_end_stack(fit: tuple[np.ndarray, ...], groups: tuple[int, ...] = (0, 1), min_pos: int = 20) -> EndStack:
    """`fit` = (p, col_logit, w, has_prev, group, label) of held-out corruptions; a group with fewer than `min_pos`
    corruptions (or clean rows) keeps the detector's output.

    Signs are constrained as the evidence reads: a higher detector output or a lower next-item logit never
    lowers the stacked score (a coefficient of the wrong sign, seen where collaborative evidence is weak, is
    refitted without that column)."""
    p, c, w, hp, g, y = fit
    sel = hp & (w > 0)
    mu = float(c[sel].mean()) if sel.any() else 0.0
    sd = float(max(c[sel].std(), 1e-6)) if sel.any() else 1.0
    stack = EndStack(mu=mu, sd=sd)
    for k in groups:
        m = g == k
        if int(y[m].sum()) < min_pos or int((~y[m]).sum()) < min_pos:
            continue
        x, yk = design(p[m], c[m], w[m], hp[m], mu, sd), y[m].astype(np.float64)
        beta = logistic_fit(x, yk)
        for col, sign in ((2, -1.0), (1, 1.0)):
            if sign * beta[col] < 0:
                x[:, col] = 0.0
                beta = logistic_fit(x, yk)
        stack.betas[k] = beta
    return stack


def stack_inputs(
    p: np.ndarray, w: np.ndarray, segs: Segments, feats: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(p, col_next_logit, w, has a previous row, end group) of one chunk of whole users."""
    return p, feats["col_next_logit"], w, segs.position > 0, end_group(segs)
