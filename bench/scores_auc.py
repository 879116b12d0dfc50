"""Detection figures of a scored workdir against planted labels, streamed (works on a 50M-row scores.parquet).

    python -m bench.scores_auc --scores W/scores.parquet --labels DATA/noise_labels [--threshold 0.5]

Joins `scores.parquet` with the labels (`user_id`, `timestamp`, `is_noise`: bench.synthetic's layout) on user and
time, and prints the rows joined, the noise share, the ROC-AUC of `noise_score`, and the flagged share, precision
and recall at the threshold.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scores", type=Path, required=True)
    ap.add_argument("--labels", type=Path, required=True, help="a Parquet file or a directory of parts")
    ap.add_argument("--threshold", type=float, default=0.5)
    a = ap.parse_args()

    import polars as pl

    from seqclean.metrics import roc_auc

    t = time.perf_counter()
    labels = a.labels / "*.parquet" if a.labels.is_dir() else a.labels
    s = pl.scan_parquet(a.scores).select("user_id", "timestamp", "noise_score")
    lab = pl.scan_parquet(labels).select("user_id", "timestamp", "is_noise")
    j = s.join(lab, on=["user_id", "timestamp"], how="inner").select("noise_score", "is_noise")
    j = j.collect(engine="streaming")
    y, p = j["is_noise"].to_numpy().astype(bool), j["noise_score"].to_numpy()
    flag = p >= a.threshold
    took = time.perf_counter() - t
    print(
        f"rows {j.height:,} | noise {y.mean():.4f} | ROC-AUC {roc_auc(y, p):.4f} | flagged {flag.mean():.4f} | "
        f"precision {y[flag].mean():.4f} | recall {flag[y].mean():.4f} at {a.threshold} ({took:.0f} s)"
    )


if __name__ == "__main__":
    main()
