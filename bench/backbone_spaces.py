"""Is the collaborative space usable? For each embedded workdir: the backbone's validation figures, how collinear
its states and item embeddings are, IADSR's alignment fitted on them as `score` fits it, and (with `--labels`)
the detection ROC-AUC of the default scorer on the first `--score-users` users against planted labels.

    python -m bench.backbone_spaces --workdir W1 [--workdir W2 ...] [--labels DATA/noise_labels] [--score-users 20000]

Written for the popularity prior of the sampled loss (docs/backbone.md): at 200,000 items, without it, every
user's state pointed the same way (mean cosine of random pairs 0.99998) and the alignment retrieved at chance.
Columns: `state cos` = mean cosine of 2,000 random pairs of positions among 3,000 sampled users' states;
`item cos` = mean cosine of the 1,000 most popular items' embeddings paired with the next 1,000; `top1` = the
alignment's held-out in-batch retrieval (short / long; chance 1/256); the scorer is fitted with the defaults
(3,000 users) and scores whole users in chunks of 5,000, as `seqclean score` does.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def probe(workdir: Path, labels: Path | None, score_users: int) -> dict[str, Any]:
    """The figures of one workdir (see the module docstring)."""
    import numpy as np
    import polars as pl

    from seqclean.align import fit_alignment
    from seqclean.backbone.runner import open_backbone
    from seqclean.features import interest_pairs
    from seqclean.interests import l2_normalise
    from seqclean.io import read_users
    from seqclean.metrics import roc_auc
    from seqclean.score import _score_frame, load_context
    from seqclean.scorers import SCORERS
    from seqclean.scorers.base import ScorerOptions
    from seqclean.scorers.iadsr_options import sequences_of
    from seqclean.workdir import SEQUENCES, Workdir

    wd = Workdir(workdir)
    m = wd.read_manifest()
    ctx, _ = load_context(wd, 10, 0.5)
    runner = open_backbone(wd.path, "cpu")
    n_users = int(m["embed"]["n_users"])
    rng = np.random.default_rng(0)
    users = np.sort(rng.choice(n_users, size=min(3000, n_users), replace=False)).astype(np.int32)
    frame = (
        pl.scan_parquet(wd.file(SEQUENCES))
        .filter(pl.col("uid").is_in(pl.Series(users).implode()))
        .select("uid", "position", "iid")
        .sort("uid", "position")
        .collect()
    )
    iid, segs, seqs = sequences_of(frame)
    states = runner.states_for_sequences(seqs)
    u = l2_normalise(states)
    i, j = rng.integers(0, len(u), 2000), rng.integers(0, len(u), 2000)
    items = l2_normalise(runner.item_embeddings[1:])
    half = min(1000, items.shape[0] // 2)
    top = np.argsort(-ctx.item_count[1:], kind="stable")[: 2 * half]
    align = fit_alignment(*interest_pairs(iid, segs, states, ctx.semantic), seed=0).report()
    bb = m["backbone"]
    out: dict[str, Any] = {
        "workdir": str(workdir),
        "items": int(m["embed"]["n_items"]),
        "loss": bb.get("loss"),
        "prior": bb.get("popularity_prior", False),
        "best epoch": bb.get("best_epoch"),
        "NDCG@10": bb["valid"]["NDCG@10"],
        "HR@10": bb["valid"]["HR@10"],
        "state cos": round(float((u[i] * u[j]).sum(1).mean()), 4),
        "item cos": round(float((items[top[:half]] * items[top[half:]]).sum(1).mean()), 4),
        "top1": f"{align['top1_short']:.4f} / {align['top1_long']:.4f}",
    }
    if labels is not None:
        scorer = SCORERS["iadsr"](ScorerOptions(device="cpu", seed=0))
        scorer.fit(wd, wd.file(SEQUENCES), ctx, n_users)
        parts = [
            _score_frame(read_users(wd.file(SEQUENCES), lo, min(lo + 5000, score_users)), scorer, ctx, m["columns"])
            for lo in range(0, min(score_users, n_users), 5000)
        ]
        cols = m["columns"]
        scored = pl.concat(parts).join(
            pl.read_parquet(labels).select(cols["user"], cols["time"], "is_noise"), on=[cols["user"], cols["time"]]
        )
        y = scored["is_noise"].to_numpy().astype(int)
        flag = scored["noise_score"].to_numpy() >= 0.5
        out |= {
            "scored rows": scored.height,
            "AUC noise_score": round(roc_auc(y, scored["noise_score"].to_numpy()), 4),
            "AUC collab-only": round(roc_auc(y, scored["collab_only_score"].to_numpy()), 4),
            "precision / recall at 0.5": f"{y[flag].mean():.3f} / {flag[y == 1].mean():.3f}",
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, action="append", required=True)
    ap.add_argument("--labels", type=Path, default=None, help="noise_labels (user, time, is_noise) of the log")
    ap.add_argument("--score-users", type=int, default=20_000)
    a = ap.parse_args()
    rows = [probe(w, a.labels, a.score_users) for w in a.workdir]
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(str(r.get(k, "")) for k in keys) + " |")


if __name__ == "__main__":
    main()
