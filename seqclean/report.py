"""Accumulators for the per-item report and the dataset summary, updated chunk by chunk.

Following cleanlab's batched pattern: `update(batch)` per chunk, `finalize()` once, so memory is
bounded by the catalogue size, never by the log size.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

HIST_BINS = 20
POSITIONS_FROM_END = ("last", "second_last", "third_last", "rest")
LENGTH_BUCKETS = (("1-5", 1, 5), ("6-10", 6, 10), ("11-20", 11, 20), ("21-50", 21, 50), ("51+", 51, None))


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
        self.pos_n = np.zeros(len(POSITIONS_FROM_END), dtype=np.int64)
        self.pos_flagged = np.zeros(len(POSITIONS_FROM_END), dtype=np.int64)
        self.pos_score = np.zeros(len(POSITIONS_FROM_END), dtype=np.float64)
        self.len_n = np.zeros(len(LENGTH_BUCKETS), dtype=np.int64)
        self.len_flagged = np.zeros(len(LENGTH_BUCKETS), dtype=np.int64)

    def update(
        self,
        score: np.ndarray,
        flagged: np.ndarray,
        cold: np.ndarray,
        from_end: np.ndarray | None = None,
        seq_len: np.ndarray | None = None,
    ) -> None:
        """`from_end`: 0 for a user's last row, 1 for the second last, ...; `seq_len`: the row's user's length.
        Both are needed for the positional rates (missing evidence at a sequence's end must not read as noise)."""
        if from_end is not None:
            b = np.minimum(from_end, len(POSITIONS_FROM_END) - 1)
            k = len(POSITIONS_FROM_END)
            self.pos_n += np.bincount(b, minlength=k)
            self.pos_flagged += np.bincount(b, weights=flagged.astype(np.float64), minlength=k).astype(np.int64)
            self.pos_score += np.bincount(b, weights=score.astype(np.float64), minlength=k)
        if seq_len is not None:
            uppers = np.array([hi if hi is not None else np.iinfo(np.int64).max for _, _, hi in LENGTH_BUCKETS])
            lb = np.searchsorted(uppers, seq_len, side="left")
            k = len(LENGTH_BUCKETS)
            self.len_n += np.bincount(lb, minlength=k)
            self.len_flagged += np.bincount(lb, weights=flagged.astype(np.float64), minlength=k).astype(np.int64)
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
            "by_position_from_end": [
                {
                    "position": name,
                    "interactions": int(self.pos_n[i]),
                    "flagged": int(self.pos_flagged[i]),
                    "flag_rate": rate(int(self.pos_flagged[i]), int(self.pos_n[i])),
                    "mean_noise_score": round(float(self.pos_score[i] / self.pos_n[i]), 6) if self.pos_n[i] else None,
                }
                for i, name in enumerate(POSITIONS_FROM_END)
            ],
            "by_sequence_length": [
                {
                    "bucket": name,
                    "interactions": int(self.len_n[i]),
                    "flagged": int(self.len_flagged[i]),
                    "flag_rate": rate(int(self.len_flagged[i]), int(self.len_n[i])),
                }
                for i, (name, _, _) in enumerate(LENGTH_BUCKETS)
            ],
        }
