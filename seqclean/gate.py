"""The self-check gate: refuse to filter when the scorer's own checks say its scores mean nothing.

Why: on too little or too odd data every part of the method can fail silently (a backbone that ranks
no better than chance, a detector worse than a coin on its own held-out corruption, an alignment
that retrieves nothing) and the scores still look like probabilities. `score` compares three
self-check values with floors and writes the verdict into `summary.json` (`reliable`,
`unreliable_reasons`, `self_check`); `filter` then refuses (exit 7) unless `--force`.

Floors (defaults, configurable on `score`/`run`):
- detector held-out corruption ROC-AUC >= 0.6 (`--min-detector-auc`; 0.5 is chance);
- backbone validation HR@10 >= 2 x chance, chance = 10 / catalogue size (`--min-backbone-lift`);
- alignment held-out in-batch top-1 retrieval, both heads, >= 0.02 (`--min-alignment-top1`; chance
  is 1/256 at the default batch of 256, so 0.02 is about 5 x chance).
Only checks for the parts the scorer uses apply: `baseline-semantic` uses none of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqclean.config import DEFAULTS
from seqclean.errors import UnreliableResultError, UsageError


@dataclass(frozen=True)
class Floors:
    detector_auc: float = DEFAULTS.score.min_detector_auc
    backbone_lift: float = DEFAULTS.score.min_backbone_lift
    alignment_top1: float = DEFAULTS.score.min_alignment_top1

    def validate(self) -> None:
        if not 0.0 <= self.detector_auc <= 1.0:
            raise UsageError(f"--min-detector-auc {self.detector_auc}: must be between 0 and 1 (0 turns it off)")
        if self.backbone_lift < 0.0:
            raise UsageError(f"--min-backbone-lift {self.backbone_lift}: must be 0 or more (0 turns it off)")
        if not 0.0 <= self.alignment_top1 <= 1.0:
            raise UsageError(f"--min-alignment-top1 {self.alignment_top1}: must be between 0 and 1 (0 turns it off)")


def _bad(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def self_check(
    scorer: str, fit_report: dict[str, Any], backbone: dict[str, Any] | None, n_items: int, floors: Floors
) -> dict[str, Any]:
    """The verdict written into summary.json: `reliable`, `unreliable_reasons` and the values vs floors."""
    checks: list[dict[str, Any]] = []
    reasons: list[str] = []

    def check(name: str, value: Any, floor: float, what: str) -> None:
        ok = not _bad(value) and float(value) >= floor
        checks.append({"check": name, "value": None if _bad(value) else value, "floor": floor, "passed": ok})
        if not ok:
            if _bad(value):
                reasons.append(f"{what} is not measurable (too little data)")
            else:
                reasons.append(f"{what} is {float(value):.4g}, below the floor {floor:g}")

    if scorer != "baseline-semantic":
        if "heldout_corruption_auc" in fit_report:
            check(
                "detector_heldout_auc",
                fit_report["heldout_corruption_auc"],
                floors.detector_auc,
                "the detector's held-out corruption AUC",
            )
        align = fit_report.get("alignment") or {}
        for head in ("top1_short", "top1_long"):
            if head in align:
                check(
                    f"alignment_{head}",
                    align[head],
                    floors.alignment_top1,
                    f"the alignment's retrieval accuracy ({head})",
                )
        valid = (backbone or {}).get("valid") or {}
        if "HR@10" in valid and n_items > 0:
            chance = min(1.0, 10.0 / n_items)
            lift = float(valid["HR@10"]) / chance
            checks.append(
                {
                    "check": "backbone_valid_hr10_lift",
                    "value": round(lift, 4),
                    "hr10": valid["HR@10"],
                    "chance": round(chance, 6),
                    "floor": floors.backbone_lift,
                    "passed": lift >= floors.backbone_lift,
                }
            )
            if lift < floors.backbone_lift:
                reasons.append(
                    f"the backbone's validation HR@10 is {float(valid['HR@10']):.4g}, {lift:.3g} x chance, below "
                    f"the floor {floors.backbone_lift:g} x"
                )
    return {
        "reliable": not reasons,
        "unreliable_reasons": reasons,
        "self_check": {
            "floors": {
                "detector_auc": floors.detector_auc,
                "backbone_lift": floors.backbone_lift,
                "alignment_top1": floors.alignment_top1,
            },
            "checks": checks,
        },
    }


def require_reliable(summary: dict[str, Any], summary_path: Path, force: bool) -> bool:
    """Raise exit 7 when `score` judged the result unreliable and `--force` is not given; else the verdict."""
    reliable = bool(summary.get("reliable", True))
    if reliable or force:
        return reliable
    why = "; ".join(summary.get("unreliable_reasons") or ["see self_check"])
    raise UnreliableResultError(
        f"{summary_path}: scores are unreliable ({why}); nothing was filtered: give more data, use "
        "--scorer baseline-semantic, or pass --force to filter anyway"
    )
