"""Reliability of `noise_score` as a probability: the planted noise share in each score bin, by item and position.

    python -m bench.calibration_bins --scores W/scores.parquet --labels DATA/noise_labels.parquet [--bins 10]

A calibrated score has, in every bin, a noise share near the bin's mean score (issue 14's check is the share
among rows above 0.5). Prints one table of bins (rows, mean `noise_score`, planted noise share) for all rows,
then for cold and warm items (`is_cold`) and for each user's last two rows and the rest, and the precision and
recall above `--threshold` in each group. Labels join on `row_index` when both files have it (bench.quality's
and bench.plant_noise's layout), else on user and time.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl

from bench.feature_ceiling import labelled_scores


def labelled(scores: Path, labels: Path) -> pl.DataFrame:
    """scores.parquet's rows with `is_noise` (`bench.feature_ceiling.labelled_scores`) and `from_end` (0 = the
    user's last row)."""
    frame = labelled_scores(scores, labels, "user_id", "item_id", "timestamp")
    return frame.with_columns((pl.len().over("user_id") - 1 - pl.col("position")).alias("from_end"))


def bin_table(frame: pl.DataFrame, bins: int) -> pl.DataFrame:
    """Per score bin: rows, mean noise_score, planted noise share (empty bins left out)."""
    b = (pl.col("noise_score") * bins).floor().clip(0, bins - 1).cast(pl.Int64)
    return (
        frame.group_by(b.alias("bin"))
        .agg(
            pl.len().alias("rows"),
            pl.col("noise_score").mean().alias("mean_score"),
            pl.col("is_noise").mean().alias("noise_share"),
        )
        .sort("bin")
        .with_columns((pl.col("bin") / bins).alias("from"), ((pl.col("bin") + 1) / bins).alias("to"))
    )


def at_threshold(frame: pl.DataFrame, threshold: float) -> tuple[int, float, float]:
    """(rows above, precision, recall) at `threshold`; precision is NaN with nothing above it."""
    y = frame["is_noise"].to_numpy()
    flag = frame["noise_score"].to_numpy() > threshold
    prec = float(y[flag].mean()) if flag.any() else float("nan")
    return int(flag.sum()), prec, float(flag[y].mean()) if y.any() else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scores", type=Path, required=True)
    ap.add_argument("--labels", type=Path, required=True)
    ap.add_argument("--bins", type=int, default=10)
    ap.add_argument("--threshold", type=float, default=0.5)
    a = ap.parse_args()
    frame = labelled(a.scores, a.labels)
    groups = {
        "all": frame,
        "cold items": frame.filter(pl.col("is_cold")),
        "warm items": frame.filter(~pl.col("is_cold")),
        "last two": frame.filter(pl.col("from_end") < 2),
        "the rest": frame.filter(pl.col("from_end") >= 2),
    }
    print("| rows | bin | rows in bin | mean noise_score | planted noise share |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name, g in groups.items():
        for r in bin_table(g, a.bins).iter_rows(named=True):
            cells = f"{r['rows']} | {r['mean_score']:.3f} | {r['noise_share']:.3f}"
            print(f"| {name} | {r['from']:.1f}-{r['to']:.1f} | {cells} |")
    print()
    print(f"| rows | rows | noise share | above {a.threshold:g} | precision | recall |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, g in groups.items():
        n_above, prec, rec = at_threshold(g, a.threshold)
        share = float(np.mean(g["is_noise"].to_numpy())) if g.height else float("nan")
        print(f"| {name} | {g.height} | {share:.3f} | {n_above} | {prec:.3f} | {rec:.3f} |")


if __name__ == "__main__":
    main()
