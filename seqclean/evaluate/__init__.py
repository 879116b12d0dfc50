"""`seqclean evaluate`: prove on the user's own data that cleaning makes their recommender better.

    from seqclean.evaluate import EvaluateConfig, evaluate
    result = evaluate(EvaluateConfig(interactions=..., items=..., workdir=..., out=...))

config.py holds the options, plant.py plants labelled noise, protocol.py the split/arms/budgets, downstream.py
the SASRec trainer and full-ranking metrics, stages.py embed/score/filter/export around the arms, results.py
the content of evaluation.json and report.py its markdown; runner.py ties them together.
"""

from __future__ import annotations

from seqclean.evaluate.config import EvaluateConfig, EvaluateResult
from seqclean.evaluate.downstream import DownstreamConfig
from seqclean.evaluate.runner import evaluate

__all__ = ["DownstreamConfig", "EvaluateConfig", "EvaluateResult", "evaluate"]
