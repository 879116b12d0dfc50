"""Do two `scores.parquet` of the same log agree? Row by row, for the CUDA-vs-CPU check of docs/performance.md.

    python -m bench.score_agreement --a W1/scores.parquet --b W2/scores.parquet [--labels L] [--names cuda,cpu]

Joins the two on `row_index` and prints, for `noise_score` and every other float column both hold, the largest
and the mean absolute difference; how many rows the 0.5 threshold flags differently; whether the files are
byte-identical; and with `--labels` (planted noise: `row_index`, `is_noise`) each side's ROC-AUC.
"""

from __future__ import annotations

import argparse
import filecmp
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", type=Path, required=True)
    ap.add_argument("--b", type=Path, required=True)
    ap.add_argument("--labels", type=Path, default=None)
    ap.add_argument("--names", default="a,b")
    ap.add_argument("--threshold", type=float, default=0.5)
    a = ap.parse_args()

    import numpy as np
    import polars as pl

    from seqclean.metrics import roc_auc

    na, nb = a.names.split(",")
    x, y = pl.read_parquet(a.a), pl.read_parquet(a.b)
    floats = [c for c, t in x.schema.items() if t.is_float() and y.schema.get(c) == t]
    j = x.select("row_index", *floats).join(y.select("row_index", *floats), on="row_index", suffix="_b")
    if j.height != x.height or j.height != y.height:
        raise SystemExit(f"row_index does not match: {x.height:,} and {y.height:,} rows, {j.height:,} joined")
    print(f"{na} vs {nb}: {j.height:,} rows, byte-identical files: {filecmp.cmp(a.a, a.b, shallow=False)}")
    diffs = {}
    for c in floats:
        d = np.abs(j[c].to_numpy() - j[f"{c}_b"].to_numpy())
        d = d[~np.isnan(d)]
        diffs[c] = (float(d.max()) if d.size else 0.0, float(d.mean()) if d.size else 0.0)
    shown = ["noise_score"] + [c for c in floats if c.endswith("_score") and c != "noise_score"]
    print("| column | max abs diff | mean abs diff |")
    print("| --- | --- | --- |")
    for c in shown:
        print(f"| {c} | {diffs[c][0]:.2e} | {diffs[c][1]:.2e} |")
    rest = {c: v for c, v in diffs.items() if c not in shown}
    if rest:
        worst = max(rest, key=lambda c: rest[c][0])
        print(f"| the other {len(rest)} float columns (features), largest: {worst} | {rest[worst][0]:.2e} | |")
    fa, fb = j["noise_score"].to_numpy() >= a.threshold, j["noise_score_b"].to_numpy() >= a.threshold
    print(
        f"flagged at {a.threshold}: {na} {int(fa.sum()):,}, {nb} {int(fb.sum()):,}, "
        f"flagged by one side only: {int((fa != fb).sum()):,}"
    )
    if a.labels:
        lab = j.join(pl.read_parquet(a.labels).select("row_index", "is_noise"), on="row_index")
        t = lab["is_noise"].to_numpy().astype(bool)
        print(
            f"ROC-AUC of noise_score: {na} {roc_auc(t, lab['noise_score'].to_numpy()):.4f}, "
            f"{nb} {roc_auc(t, lab['noise_score_b'].to_numpy()):.4f}"
        )


if __name__ == "__main__":
    main()
