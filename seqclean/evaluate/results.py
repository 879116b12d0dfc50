"""evaluation.json's content: detection metrics against the labels and the per-arm / sweep / summary tables."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from seqclean.evaluate.config import SINGLE_SPACE, EvaluateConfig
from seqclean.evaluate.downstream import TrainResult
from seqclean.evaluate.protocol import PROTECTED, Arm, Split, noise_by_row, rows_before_last_window
from seqclean.metrics import average_precision, precision_recall, roc_auc


def detection(
    labels: pl.DataFrame, split: Split, scores: dict[str, np.ndarray], removed: np.ndarray, n_rows: int
) -> dict[str, Any]:
    """Detection quality on training positions (the only place noise is planted), overall / cold / warm."""
    y_all = noise_by_row(labels, n_rows)
    train = split.training_by_row(n_rows)
    flagged_rule = np.zeros(n_rows, dtype=bool)
    flagged_rule[removed] = True
    out: dict[str, Any] = {"rows": int(train.sum()), "true_noise_rate": float(y_all[train].mean())}
    for part, mask in (
        ("all", train),
        ("cold", train & scores["is_cold"]),
        ("warm", train & ~scores["is_cold"]),
    ):
        y = y_all[mask]
        s = scores["noise_score"][mask]
        p05, r05 = precision_recall(y, s > 0.5)
        pr, rr = precision_recall(y, flagged_rule[mask])
        row: dict[str, Any] = {
            "rows": int(mask.sum()),
            "noise_rate": _r(float(y.mean())) if mask.any() else None,
            "roc_auc": _r(roc_auc(y, s)),
            "average_precision": _r(average_precision(y, s)),
            "precision@0.5": _r(p05),
            "recall@0.5": _r(r05),
            "flagged@0.5": int((s > 0.5).sum()),
            "precision@filter": _r(pr),
            "recall@filter": _r(rr),
            "flagged@filter": int(flagged_rule[mask].sum()),
        }
        if part == "all":
            for name, (col, sign) in SINGLE_SPACE.items():
                row[f"roc_auc_{name}"] = _r(roc_auc(y, sign * scores[col][mask]))
                row[f"average_precision_{name}"] = _r(average_precision(y, sign * scores[col][mask]))
        out[part] = row
    return out


def _r(x: float) -> float | None:
    return None if x != x else round(float(x), 4)  # NaN -> null


def _stats(vals: list[float]) -> dict[str, float]:
    a = np.asarray(vals, dtype=np.float64)
    return {"mean": round(float(a.mean()), 5), "std": round(float(a.std(ddof=1)) if len(a) > 1 else 0.0, 5)}


def build_report(
    cfg: EvaluateConfig,
    arms: list[tuple[Arm, Split]],
    sweep: list[tuple[float, str, Arm]],
    results: dict[str, list[TrainResult]],
    detection: dict[str, Any] | None,
    sc_summary: dict[str, Any],
    rep_summary: dict[str, Any],
    k: int,
    n_rows: int,
    split: Split,
    timings: dict[str, float],
    reused: str,
) -> dict[str, Any]:
    metrics = ("NDCG@10", "NDCG@20", "HR@10", "HR@20")

    def arm_entry(arm: Arm) -> dict[str, Any]:
        rs = results[arm.name]
        return {
            "removed": len(arm.removed),
            "replaced": len(arm.replaced),
            "note": arm.note,
            "test": {m: _stats([r.test[m] for r in rs]) for m in metrics},
            "valid": {m: _stats([r.valid[m] for r in rs]) for m in metrics},
            "per_seed": [
                {
                    "seed": s,
                    "test": {m: round(r.test[m], 5) for m in metrics},
                    "valid_ndcg@10": round(r.valid["NDCG@10"], 5),
                    "best_epoch": r.best_epoch,
                    "epochs_run": r.epochs_run,
                    "seconds": round(r.seconds, 1),
                }
                for s, r in enumerate(rs)
            ],
        }

    arm_rows = {a.name: arm_entry(a) for a, _ in arms}
    base = "noisy" if cfg.plant != "none" else "raw"
    nd = {name: e["test"]["NDCG@10"]["mean"] for name, e in arm_rows.items()}
    summary: dict[str, Any] = {"budget_rows": k, "budget_share": round(k / n_rows, 5) if n_rows else 0.0}
    if "clean" in nd:
        gap = nd["clean"] - nd[base]
        summary["ndcg10_gap_clean_minus_noisy"] = round(gap, 5)
        summary["gap_recovered_by_seqclean"] = round((nd["seqclean"] - nd[base]) / gap, 3) if gap > 0 else None
        if "oracle" in nd:
            summary["gap_recovered_by_oracle"] = round((nd["oracle"] - nd[base]) / gap, 3) if gap > 0 else None
    summary["seqclean_minus_" + base] = round(nd["seqclean"] - nd[base], 5)
    sd = arm_rows["seqclean"]["test"]["NDCG@10"]["std"]
    summary["seqclean_beats_by_more_than_1sd"] = {
        other: bool(nd["seqclean"] - nd[other] > max(sd, arm_rows[other]["test"]["NDCG@10"]["std"]))
        for other in ("random", *SINGLE_SPACE)
    }
    # the same training seed shares initialisation and batch order across arms: per-seed differences cancel that
    base_vals = [r.test["NDCG@10"] for r in results[base]]
    summary["paired_ndcg10_minus_" + base] = {
        name: _stats([r.test["NDCG@10"] - b for r, b in zip(results[name], base_vals, strict=True)])
        for name in arm_rows
        if name != base
    }
    sweep_rows: list[dict[str, Any]] = (
        [
            {"share": 0.0, "rows": 0, "method": m, "NDCG@10": arm_rows[base]["test"]["NDCG@10"]}
            for m in ("seqclean", "random")
        ]
        if 0.0 in cfg.sweep
        else []
    )
    for share, method, arm in sweep:
        sweep_rows.append(
            {
                "share": share,
                "rows": len(arm.removed),
                "method": method,
                "NDCG@10": _stats([r.test["NDCG@10"] for r in results[arm.name]]),
                "epochs_run": [r.epochs_run for r in results[arm.name]],  # per seed: an early stop shows here
            }
        )
    ds = cfg.downstream
    unseen = rows_before_last_window(split, ds.max_len) if ds.windows == "last" else 0
    sq = [r for r in sweep_rows if r["method"] == "seqclean"]
    if sq:
        best = max(sq, key=lambda r: r["NDCG@10"]["mean"])
        summary["sweep_best_share"] = best["share"]
        summary["auto_share"] = round(k / n_rows, 5) if n_rows else 0.0
    return {
        "config": {
            "interactions": str(cfg.interactions),
            "items": str(cfg.items),
            "plant": cfg.plant,
            "ratio": cfg.ratio if cfg.plant != "none" else None,
            "plant_seed": cfg.plant_seed,
            "seeds": cfg.seeds,
            "budget": cfg.budget,
            "sweep": list(cfg.sweep),
            "sweep_seeds": cfg.sweep_seed_count,
            "detector_seed": cfg.seed,
            "downstream": cfg.downstream.as_dict(),
        },
        "data": {
            "interactions": n_rows,
            "users": split.n_users,
            "evaluated_users": int((split.length[split.position == 0] > PROTECTED).sum()),
            "training_rows": int(split.training.sum()),
            "training_rows_not_trained_on": unseen,  # before each user's last max_len + 1 (--train-windows last)
        },
        "detection": detection,
        "filter": {"remove": sc_summary, "replace": rep_summary},
        "arms": arm_rows,
        "sweep": sweep_rows,
        "summary": summary,
        "timings": timings | {"embed_and_score_reused": reused},
    }
