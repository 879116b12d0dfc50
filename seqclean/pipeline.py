"""`seqclean run`: embed, score and filter in one call, as the nightly job runs them, then the HTML report."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqclean.embed import EmbedConfig, EmbedResult, embed
from seqclean.errors import UnreliableResultError
from seqclean.filter import FilterConfig, FilterResult, filter_log
from seqclean.html_report import REPORT_FILE, ReportConfig, write_report
from seqclean.progress import ProgressFn, no_progress
from seqclean.runtime import release_memory
from seqclean.score import ScoreConfig, ScoreResult, score
from seqclean.stages import locked

EventFn = Callable[[str, dict[str, Any]], None]
"""`on_event(event, fields)`: `stage_start` / `stage_end` (with counts) for each stage; the CLI displays them."""


def no_events(event: str, fields: dict[str, Any]) -> None:
    """The default: report nothing."""


@dataclass
class RunResult:
    embed: EmbedResult
    score: ScoreResult
    filter: FilterResult
    report: Path
    stages: dict[str, Any] = field(default_factory=dict)  # per stage: seconds and what was reused or recomputed
    reused: list[str] = field(default_factory=list)  # stages taken as they were: embed, backbone, score, filter


def run(
    embed_cfg: EmbedConfig,
    score_cfg: ScoreConfig,
    filter_cfg: FilterConfig,
    progress: ProgressFn = no_progress,
    on_event: EventFn = no_events,
) -> RunResult:
    """All three stages on one workdir, then OUT/report.html; `RunResult.stages` says what each stage cost and
    what it reused."""
    stages: dict[str, Any] = {}

    def timed(name: str, fn: Callable[[], Any], info: Callable[[Any], dict[str, Any]]) -> Any:
        on_event("stage_start", {"stage": name})
        t0 = time.perf_counter()
        result = fn()
        release_memory()
        stages[name] = {"seconds": round(time.perf_counter() - t0, 3), **info(result)}
        on_event("stage_end", {"stage": name, **{k: v for k, v in stages[name].items() if k != "seconds"}})
        return result

    with locked(embed_cfg.workdir):
        return _run(embed_cfg, score_cfg, filter_cfg, progress, on_event, timed, stages)


def _run(
    embed_cfg: EmbedConfig,
    score_cfg: ScoreConfig,
    filter_cfg: FilterConfig,
    progress: ProgressFn,
    on_event: EventFn,
    timed: Callable[..., Any],
    stages: dict[str, Any],
) -> RunResult:
    e = timed("embed", lambda: embed(embed_cfg, progress), embed_info)
    for w in e.warnings:  # as soon as embed is done, before a later stage may refuse
        on_event("warning", {"message": w})
    s = timed(
        "score",
        lambda: score(score_cfg, progress),
        lambda r: {"interactions": r.n_interactions, "flagged": r.n_flagged, "reused": r.reused},
    )
    out = filter_cfg.out
    try:
        f = timed("filter", lambda: filter_log(filter_cfg), lambda r: {"removed": r.n_removed, "reused": r.reused})
    except UnreliableResultError:
        # the gate refused (exit 7): the report is what tells the team why, so it is still written
        write_report(ReportConfig(workdir=filter_cfg.workdir, out=out / REPORT_FILE))
        raise
    page = timed(
        "report",
        lambda: write_report(ReportConfig(workdir=filter_cfg.workdir, out=out / REPORT_FILE, filter_out=out)),
        lambda p: {"path": str(p)},
    )
    reused = [*e.reused, *(["score"] if s.reused else []), *(["filter"] if f.reused else [])]
    return RunResult(embed=e, score=s, filter=f, report=page, stages=stages, reused=reused)


def embed_info(r: EmbedResult) -> dict[str, Any]:
    """What `embed` reused (cached text vectors, the previous backbone) and what it recomputed."""
    info: dict[str, Any] = {
        "interactions": r.n_interactions,
        "users": r.n_users,
        "items": r.n_items,
        "text_vectors": {"encoded": r.n_encoded, "reused": r.n_cached},
    }
    if r.backbone_update:
        info["backbone"] = r.backbone_update
    return info
