"""A self-cleaning round (issue 14): retrain the backbone without the first round's confident noise, then
re-score the full log with it, and compare ROC-AUC and the noise-share estimate with the first round.

    python -m bench.self_clean --workdir /tmp/s1 --dataset sample_last6to12-uniform

`--workdir` is the `--workdir` of an earlier `python -m bench.quality` run that scored `DATASET` (it holds
`wd-DATASET/` with `scores.parquet` and `DATASET/` with the planted log and labels). The round drops the top
`estimated_noise_rate` share by `noise_score` (or `--share`), embeds the rest into `sc-DATASET/wd` (same items
and options, so every item keeps its `iid`), copies `wd-DATASET` to `wd-DATASET-sc` with that backbone, and
re-scores the *full* log there. Labels are joined only after scoring.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import polars as pl

from bench.quality import prepare_dataset
from seqclean.backbone.train import BackboneConfig
from seqclean.embed import EmbedConfig, embed
from seqclean.metrics import roc_auc
from seqclean.score import ScoreConfig, score
from seqclean.workdir import SCORE_SUMMARY, SCORES


def _auc(wd: Path, labels: pl.DataFrame, keys: list[str]) -> float:
    j = pl.read_parquet(wd / SCORES).join(labels.select(*keys, "is_noise"), on=keys)
    return round(roc_auc(j["is_noise"].to_numpy(), j["noise_score"].to_numpy()), 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--share", type=float, default=None, help="share to drop (default: estimated_noise_rate)")
    ap.add_argument("--seed", type=int, default=0, help="detector seed of the second round")
    a = ap.parse_args()
    inter, items, labels, keys, template = prepare_dataset(a.dataset, a.workdir, 0)
    wd = a.workdir / f"wd-{a.dataset}"
    first = json.loads((wd / SCORE_SUMMARY).read_text())
    share = a.share if a.share is not None else float(first["estimated_noise_rate"])
    scores = pl.read_parquet(wd / SCORES)
    drop = scores.sort("noise_score", descending=True).head(int(round(share * scores.height)))["row_index"]
    d = a.workdir / f"sc-{a.dataset}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    log = pl.read_parquet(inter).with_row_index("row_index")
    log.filter(~pl.col("row_index").is_in(drop.implode())).drop("row_index").write_parquet(d / "interactions.parquet")
    t = time.perf_counter()
    embed(
        EmbedConfig(
            interactions=d / "interactions.parquet",
            items=items,
            workdir=d / "wd",
            text_template=template,
            seed=0,
            backbone=BackboneConfig(),
        )
    )
    embed_s = time.perf_counter() - t
    sc = a.workdir / f"wd-{a.dataset}-sc"
    shutil.rmtree(sc, ignore_errors=True)
    shutil.copytree(wd, sc)
    shutil.rmtree(sc / "backbone")
    shutil.copytree(d / "wd" / "backbone", sc / "backbone")
    t = time.perf_counter()
    second = score(ScoreConfig(workdir=sc, seed=a.seed, rerun=True)).summary
    print(
        json.dumps(
            {
                "dataset": a.dataset,
                "dropped": int(drop.len()),
                "share": round(share, 4),
                "first_round_seed": first.get("seed"),
                "auc_first_round": _auc(wd, labels, keys),
                "estimated_noise_rate_first_round": first["estimated_noise_rate"],
                "auc_second_round": _auc(sc, labels, keys),
                "estimated_noise_rate_second_round": second["estimated_noise_rate"],
                "true_noise_rate": round(float(labels["is_noise"].to_numpy().mean()), 4),
                "embed_s": round(embed_s, 1),
                "score_s": round(time.perf_counter() - t, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
