"""What a scorer is: the `Scorer` protocol, the columns it must return, and the data it is given.

A scorer turns one chunk of whole users into per-row columns. `seqclean.score` owns the chunk loop and
the output file; a scorer owns only its numbers. Adding one: docs/architecture.md, "Add a scorer".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import polars as pl

from seqclean.config import DEFAULTS
from seqclean.interests import Segments
from seqclean.progress import ProgressFn
from seqclean.workdir import Workdir

DEFAULT_THRESHOLD = 0.5

REQUIRED_COLUMNS = ("noise_score",)
"""Every scorer returns these: `noise_score` in [0, 1], higher = noisier."""

OPTIONAL_COLUMNS = ("uncertainty", "suggested_iid", "suggestion_confidence")
"""`filter` uses these when present (guards, replace mode); a scorer without them still scores and filters."""


@dataclass
class ScorerOptions:
    """The `score` options a scorer may read (the chunk size is deliberately not one of them)."""

    fit_users: int = DEFAULTS.score.fit_users
    cold_k: float = DEFAULTS.score.cold_k
    device: str = DEFAULTS.general.device
    seed: int = DEFAULTS.general.seed
    backbone: Path | None = None  # the backbone to read (default: the workdir's); the self-cleaning round's own
    threads: int = DEFAULTS.score.score_threads  # threads scoring parts of a chunk at once (`scorers.parts`)


@dataclass
class Context:
    """Read-only, catalogue-sized data every scorer may use (aligned by iid, row 0 = padding)."""

    semantic: np.ndarray  # (n_iid + 1, d) float32, rows L2-normalised
    item_count: np.ndarray  # (n_iid + 1,) interactions per item
    cold: np.ndarray  # (n_iid + 1,) bool
    item_ids: pl.Series  # (n_iid + 1,) item id by iid, null at 0: maps suggested iids back to ids
    threshold: float = DEFAULT_THRESHOLD


class Scorer(Protocol):
    name: str
    fit_report: dict[str, Any]

    def fit(self, wd: Workdir, seq_path: Path, ctx: Context, n_users: int, progress: ProgressFn) -> None:
        """Learn whatever the scorer needs, once, before the chunks (results must not depend on chunking)."""
        ...

    def score_chunk(self, iid: np.ndarray, segs: Segments, ctx: Context) -> dict[str, np.ndarray]:
        """REQUIRED_COLUMNS, any of OPTIONAL_COLUMNS, and component columns (written as they are), one
        value per row of a chunk of whole users."""
        ...
