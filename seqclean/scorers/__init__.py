"""The scorers and their registry: `--scorer NAME` picks `SCORERS[NAME]`.

One module per scorer (`iadsr.py`, `baseline.py`), all behind `seqclean.scorers.base.Scorer`. A new
scorer is a new module plus one line here; `seqclean.score` needs no change. Factories import their
module lazily, so choosing the baseline never imports the detector's dependencies.
"""

from __future__ import annotations

from collections.abc import Callable

from seqclean.scorers.base import Scorer, ScorerOptions


def _iadsr(opts: ScorerOptions) -> Scorer:
    from seqclean.scorers.iadsr import IadsrOptions, IadsrScorer

    o = IadsrOptions(
        fit_users=opts.fit_users, cold_k=opts.cold_k, seed=opts.seed, device=opts.device, threads=opts.threads
    )
    return IadsrScorer(options=o, backbone=opts.backbone)


def _baseline(opts: ScorerOptions) -> Scorer:
    from seqclean.scorers.baseline import BaselineSemanticScorer

    return BaselineSemanticScorer(opts)


SCORERS: dict[str, Callable[[ScorerOptions], Scorer]] = {
    "iadsr": _iadsr,
    "baseline-semantic": _baseline,
}
