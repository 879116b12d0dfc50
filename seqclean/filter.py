"""Stage 3, `seqclean filter`: drop interactions whose noise score is above a threshold.

Writes `OUT/cleaned.parquet` (exactly the input's columns and types, input row order),
`OUT/removed.parquet` (each dropped row with its score and the reason) and `OUT/summary.json`.
The input log is re-scanned lazily and joined on `row_index`, so nothing proportional to the log is
held in memory beyond the set of dropped row numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from seqclean.errors import UsageError
from seqclean.io import ROW_INDEX, Workdir, check_unchanged, input_errors, scan_table, write_json, write_parquet
from seqclean.score import SCORES

CLEANED = "cleaned.parquet"
REMOVED = "removed.parquet"
FILTER_SUMMARY = "summary.json"


@dataclass
class FilterConfig:
    workdir: Path
    out: Path
    threshold: float = 0.5


@dataclass
class FilterResult:
    n_input: int
    n_removed: int
    summary: dict[str, Any]


def filter_log(cfg: FilterConfig) -> FilterResult:
    """Write the cleaned log and the audit of what was removed."""
    if not 0.0 <= cfg.threshold <= 1.0:
        raise UsageError(f"--threshold {cfg.threshold}: must be between 0 and 1 (1 removes nothing)")
    wd = Workdir(cfg.workdir)
    manifest = wd.read_manifest()
    scores_path = wd.require(SCORES, "score")
    src = manifest["inputs"]["interactions"]
    input_path = Path(src["path"])
    check_unchanged(src["fingerprint"], input_path, "interactions")

    drop = pl.scan_parquet(scores_path).filter(pl.col("noise_score") > cfg.threshold).select(ROW_INDEX, "noise_score")
    log = scan_table(input_path, what="interactions").with_row_index(ROW_INDEX)
    cleaned = log.join(drop, on=ROW_INDEX, how="anti", maintain_order="left").drop(ROW_INDEX)
    removed = log.join(drop, on=ROW_INDEX, how="inner", maintain_order="left").with_columns(
        pl.format("noise_score {} > threshold {}", pl.col("noise_score").round(4), pl.lit(cfg.threshold)).alias(
            "reason"
        )
    )
    with input_errors(input_path):
        write_parquet(cleaned, cfg.out / CLEANED)
        write_parquet(removed, cfg.out / REMOVED)
    n_input = int(manifest["embed"]["n_interactions"])
    n_removed = int(pl.scan_parquet(cfg.out / REMOVED).select(pl.len()).collect().item())
    summary = {
        "rule": "threshold",
        "threshold": cfg.threshold,
        "input_interactions": n_input,
        "removed": n_removed,
        "kept": n_input - n_removed,
        "removed_share": round(n_removed / n_input, 6) if n_input else None,
        "scorer": manifest.get("score", {}).get("scorer"),
    }
    write_json(summary, cfg.out / FILTER_SUMMARY)
    return FilterResult(n_input=n_input, n_removed=n_removed, summary=summary)
