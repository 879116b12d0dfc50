"""`seqclean evaluate`: prove on the user's own data that cleaning makes their recommender better.

    from seqclean.evaluate import EvaluateConfig, evaluate
    result = evaluate(EvaluateConfig(interactions=..., items=..., workdir=..., out=...))

plant.py plants labelled noise, protocol.py holds the split/arms/budgets, downstream.py the SASRec trainer
and full-ranking metrics, report.py writes evaluation.json/md; runner.py ties them together.
"""

from __future__ import annotations

from seqclean.evaluate.downstream import DownstreamConfig
from seqclean.evaluate.runner import EvaluateConfig, EvaluateResult, evaluate

__all__ = ["DownstreamConfig", "EvaluateConfig", "EvaluateResult", "evaluate"]
