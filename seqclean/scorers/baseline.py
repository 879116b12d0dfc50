"""The baseline scorer (`--scorer baseline-semantic`): semantic consistency only, the reference to beat."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from seqclean.interests import Segments, leave_one_out_mean, rowwise_cos, window_mean
from seqclean.progress import ProgressFn
from seqclean.scorers.base import Context, ScorerOptions
from seqclean.suggest import suggest_replacements, suggestion_pool
from seqclean.workdir import Workdir


class BaselineSemanticScorer:
    """Baseline: semantic-only consistency of an item with the user's other items.

    `sem_long_sim`: cosine of the item's text embedding to the mean of all the user's other items;
    `sem_short_sim`: the same against the 3 items before and 3 after it. The noise score maps their
    mean consistency c in [-1, 1] to (1 - c) / 2. No collaborative signal and no learning: this is the
    reference the full method must beat.

    Also written, for `filter`'s guards and replacement mode:
    - `uncertainty` = 0.5 * e + 0.5 * c, with evidence term e = 1 / sqrt(other items of the user)
      (1 when there are none) and closeness c = max(0, 1 - |noise_score - threshold| / 0.1).
    - `suggested_iid` / `suggestion_confidence` from `suggest_replacements` with the semantic window
      interest (same window, the row itself excluded), never an item the user already has.
    """

    name = "baseline-semantic"
    window = 3

    def __init__(self, options: ScorerOptions) -> None:
        self.fit_report: dict[str, Any] = {}
        self.pool: np.ndarray | None = None

    def fit(self, wd: Workdir, seq_path: Path, ctx: Context, n_users: int, progress: ProgressFn) -> None:
        """Nothing to learn; the suggestions' candidate pool is drawn once, not per chunk."""
        self.pool = suggestion_pool(ctx.item_count)

    def score_chunk(self, iid: np.ndarray, segs: Segments, ctx: Context) -> dict[str, np.ndarray]:
        v = ctx.semantic[iid]
        interest = window_mean(v, segs, self.window, self.window)
        long_sim = rowwise_cos(v, leave_one_out_mean(v, segs))
        short_sim = rowwise_cos(v, interest)
        noise = np.clip((1.0 - 0.5 * (long_sim + short_sim)) / 2.0, 0.0, 1.0)
        n_other = (segs.length[segs.seg] - 1).astype(np.float64)
        evidence = 1.0 / np.sqrt(np.maximum(n_other, 1.0))
        closeness = np.clip(1.0 - np.abs(noise - ctx.threshold) / 0.1, 0.0, 1.0)
        best, conf = suggest_replacements(interest, ctx.semantic, segs.seg, segs.seg, iid, pool=self.pool)
        return {
            "noise_score": noise,
            "uncertainty": np.clip(0.5 * evidence + 0.5 * closeness, 0.0, 1.0).astype(np.float32),
            "sem_long_sim": long_sim,
            "sem_short_sim": short_sim,
            "suggested_iid": best,
            "suggestion_confidence": conf,
        }
