"""`seqclean run`: embed, score and filter in one call, as the nightly job runs them."""

from __future__ import annotations

from dataclasses import dataclass

from seqclean.embed import EmbedConfig, EmbedResult, embed
from seqclean.filter import FilterConfig, FilterResult, filter_log
from seqclean.progress import ProgressFn, no_progress
from seqclean.score import ScoreConfig, ScoreResult, score


@dataclass
class RunResult:
    embed: EmbedResult
    score: ScoreResult
    filter: FilterResult


def run(
    embed_cfg: EmbedConfig, score_cfg: ScoreConfig, filter_cfg: FilterConfig, progress: ProgressFn = no_progress
) -> RunResult:
    """All three stages on one workdir."""
    e = embed(embed_cfg, progress)
    s = score(score_cfg, progress)
    f = filter_log(filter_cfg)
    return RunResult(embed=e, score=s, filter=f)
