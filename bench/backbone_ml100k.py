"""Correctness anchor for the backbone: SASRec (or GRU4Rec) on MovieLens-100K, leave-one-out, full ranking.

Protocol (RecBole's `RO` + `LS: valid_and_test`): per user, interactions in time order (ties by row
order); the last item is the test target, the second-to-last the validation target. The model trains
on everything before the validation item, early-stops on validation NDCG@10, and the best epoch is
scored once on test with the full history before the test item as input. Ranking is over all items.

    python -m bench.backbone_ml100k [--model sasrec] [--epochs 200] [--patience 10] [--data-dir DIR]
        [--loss auto|full|sampled] [--negatives 1024] [--threads 2]

Prints the validation and test metrics, the training seconds of each epoch (validation excluded) and the
process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import polars as pl

from bench.data import DEFAULT_DIR, ml100k
from seqclean.backbone.config import BackboneConfig
from seqclean.backbone.data import last_windows, rank_metrics
from seqclean.backbone.train import fit


def sequences(inter: Path) -> tuple[list[np.ndarray], int]:
    log = pl.read_parquet(inter).with_row_index("row")
    items = log.select("item_id").unique().sort("item_id").with_row_index("iid", offset=1)
    seq = (
        log.join(items, on="item_id")
        .sort("user_id", "timestamp", "row")
        .group_by("user_id", maintain_order=True)
        .agg(pl.col("iid").cast(pl.Int64))
    )
    return [np.asarray(s, dtype=np.int64) for s in seq["iid"].to_list()], items.height


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="sasrec", choices=["sasrec", "gru4rec"])
    ap.add_argument("--epochs", type=int, default=80)
    ap.add_argument("--patience", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--max-len", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--loss", default="auto", choices=["auto", "full", "sampled"])
    ap.add_argument("--negatives", type=int, default=1024)
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    a = ap.parse_args()

    inter, _ = ml100k(a.data_dir)
    seqs, n_items = sequences(inter)
    users = [s for s in seqs if len(s) >= 3]
    cfg = BackboneConfig(
        model=a.model,
        epochs=a.epochs,
        patience=a.patience,
        batch_size=a.batch_size,
        lr=a.lr,
        max_len=a.max_len,
        seed=a.seed,
        threads=a.threads,
        device=a.device,
        loss=a.loss,
        negatives=a.negatives,
    )
    t0 = time.perf_counter()

    def show(task: str, done: int, total: int | None) -> None:
        print(f"[{time.perf_counter() - t0:7.1f}s] {task} ({done}/{total})", flush=True)

    res = fit(
        cfg,
        n_items,
        train_seqs=[s[:-2] for s in users],
        valid_inputs=[s[:-2] for s in users],
        valid_targets=np.asarray([s[-2] for s in users]),
        progress=show,
    )
    t_in, t_len = last_windows([s[:-1] for s in users], cfg.max_len)
    test = rank_metrics(res.model, t_in, t_len, np.asarray([s[-1] for s in users]), res.device, prior=res.prior)
    out = {
        "dataset": "ml-100k (recbole 1.2.1 atomic files)",
        "users": len(users),
        "items": n_items,
        "interactions": int(sum(map(len, seqs))),
        "model": a.model,
        "config": vars(a) | {"data_dir": str(a.data_dir)},
        "best_epoch": res.best_epoch,
        "epochs_run": res.epochs_run,
        "device": res.device,
        "loss": res.loss,
        "seconds": round(time.perf_counter() - t0, 1),
        "train_s_per_epoch": [round(h["train_s"], 2) for h in res.history if "train_s" in h],
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "valid": {k: round(v, 4) for k, v in res.valid.items()},
        "test": {k: round(v, 4) for k, v in test.items()},
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
