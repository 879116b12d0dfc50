"""Accumulators for the per-item report and the dataset summary, updated chunk by chunk.

Following cleanlab's batched pattern: `update(batch)` per chunk, `finalize()` once, so memory is
bounded by the catalogue size, never by the log size.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

HIST_BINS = 20


class ItemAccumulator:
    """Per item: interactions scored, mean noise score, share flagged at the default threshold."""

    def __init__(self, n_iid: int) -> None:
        self.count = np.zeros(n_iid, dtype=np.int64)
        self.score_sum = np.zeros(n_iid, dtype=np.float64)
        self.flagged = np.zeros(n_iid, dtype=np.int64)

    def update(self, iid: np.ndarray, score: np.ndarray, flagged: np.ndarray) -> None:
        n = self.count.size
        self.count += np.bincount(iid, minlength=n)
        self.score_sum += np.bincount(iid, weights=score.astype(np.float64), minlength=n)
        self.flagged += np.bincount(iid, weights=flagged.astype(np.float64), minlength=n).astype(np.int64)

    def finalize(self, catalogue: pl.DataFrame, item_col: str, cold: np.ndarray) -> pl.DataFrame:
        """`catalogue` has `iid` and the item id column; `cold` is a bool per iid."""
        iid = catalogue["iid"].to_numpy()
        cnt = self.count[iid]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(cnt > 0, self.score_sum[iid] / np.maximum(cnt, 1), np.nan)
            share = np.where(cnt > 0, self.flagged[iid] / np.maximum(cnt, 1), np.nan)
        return pl.DataFrame(
            {
                item_col: catalogue[item_col],
                "interactions": cnt.astype(np.int64),
                "mean_noise_score": mean.astype(np.float64),
                "flagged_share": share.astype(np.float64),
                "n_flagged": self.flagged[iid].astype(np.int64),
                "is_cold": cold[iid],
            }
        ).with_columns(pl.col("mean_noise_score", "flagged_share").fill_nan(None))


class SummaryAccumulator:
    """Dataset-level counts, flag rates overall / cold / warm, and a score histogram."""

    def __init__(self) -> None:
        self.n = 0
        self.flagged = 0
        self.n_cold = 0
        self.flagged_cold = 0
        self.hist = np.zeros(HIST_BINS, dtype=np.int64)
        self.score_sum = 0.0

    def update(self, score: np.ndarray, flagged: np.ndarray, cold: np.ndarray) -> None:
        self.n += int(score.size)
        self.flagged += int(flagged.sum())
        self.n_cold += int(cold.sum())
        self.flagged_cold += int((flagged & cold).sum())
        self.hist += np.histogram(score, bins=HIST_BINS, range=(0.0, 1.0))[0]
        self.score_sum += float(score.sum())

    def finalize(self) -> dict[str, Any]:
        n_warm = self.n - self.n_cold
        flagged_warm = self.flagged - self.flagged_cold

        def rate(a: int, b: int) -> float | None:
            return round(a / b, 6) if b else None

        edges = np.linspace(0.0, 1.0, HIST_BINS + 1)
        return {
            "interactions": self.n,
            "flagged": self.flagged,
            "flag_rate": rate(self.flagged, self.n),
            "mean_noise_score": round(self.score_sum / self.n, 6) if self.n else None,
            "cold": {
                "interactions": self.n_cold,
                "flagged": self.flagged_cold,
                "flag_rate": rate(self.flagged_cold, self.n_cold),
            },
            "warm": {"interactions": n_warm, "flagged": flagged_warm, "flag_rate": rate(flagged_warm, n_warm)},
            "histogram": {"edges": [round(float(e), 4) for e in edges], "counts": self.hist.tolist()},
        }
