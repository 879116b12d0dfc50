"""Detection quality of one detector configuration on the bundled sample (mixed noise kinds), reusing a workdir.

    python -m bench.corruption_mix_sample mix55 '{"detector": {"mix": [0.5, 0.5, 0, 0]}}' --workdir work

`--workdir` is an embedded (or already scored) workdir of the sample, e.g. README set-up command 1's `work/`;
it is copied (scores excluded), scored with the given `IadsrOptions` fields ('detector' holds
`SeqDetectorOptions` fields), and only then joined with `sample_data/noise_labels.parquet`. Prints ROC-AUC,
precision/recall at 0.5, the AUC and flag rate on each user's last two positions vs the rest, and the
single-space references, as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import polars as pl

import seqclean.scorers as scorers_mod
from seqclean.metrics import roc_auc
from seqclean.score import ScoreConfig, score
from seqclean.scorers.base import ScorerOptions
from seqclean.scorers.iadsr import IadsrOptions, IadsrScorer

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name")
    ap.add_argument("options", help="JSON: IadsrOptions fields; 'detector' holds SeqDetectorOptions fields")
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--root", type=Path, default=Path("/tmp/corruption-mix"))
    a = ap.parse_args()
    extra: dict[str, Any] = json.loads(a.options)
    if "mix" in extra.get("detector", {}):
        extra["detector"]["mix"] = tuple(extra["detector"]["mix"])
    dst = a.root / f"wd-{a.name}"
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(a.workdir, dst, ignore=shutil.ignore_patterns("scores.parquet", ".seqclean.lock"))

    def make(cfg: ScorerOptions) -> IadsrScorer:
        o = IadsrOptions(fit_users=cfg.fit_users, cold_k=cfg.cold_k, seed=cfg.seed, device=cfg.device, **extra)
        return IadsrScorer(options=o)

    scorers_mod.SCORERS["iadsr"] = make
    t = time.perf_counter()
    summ = score(ScoreConfig(workdir=dst, rerun=True)).summary
    s = pl.read_parquet(dst / "scores.parquet")
    lab = pl.read_parquet(REPO / "sample_data" / "noise_labels.parquet").select("user_id", "timestamp", "is_noise")
    j = s.join(lab, on=["user_id", "timestamp"]).with_columns(
        (pl.len().over("user_id") - 1 - pl.col("position")).alias("from_end")
    )
    y, p = j["is_noise"].to_numpy(), j["noise_score"].to_numpy()
    last2 = j["from_end"].to_numpy() < 2
    flagged = p > 0.5
    out = {
        "name": a.name,
        "auc": round(roc_auc(y, p), 4),
        "precision_05": round(float(y[flagged].mean()), 3) if flagged.any() else None,
        "recall_05": round(float((y & flagged).sum() / max(y.sum(), 1)), 3),
        "auc_last2": round(roc_auc(y[last2], p[last2]), 4),
        "flag_last2": round(float(flagged[last2].mean()), 4),
        "flag_rest": round(float(flagged[~last2].mean()), 4),
        "estimated_noise_rate": summ.get("estimated_noise_rate"),
        "collab_only": round(roc_auc(y, j["collab_only_score"].to_numpy()), 4),
        "semantic_only": round(roc_auc(y, j["semantic_only_score"].to_numpy()), 4),
        "seconds": round(time.perf_counter() - t),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
