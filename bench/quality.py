"""Detection quality of seqclean's scorer against planted or generated ground truth.

    python -m bench.quality                       # sample data + MovieLens-100K (uniform and popularity noise)
    python -m bench.quality --datasets sample     # just the bundled sample

For each dataset it runs `seqclean embed` and `seqclean score` (the full `iadsr` scorer, then the
`baseline-semantic` scorer on the same workdir) and prints ROC-AUC of:
- `noise_score` (seqclean), `collab_only_score` and `semantic_only_score` (the same detector trained on one
  space only), `-iadsr_score` (IADSR's own consistency formula, negated so higher = noisier) and the
  baseline-semantic scorer;
plus the estimated vs true noise rate, precision/recall at noise_score > 0.5, and flag rates on cold vs warm
items (with the true noise rate on each, to judge over-denoising).
Labels are used only here, after scoring: the scorer never reads them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from bench.data import ml100k
from bench.detector_options import use_options
from bench.plant_noise import last_interactions, plant_noise
from seqclean.backbone.train import BackboneConfig
from seqclean.embed import EmbedConfig, embed
from seqclean.metrics import precision_recall, roc_auc
from seqclean.score import ScoreConfig, score

REPO = Path(__file__).resolve().parent.parent
SPARSE = {"ml100k_last6to12": (6, 12)}
"""Sparse development cases: ML-100K cut to each user's most recent 6-12 interactions (`last_interactions`)."""
SPARSE_SHOP = {"sample_last6to12": (6, 12)}
"""Sparse shop cases: the sample's clean rows cut to each user's last 6-12, item text = title only."""


def prepare_dataset(name: str, root: Path, seed: int) -> tuple[Path, Path, pl.DataFrame, list[str], str]:
    """(interactions, items, labels, join keys, text template) for a dataset name."""
    if name == "sample":
        labels = pl.read_parquet(REPO / "sample_data" / "noise_labels.parquet")
        return (
            REPO / "sample_data" / "interactions.parquet",
            REPO / "sample_data" / "items.parquet",
            labels,
            ["user_id", "timestamp"],
            "{title} | {category}",
        )
    base, kind = name.split("-", 1)
    template = "{title} | {genres}"
    if base in SPARSE_SHOP:
        # the sample's clean rows (its generated noise dropped), cut short, titles only: an Amazon-style log
        inter, items = REPO / "sample_data" / "interactions.parquet", REPO / "sample_data" / "items.parquet"
        gen = pl.read_parquet(REPO / "sample_data" / "noise_labels.parquet").select("user_id", "timestamp", "is_noise")
        log = pl.read_parquet(inter).join(gen, on=["user_id", "timestamp"]).filter(~pl.col("is_noise")).drop("is_noise")
        log = last_interactions(log, *SPARSE_SHOP[base], seed=seed)
        template = "{title}"
    else:
        inter, items = ml100k()
        log = pl.read_parquet(inter)
    if base in SPARSE:
        log = last_interactions(log, *SPARSE[base], seed=seed)
    noisy, labels = plant_noise(log, rate=0.1, kind=kind, seed=seed)
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    for frame, file in ((noisy, d / "interactions.parquet"), (labels, d / "noise_labels.parquet")):
        if not (file.exists() and pl.read_parquet(file).equals(frame)):  # unchanged: keep it, embed recorded it
            frame.write_parquet(file)
    return d / "interactions.parquet", items, labels, ["row_index"], template


def evaluate(
    name: str,
    root: Path,
    seed: int,
    score_seeds: list[int],
    cold_k: float,
    reuse: bool = False,
    baseline: bool = True,
    threads: int | None = None,
    rounds: str = "auto",
    backbone: dict[str, object] | None = None,
) -> list[dict[str, object]]:
    """Embed once, then score with each of `score_seeds` (the detector's own randomness: probe set, fit sample,
    corruptions, initialisation); one result row per score seed."""
    inter, items, labels, keys, template = prepare_dataset(name, root, seed)
    wd = root / f"wd-{name}"
    t0 = time.perf_counter()
    if not (reuse and (wd / "manifest.json").exists()):
        bb = BackboneConfig(threads=threads, **(backbone or {}))  # type: ignore[arg-type]
        embed(EmbedConfig(interactions=inter, items=items, workdir=wd, text_template=template, seed=seed, backbone=bb))
    embed_s = time.perf_counter() - t0
    rows = [
        _score_and_measure(name, wd, labels, keys, s, cold_k, rounds) | {"embed_s": round(embed_s, 1)}
        for s in score_seeds
    ]
    if not baseline:
        return [r | {"auc_baseline_semantic": None} for r in rows]
    base = root / f"wd-{name}-baseline"  # a copy, so `wd` keeps the iadsr scores (bench.filter_table uses them)
    shutil.copytree(wd, base, dirs_exist_ok=True)
    score(ScoreConfig(workdir=base, scorer="baseline-semantic", seed=seed, rerun=True))
    b = pl.read_parquet(base / "scores.parquet").join(labels.select(*keys, "is_noise"), on=keys)
    auc_base = round(roc_auc(b["is_noise"].to_numpy(), b["noise_score"].to_numpy()), 4)
    return [r | {"auc_baseline_semantic": auc_base} for r in rows]


def _score_and_measure(
    name: str, wd: Path, labels: pl.DataFrame, keys: list[str], seed: int, cold_k: float, rounds: str = "auto"
) -> dict[str, object]:
    t1 = time.perf_counter()
    result = score(ScoreConfig(workdir=wd, seed=seed, cold_k=cold_k, rerun=True, rounds=rounds))
    summ = result.summary
    t2 = time.perf_counter()
    s = pl.read_parquet(wd / "scores.parquet")
    j = s.join(labels.select(*keys, "is_noise"), on=keys, how="inner")
    assert j.height == s.height, f"{name}: labels do not cover every scored row"
    y = j["is_noise"].to_numpy()
    res: dict[str, object] = {
        "dataset": name,
        "score_seed": seed,
        "rounds": rounds,
        "cold_k": cold_k,
        "rows": j.height,
        "true_noise_rate": round(float(y.mean()), 4),
    }
    for col, sign in (
        ("noise_score", 1),
        ("collab_only_score", 1),
        ("semantic_only_score", 1),
        ("iadsr_score", -1),
        ("log_pop", -1),
    ):
        res[f"auc_{col}"] = round(roc_auc(y, sign * j[col].to_numpy()), 4)
    ns = j["noise_score"].to_numpy()
    flagged = ns > 0.5
    p, r = precision_recall(y, flagged)
    est = float(summ.get("estimated_noise_rate") or 0.0)
    k = int(round(est * ns.size))  # `--threshold auto`: the top estimated-noise-rate share by noise_score
    auto = np.zeros(ns.size, dtype=bool)
    auto[np.argsort(-ns, kind="stable")[:k]] = True
    pa, ra = precision_recall(y, auto)
    cold = j["is_cold"].to_numpy()
    pos = j["position"].to_numpy()
    from_end = j.select((pl.len().over(j.columns[0]) - 1 - pl.col("position")).alias("e"))["e"].to_numpy()
    last2 = from_end < 2
    middle = (from_end >= 2) & (pos >= 2)
    res |= {
        "estimated_noise_rate": summ.get("estimated_noise_rate"),
        "estimated_noise_rate_by_round": [
            r["estimated_noise_rate"] for r in summ.get("self_clean", {}).get("by_round", [])
        ],
        "precision@0.5": round(p, 4),
        "recall@0.5": round(r, 4),
        "precision@auto": round(pa, 4),
        "recall@auto": round(ra, 4),
        "flag_rate_last2": round(float(flagged[last2].mean()), 4),
        "flag_rate_middle": round(float(flagged[middle].mean()), 4) if middle.any() else None,
        "true_noise_rate_last2": round(float(y[last2].mean()), 4),
        "true_noise_rate_middle": round(float(y[middle].mean()), 4) if middle.any() else None,
        "auc_last2": round(roc_auc(y[last2], ns[last2]), 4),
        "auc_middle": round(roc_auc(y[middle], ns[middle]), 4) if middle.any() else None,
        "detector_fit_s": result.timing.get("detector_fit_s"),
        "flag_rate_cold": round(float(flagged[cold].mean()), 4) if cold.any() else None,
        "true_noise_rate_cold": round(float(y[cold].mean()), 4) if cold.any() else None,
        "flag_rate_warm": round(float(flagged[~cold].mean()), 4),
        "true_noise_rate_warm": round(float(y[~cold].mean()), 4),
        "heldout_corruption_auc": summ["detector"]["heldout_corruption_auc"],
        "score_s": round(t2 - t1, 1),
    }
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--datasets",
        default="sample,ml100k-uniform,ml100k-popularity,ml100k-insert,ml100k_last6to12-uniform",
    )
    ap.add_argument("--seed", type=int, default=0, help="noise planting and embed seed")
    ap.add_argument("--score-seeds", default="0", help="comma-separated detector seeds, one score run each")
    ap.add_argument("--reuse-embed", action="store_true", help="keep an embedded workdir from an earlier run")
    ap.add_argument("--backbone-threads", type=int, default=None, help="torch threads for the backbone training")
    ap.add_argument("--no-baseline", action="store_true", help="skip the baseline-semantic scorer (faster)")
    ap.add_argument("--cold-k", type=float, default=ScoreConfig.cold_k, help="cold-item blend constant")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the workdirs here (default: a temp dir)")
    ap.add_argument("--options", default="", help="JSON of non-default IadsrOptions (bench.detector_options)")
    ap.add_argument("--rounds", default="auto", help="seqclean score --rounds: 1-3 or auto (self-cleaning)")
    ap.add_argument("--backbone", default="", help='JSON of BackboneConfig fields: {"train_users": 471}')
    args = ap.parse_args()
    if args.options:
        use_options(json.loads(args.options))
    os.environ.setdefault("SEQCLEAN_CACHE_DIR", str(REPO / ".data" / "model-cache"))
    root = args.workdir or Path(tempfile.mkdtemp(prefix="seqclean-quality-"))
    seeds = [int(x) for x in args.score_seeds.split(",")]
    rows = [
        r
        for n in args.datasets.split(",")
        for r in evaluate(
            n,
            root,
            args.seed,
            seeds,
            args.cold_k,
            args.reuse_embed,
            not args.no_baseline,
            args.backbone_threads,
            args.rounds,
            json.loads(args.backbone) if args.backbone else None,
        )
    ]
    cols = [
        "auc_noise_score",
        "auc_iadsr_score",
        "auc_collab_only_score",
        "auc_semantic_only_score",
        "auc_baseline_semantic",
        "auc_log_pop",
    ]
    extra = [
        "precision@0.5",
        "recall@0.5",
        "precision@auto",
        "recall@auto",
        "flag_rate_cold",
        "true_noise_rate_cold",
        "flag_rate_last2",
        "flag_rate_middle",
        "auc_last2",
        "auc_middle",
        "estimated_noise_rate",
        "detector_fit_s",
        "score_s",
    ]
    print("| dataset | score seed | " + " | ".join(c.removeprefix("auc_") for c in cols + extra) + " |")
    print("|---" * (len(cols) + len(extra) + 2) + "|")
    for r in rows:
        cells = [
            f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c]) if r[c] is not None else "-" for c in cols + extra
        ]
        print(f"| {r['dataset']} | {r['score_seed']} | " + " | ".join(cells) + " |")
    print()
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
