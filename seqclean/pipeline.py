"""`seqclean run`: embed, score and filter in one call, as the nightly job runs them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from seqclean.embed import EmbedConfig, EmbedResult, embed
from seqclean.filter import FilterConfig, FilterResult, filter_log
from seqclean.html_report import REPORT_FILE, ReportConfig, write_report
from seqclean.progress import ProgressFn, no_progress
from seqclean.score import ScoreConfig, ScoreResult, score


@dataclass
class RunResult:
    embed: EmbedResult
    score: ScoreResult
    filter: FilterResult
    report: Path


def run(
    embed_cfg: EmbedConfig, score_cfg: ScoreConfig, filter_cfg: FilterConfig, progress: ProgressFn = no_progress
) -> RunResult:
    """All three stages on one workdir, then the HTML report (OUT/report.html)."""
    e = embed(embed_cfg, progress)
    s = score(score_cfg, progress)
    f = filter_log(filter_cfg)
    out = filter_cfg.out
    page = write_report(ReportConfig(workdir=filter_cfg.workdir, out=out / REPORT_FILE, filter_out=out))
    return RunResult(embed=e, score=s, filter=f, report=page)
