"""`EvaluateConfig` (the options of `seqclean evaluate`), its validation and the `--budget` parser."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqclean.backbone.config import BackboneConfig
from seqclean.errors import UsageError
from seqclean.evaluate.downstream import DownstreamConfig
from seqclean.evaluate.plant import KINDS
from seqclean.selfclean import check_rounds

PLANTS = ("none", *KINDS)
SINGLE_SPACE = {
    "collab_only": ("collab_only_score", 1.0),
    "semantic_only": ("semantic_only_score", 1.0),
    "iadsr_formula": ("iadsr_score", -1.0),
}


@dataclass
class EvaluateConfig:
    """Options of `seqclean evaluate` (docs/evaluation.md)."""

    interactions: Path
    items: Path
    workdir: Path
    out: Path
    plant: str = "uniform"
    ratio: float = 0.1
    plant_seed: int = 0
    seeds: int = 3
    budget: str | float = "auto"
    sweep: tuple[float, ...] = (0.0, 0.02, 0.05, 0.10, 0.15)
    sweep_seeds: int | None = None  # training seeds of the sweep arms (None: 2, or --seeds when that is fewer)
    labels: Path | None = None
    export_recbole: bool = False
    user_col: str = "user_id"
    item_col: str = "item_id"
    time_col: str = "timestamp"
    text_cols: list[str] = field(default_factory=lambda: ["title"])
    text_template: str | None = None
    seed: int = 0  # embed and score seed (the detector's)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    fit_users: int = 3000
    cold_k: float = 2.0
    rounds: str = "auto"  # seqclean score --rounds
    device: str = "auto"
    downstream: DownstreamConfig = field(default_factory=DownstreamConfig)
    train_jobs: int = 1  # downstream trainings run in parallel processes
    reuse_workdir: bool = True

    def validate(self) -> None:
        if self.plant not in PLANTS:
            raise UsageError(f"--plant {self.plant}: choose one of {', '.join(PLANTS)}")
        if not 0.0 < self.ratio < 1.0 and self.plant != "none":
            raise UsageError(f"--ratio {self.ratio}: must be between 0 and 1, e.g. 0.1")
        check_rounds(self.rounds, "iadsr")  # evaluate scores with the full scorer
        if self.seeds < 1:
            raise UsageError(f"--seeds {self.seeds}: must be at least 1")
        if self.train_jobs < 1:
            raise UsageError(f"--train-jobs {self.train_jobs}: must be at least 1")
        if self.sweep_seeds is not None and not 1 <= self.sweep_seeds <= self.seeds:
            raise UsageError(f"--sweep-seeds {self.sweep_seeds}: must be between 1 and --seeds ({self.seeds})")
        if isinstance(self.budget, str) and self.budget != "auto":
            raise UsageError(f"--budget {self.budget}: give 'auto' or a share such as 0.05")
        if isinstance(self.budget, float) and not 0.0 <= self.budget < 1.0:
            raise UsageError(f"--budget {self.budget}: must be a share in [0, 1), e.g. 0.05")
        if any(not 0.0 <= s < 1.0 for s in self.sweep):
            raise UsageError(f"--sweep {','.join(map(str, self.sweep))}: shares must be in [0, 1)")
        if self.labels is not None and self.plant != "none":
            raise UsageError("--labels is for logs with known noise and --plant none; drop one of them")
        self.downstream.validate()

    @property
    def sweep_seed_count(self) -> int:
        """Training seeds per sweep point: two by default (the sweep places a share, the arms carry the verdict),
        which keeps ML-100K's full table under 20 minutes on 2 cores (docs/evaluation.md)."""
        return self.sweep_seeds if self.sweep_seeds is not None else min(2, self.seeds)


@dataclass
class EvaluateResult:
    report: dict[str, Any]
    markdown: str


def parse_budget(text: str) -> str | float:
    """`--budget auto` or a share like `0.05` (`5%` also accepted)."""
    t = text.strip().lower()
    if t == "auto":
        return "auto"
    try:
        v = float(t[:-1]) / 100.0 if t.endswith("%") else float(t)
    except ValueError:
        raise UsageError(f"--budget {text}: give 'auto' or a share such as 0.05") from None
    return v
