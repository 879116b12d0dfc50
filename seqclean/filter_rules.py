"""What `seqclean filter` is asked to do: `FilterConfig`, its option parsers and checks, and the rule
(a threshold, a top cut, or both) that `--threshold` / `--max-fraction` resolve to on the scores.

`seqclean.filter` runs the rule; `seqclean.decide` applies it row by row within the guards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from seqclean.config import DEFAULTS, FilterOptions
from seqclean.decide import FALLBACKS, MODES, NO_CUT, otsu_threshold
from seqclean.errors import UsageError
from seqclean.io import ROW_INDEX
from seqclean.workdir import SCORE_SUMMARY, Workdir

FORMATS = ("parquet", "recbole")
F = DEFAULTS.filter
OTSU_BINS = 1000


@dataclass
class FilterConfig:
    """Options of `seqclean filter`; see docs/filter.md for what each means and why the defaults."""

    workdir: Path
    out: Path
    threshold: float | str | None = F.parsed_threshold()  # a float in [0, 1], "auto", or None (only --max-fraction)
    max_fraction: float | None = F.max_fraction
    mode: str = F.mode
    min_seq_len: int = F.min_seq_len
    max_edits_per_user: int | None = F.parsed_max_edits()[0]  # None: max(1, floor(max_edit_share * length))
    max_edit_share: float = F.parsed_max_edits()[1]
    max_uncertainty: float | None = F.max_uncertainty  # None: guard off
    protect_cold: bool = F.protect_cold
    keep_last: int = F.keep_last
    min_confidence: float = F.min_confidence
    fallback: str = F.fallback
    fmt: str = F.format
    dataset_name: str = F.dataset_name
    chunk_rows: int = 250_000  # scores rows decided at once, and input rows per output range (docs/scale.md)
    force: bool = F.force  # filter even when `score` judged the result unreliable (seqclean.gate)
    rerun: bool = (
        DEFAULTS.general.rerun
    )  # recompute even when OUT holds complete outputs (OUT/_SUCCESS) for these inputs and options


def parse_threshold(text: str) -> float | str | None:
    """`--threshold` value: a number in [0, 1], `auto`, or `none` (only --max-fraction applies)."""
    return FilterOptions(threshold=text).parsed_threshold()


def parse_max_edits(text: str) -> tuple[int | None, float]:
    """`--max-edits-per-user`: a count (`2`) or a share of the user's length (`20%`, at least 1)."""
    return FilterOptions(max_edits_per_user=text).parsed_max_edits()


def validate(cfg: FilterConfig) -> None:
    if isinstance(cfg.threshold, str) and cfg.threshold != "auto":
        raise UsageError(f"--threshold {cfg.threshold}: give a number between 0 and 1, 'auto' or 'none'")
    if isinstance(cfg.threshold, float | int) and not 0.0 <= cfg.threshold <= 1.0:
        raise UsageError(f"--threshold {cfg.threshold}: must be between 0 and 1 (1 removes nothing)")
    if cfg.max_fraction is not None and not 0.0 <= cfg.max_fraction <= 1.0:
        raise UsageError(f"--max-fraction {cfg.max_fraction}: must be between 0 and 1, e.g. 0.1 for the top 10%")
    if cfg.threshold is None and cfg.max_fraction is None:
        raise UsageError("--threshold none needs --max-fraction; give a threshold, 'auto', or a max fraction")
    if cfg.mode not in MODES:
        raise UsageError(f"--mode {cfg.mode}: choose remove or replace")
    if cfg.fallback not in FALLBACKS:
        raise UsageError(f"--fallback {cfg.fallback}: choose keep or drop")
    if cfg.fmt not in FORMATS:
        raise UsageError(f"--format {cfg.fmt}: choose parquet or recbole")
    if cfg.min_seq_len < 0:
        raise UsageError(f"--min-seq-len {cfg.min_seq_len}: must be 0 or more")
    if cfg.keep_last < 0:
        raise UsageError(f"--keep-last {cfg.keep_last}: must be 0 or more")
    if cfg.max_edits_per_user is not None and cfg.max_edits_per_user < 0:
        raise UsageError(f"--max-edits-per-user {cfg.max_edits_per_user}: must be 0 or more")
    if not 0.0 < cfg.max_edit_share <= 1.0:
        raise UsageError(f"--max-edits-per-user {cfg.max_edit_share:.0%}: the share must be in (0%, 100%]")
    if cfg.max_uncertainty is not None and not 0.0 <= cfg.max_uncertainty <= 1.0:
        raise UsageError(f"--max-uncertainty {cfg.max_uncertainty}: must be between 0 and 1 (1 turns it off)")
    if not 0.0 <= cfg.min_confidence <= 1.0:
        raise UsageError(f"--min-confidence {cfg.min_confidence}: must be between 0 and 1")
    if cfg.chunk_rows < 1:
        raise UsageError(f"chunk_rows {cfg.chunk_rows}: must be at least 1")
    if not cfg.dataset_name or any(c in cfg.dataset_name for c in "/\\\t\n"):
        raise UsageError(f"--dataset-name {cfg.dataset_name!r}: give a plain file name such as 'cleaned'")


def resolve_rule(
    cfg: FilterConfig, wd: Workdir, scores: pl.LazyFrame, n: int
) -> tuple[float | None, tuple[float, int] | None, str, dict[str, Any]]:
    """Turn --threshold / --max-fraction into (threshold, top cut, description, summary entry)."""
    threshold: float | None = None
    top: tuple[float, int] | None = None
    parts: list[str] = []
    info: dict[str, Any] = {}
    if cfg.threshold == "auto":
        rate = _estimated_noise_rate(wd)
        if rate is not None:
            top = _top_cut(scores, int(round(rate * n)))
            info["auto"] = {"method": "estimated_noise_rate", "estimated_noise_rate": rate}
            parts.append(f"auto: top {rate:.2%} by the scorer's estimated noise rate")
        else:
            hist = _histogram(scores)
            threshold = otsu_threshold(hist)
            info["auto"] = {"method": "otsu", "bins": OTSU_BINS}
            parts.append(f"auto: noise_score > threshold {threshold:g} (Otsu)")
    elif cfg.threshold is not None:
        threshold = float(cfg.threshold)
        parts.append(f"noise_score > threshold {threshold:g}")
    if cfg.max_fraction is not None:
        k = int(np.floor(cfg.max_fraction * n))
        cut = _top_cut(scores, k)
        top = cut if top is None else max(top, cut, key=lambda c: (c[0], -c[1]))  # the stricter cut
        parts.append(f"top {cfg.max_fraction:.2%} of all interactions ({k} rows)")
        info["max_fraction"] = cfg.max_fraction
    info["threshold"] = threshold
    info["top_cut_noise_score"] = None if top is None or top == NO_CUT else top[0]
    info["name"] = " and ".join(parts)
    return threshold, top, info["name"], info


def _estimated_noise_rate(wd: Workdir) -> float | None:
    p = wd.file(SCORE_SUMMARY)
    if not p.exists():
        return None
    try:
        rate = json.loads(p.read_text()).get("estimated_noise_rate")
    except json.JSONDecodeError:
        return None
    if rate is None or not 0.0 <= float(rate) <= 1.0:
        return None
    return float(rate)


def _top_cut(scores: pl.LazyFrame, k: int) -> tuple[float, int]:
    """(score, row_index) of the k-th row in (noise_score desc, row_index asc) order; NO_CUT for k = 0."""
    if k <= 0:
        return NO_CUT
    top = (
        scores.select("noise_score", ROW_INDEX)
        .top_k(k, by=["noise_score", pl.col(ROW_INDEX).cast(pl.Int64).neg()])
        .sort(["noise_score", ROW_INDEX], descending=[False, True])
        .head(1)
        .collect()
    )
    return float(top["noise_score"][0]), int(top[ROW_INDEX][0])


def _histogram(scores: pl.LazyFrame) -> np.ndarray:
    b = (pl.col("noise_score") * OTSU_BINS).floor().clip(0, OTSU_BINS - 1).cast(pl.Int64).alias("b")
    h = scores.select(b).group_by("b").len().collect()
    out = np.zeros(OTSU_BINS, dtype=np.int64)
    out[h["b"].to_numpy()] = h["len"].to_numpy()
    return out
