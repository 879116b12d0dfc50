"""`seqclean run`: embed, score and filter in one call, as the nightly job runs them.

Each stage is reused when the workdir (or OUT) already holds its complete outputs for the same inputs
and options (`seqclean.stages`), so a rerun after a crash resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from seqclean.embed import EmbedConfig, EmbedResult, embed
from seqclean.filter import FilterConfig, FilterResult, filter_log
from seqclean.html_report import REPORT_FILE, ReportConfig, write_report
from seqclean.progress import ProgressFn, no_progress
from seqclean.score import ScoreConfig, ScoreResult, score
from seqclean.stages import locked


@dataclass
class RunResult:
    embed: EmbedResult
    score: ScoreResult
    filter: FilterResult
    report: Path
    reused: list[str] = field(default_factory=list)  # stages taken as they were: embed, backbone, score, filter


def run(
    embed_cfg: EmbedConfig,
    score_cfg: ScoreConfig,
    filter_cfg: FilterConfig,
    progress: ProgressFn = no_progress,
    warn: Callable[[str], None] | None = None,
) -> RunResult:
    """All three stages on one workdir, under one lock, then the HTML report (OUT/report.html); `warn`
    gets each suspicious-input warning as soon as `embed` is done (before a later stage may refuse)."""
    with locked(embed_cfg.workdir):
        e = embed(embed_cfg, progress)
        for w in e.warnings:
            if warn is not None:
                warn(w)
        s = score(score_cfg, progress)
        f = filter_log(filter_cfg)  # refuses (exit 7) when the scores failed the self-check gate
        out = filter_cfg.out
        page = write_report(ReportConfig(workdir=filter_cfg.workdir, out=out / REPORT_FILE, filter_out=out))
    reused = [*e.reused, *(["score"] if s.reused else []), *(["filter"] if f.reused else [])]
    return RunResult(embed=e, score=s, filter=f, report=page, reused=reused)
