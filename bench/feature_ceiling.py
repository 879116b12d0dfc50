"""How far the scorer's evidence can go: a supervised ceiling, and how planted noise differs from corruptions.

    python -m bench.feature_ceiling --scores W/scores.parquet --labels DATA/noise_labels.parquet
    python -m bench.feature_ceiling --scores W/scores.parquet --labels L --workdir W   # + the corruption gap

The detector never sees labels; this bench does, to answer two questions a self-supervised detector cannot:

1. **Ceiling.** A gradient-boosted classifier is trained on the *true* labels from the component columns that
   `scores.parquet` already holds (every scalar feature the detector reads), cross-fitted by user (each user's rows
   are predicted by a model that never saw that user). Its ROC-AUC is what these features can give when the noise
   kind is known exactly; `noise_score` cannot be expected above it. With `--ease`, an item-item model (EASE,
   Steck 2019: `B = I - P / diag(P)`, `P = (X'X + lambda I)^-1`, zero diagonal, so a row's own item never
   predicts itself) adds each row's leave-self-out co-occurrence score, standardised per user: evidence from the
   whole history that the features do not hold.
2. **Corruption gap** (`--workdir`, the scored workdir). The detector learns from fresh random replacements, but
   the log's real noise was in the backbone's training data. For each feature: the mean of the planted-noise rows
   and of fresh uniform replacements of the same log (one corruption draw, the scorer's own `corrupt_sequences`),
   both in standard deviations of the clean rows, and each one's ROC-AUC against the clean rows (planted noise
   left out of the copy's negatives). Where the two disagree, what the detector learned from corruptions does not
   carry over to the log's noise; the text features, which no training saw, are the control.

Labels: a file with `row_index` and `is_noise` (bench.quality's and evaluate's planted labels), or
`user_id`/`timestamp`/`is_noise` (sample_data's). Needs scikit-learn (a dependency of sentence-transformers).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

NOT_FEATURES = frozenset(
    {"noise_score", "is_noisy", "uncertainty", "collab_only_score", "semantic_only_score", "suggestion_confidence"}
    | {"row_index", "position", "is_cold", "is_noise"}
)
"""Columns of scores.parquet that are outputs or bookkeeping, not evidence."""
DETECTOR_OUTPUTS = ("noise_score", "collab_only_score", "semantic_only_score")


def labelled_scores(scores: Path, labels: Path, user_col: str, item_col: str, time_col: str) -> pl.DataFrame:
    """scores.parquet joined with `is_noise`, sorted by user then position."""
    s = pl.read_parquet(scores)
    lab = pl.read_parquet(labels)
    if "row_index" in lab.columns:
        lab = lab.select(pl.col("row_index").cast(pl.Int64), "is_noise")
        s = s.with_columns(pl.col("row_index").cast(pl.Int64)).join(lab, on="row_index", how="inner")
    else:
        s = s.join(lab.select(user_col, time_col, "is_noise"), on=[user_col, time_col], how="inner")
    if s.height == 0:
        raise SystemExit(f"{labels}: no label joins {scores} (by row_index, or by {user_col}/{time_col})")
    return s.sort(user_col, "position").with_columns(pl.col("is_noise").cast(pl.Boolean)).drop(time_col)


def feature_columns(frame: pl.DataFrame, user_col: str, item_col: str) -> list[str]:
    """Numeric evidence columns: everything but outputs, ids and bookkeeping."""
    skip = NOT_FEATURES | {user_col, item_col}
    return [c for c, t in frame.schema.items() if c not in skip and t.is_numeric()]


def ease_scores(user: np.ndarray, item: np.ndarray, lam: float, max_items: int = 20_000) -> np.ndarray:
    """Each row's leave-self-out EASE score, z-scored against the user's scores over the whole catalogue."""
    uu, ui = np.unique(user, return_inverse=True)
    iu, ii = np.unique(item, return_inverse=True)
    if iu.size > max_items:
        raise SystemExit(f"--ease: {iu.size:,} items; the item-item inverse is only built up to {max_items:,}")
    x = np.zeros((uu.size, iu.size))
    x[ui, ii] = 1.0
    p = np.linalg.inv(x.T @ x + lam * np.eye(iu.size))
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    s = x @ b
    mu, sd = s.mean(axis=1), s.std(axis=1) + 1e-9
    return (s[ui, ii] - mu[ui]) / sd[ui]


def cross_fitted_auc(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int, seed: int, iters: int = 200
) -> float:
    """ROC-AUC of a gradient-boosted classifier whose every prediction comes from a model that never saw the
    row's user (GroupKFold over users)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import GroupKFold

    from seqclean.metrics import roc_auc

    pred = np.zeros(y.size)
    for tr, te in GroupKFold(folds).split(x, y, groups):
        model = HistGradientBoostingClassifier(max_iter=iters, random_state=seed).fit(x[tr], y[tr])
        pred[te] = model.predict_proba(x[te])[:, 1]
    return float(roc_auc(y, pred))


def ceiling(
    frame: pl.DataFrame, user_col: str, item_col: str, folds: int, seed: int, lam: float | None, iters: int = 200
) -> dict[str, Any]:
    """The ceiling figures of one labelled scores frame (`iters`: boosting rounds of each model)."""
    from seqclean.metrics import roc_auc

    y = frame["is_noise"].to_numpy().astype(bool)
    groups = frame[user_col].to_numpy()
    cols = feature_columns(frame, user_col, item_col)
    x = frame.select(cols).to_numpy().astype(np.float64)
    out: dict[str, Any] = {"rows": frame.height, "noise_rate": round(float(y.mean()), 4), "features": len(cols)}
    for c in DETECTOR_OUTPUTS:
        if c in frame.columns:
            out[f"auc_{c}"] = round(float(roc_auc(y, frame[c].to_numpy())), 4)
    out["auc_supervised_features"] = round(cross_fitted_auc(x, y, groups, folds, seed, iters), 4)
    if "noise_score" in frame.columns:
        xs = np.column_stack([x, frame["noise_score"].to_numpy()])
        out["auc_supervised_features_and_noise_score"] = round(cross_fitted_auc(xs, y, groups, folds, seed, iters), 4)
    if lam is not None:
        z = ease_scores(groups, frame[item_col].to_numpy(), lam)
        out["auc_ease_alone"] = round(float(roc_auc(y, -z)), 4)
        out["auc_supervised_features_and_ease"] = round(
            cross_fitted_auc(np.column_stack([x, z]), y, groups, folds, seed, iters), 4
        )
    return out


def corruption_gap(workdir: Path, frame: pl.DataFrame, seed: int) -> list[dict[str, Any]]:
    """Per feature: planted noise vs fresh uniform replacements, in clean-row standard deviations, and AUCs."""
    from seqclean import seqdetector as sd
    from seqclean.align import fit_alignment
    from seqclean.backbone.runner import open_backbone
    from seqclean.features import Spaces, compute_features, interest_pairs
    from seqclean.interests import shift_back
    from seqclean.metrics import roc_auc
    from seqclean.score import load_context
    from seqclean.scorers.iadsr_options import sequences_of
    from seqclean.workdir import SEQUENCES, Workdir

    ctx, _ = load_context(Workdir(workdir), 9, 0.5)
    seq = pl.read_parquet(workdir / SEQUENCES).sort("uid", "position")
    lab = frame.select(pl.col("row_index").cast(pl.Int64), "is_noise")
    seq = seq.with_columns(pl.col("row_index").cast(pl.Int64))
    seq = seq.join(lab, on="row_index", how="left", maintain_order="left")
    y = seq["is_noise"].fill_null(False).to_numpy().astype(bool)
    iid, segs, seqs = sequences_of(seq)
    runner = open_backbone(workdir, "cpu")
    n_items = ctx.semantic.shape[0] - 1
    rng = np.random.default_rng(seed)
    probe = np.sort(rng.choice(np.arange(1, n_items + 1), size=min(256, n_items), replace=False))
    spaces = Spaces(sem=ctx.semantic, col=runner.item_embeddings, count=ctx.item_count, probe=probe)
    states = runner.states_for_sequences(seqs)
    align = fit_alignment(*interest_pairs(iid, segs, states, ctx.semantic), seed=seed)
    real = compute_features(iid, segs, states, spaces, align)
    c = sd.corrupt_sequences(
        iid,
        segs,
        rng,
        n_items=n_items,
        popularity=ctx.item_count,
        col=spaces.col,
        sem=ctx.semantic,
        prev_state=shift_back(states, segs),
        replace_rate=0.12,
        insert_rate=0.0,
        mix=(1.0, 0.0, 0.0, 0.0),
    )
    cf = compute_features(c.iid, c.segs, runner.states_for_sequences(np.split(c.iid, c.segs.start[1:])), spaces, align)
    assert c.iid.size == iid.size  # replacements only: row j of the copy is row j of the log
    neg = ~c.label & ~y  # the copy's negatives hold the log's planted noise too: compare with clean rows only
    rows = []
    for k in sorted(real):
        clean = real[k][~y]
        mu, sdv = float(clean.mean()), float(clean.std()) + 1e-9
        rows.append(
            {
                "feature": k,
                "planted_noise_shift": round(float((real[k][y] - mu).mean() / sdv), 3),
                "corruption_shift": round(float((cf[k][c.label] - mu).mean() / sdv), 3),
                "auc_planted": round(float(roc_auc(y, -real[k])), 3),
                "auc_corruption": round(float(roc_auc(c.label[c.label | neg], -cf[k][c.label | neg])), 3),
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scores", type=Path, required=True, help="a scored workdir's scores.parquet")
    ap.add_argument("--labels", type=Path, required=True, help="is_noise per row_index (or per user_id/timestamp)")
    ap.add_argument("--user-col", default="user_id")
    ap.add_argument("--item-col", default="item_id")
    ap.add_argument("--time-col", default="timestamp")
    ap.add_argument("--folds", type=int, default=4, help="user folds of the cross-fitting")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ease", type=float, default=None, metavar="LAMBDA", help="add EASE's score (e.g. 500)")
    ap.add_argument("--workdir", type=Path, default=None, help="also print the corruption gap (needs the backbone)")
    a = ap.parse_args()

    frame = labelled_scores(a.scores, a.labels, a.user_col, a.item_col, a.time_col)
    print(json.dumps(ceiling(frame, a.user_col, a.item_col, a.folds, a.seed, a.ease), indent=1))
    if a.workdir is not None:
        head = (
            "feature",
            "planted noise (clean sd)",
            "uniform corruption (clean sd)",
            "ROC-AUC planted",
            "ROC-AUC corruption",
        )
        print("| " + " | ".join(head) + " |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for r in corruption_gap(a.workdir, frame, a.seed):
            print(
                f"| {r['feature']} | {r['planted_noise_shift']:+.3f} | {r['corruption_shift']:+.3f} | "
                f"{r['auc_planted']:.3f} | {r['auc_corruption']:.3f} |"
            )


if __name__ == "__main__":
    main()
