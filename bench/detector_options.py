"""Score an embedded bench workdir with non-default detector options (corruption mix, MLP share) and print
the ROC-AUC against the planted labels: how the measurements in docs/quality.md's "Corruption mix" were made.

    python -m bench.detector_options ml100k_last6to12-uniform '{"detector": {"mix": [1, 0, 0, 0]}}' --root /tmp/q

`--root` is the `--workdir` of an earlier `python -m bench.quality` run (it holds `wd-NAME` and `NAME/`); the
workdir is copied first, so the bench's own scores are left as they were.
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


def use_options(extra: dict[str, Any]) -> None:
    """Make the `iadsr` scorer of this process use these IadsrOptions fields (`detector`: SeqDetectorOptions)."""
    extra = json.loads(json.dumps(extra))
    if "mix" in extra.get("detector", {}):
        extra["detector"]["mix"] = tuple(extra["detector"]["mix"])

    def make(cfg: ScorerOptions) -> IadsrScorer:
        o = IadsrOptions(fit_users=cfg.fit_users, cold_k=cfg.cold_k, seed=cfg.seed, device=cfg.device, **extra)
        return IadsrScorer(options=o, backbone=cfg.backbone)

    scorers_mod.SCORERS["iadsr"] = make


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("options", help="JSON: IadsrOptions fields; 'detector' holds SeqDetectorOptions fields")
    ap.add_argument("--root", type=Path, required=True)
    a = ap.parse_args()
    extra: dict[str, Any] = json.loads(a.options)
    use_options(extra)
    dst = a.root / f"options-{a.dataset}"
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(a.root / f"wd-{a.dataset}", dst)

    t = time.perf_counter()
    summ = score(ScoreConfig(workdir=dst, rerun=True)).summary
    s = pl.read_parquet(dst / "scores.parquet")
    lab = pl.read_parquet(a.root / a.dataset / "noise_labels.parquet").select("row_index", "is_noise")
    j = s.join(lab, on="row_index")
    y, p = j["is_noise"].to_numpy(), j["noise_score"].to_numpy()
    d = summ["detector"]
    print(
        json.dumps(
            {
                "dataset": a.dataset,
                "options": extra,
                "auc": round(roc_auc(y, p), 4),
                "precision@0.5": round(float(y[p > 0.5].mean()), 4) if (p > 0.5).any() else None,
                "heldout_corruption_auc": d["heldout_corruption_auc"],
                "estimated_noise_rate": d["estimated_noise_rate"],
                "score_s": round(time.perf_counter() - t, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
