"""Backbone training time per epoch against RecBole 1.2.1's SASRec: same data, split, model, threads, length.

Both sides train SASRec (hidden 64, 2 layers, 2 heads, inner 256, dropout 0.5, GELU, LayerNorm eps 1e-12,
init normal(0, 0.02), CE loss over all items, Adam, lr 2e-3, batch 256, max length 50) on ML-100K as RecBole
ships it (`recbole/dataset_example/ml-100k`, no filtering), leave-one-out in time order (RecBole's
`LS: valid_and_test`, `TO`), and report the best validation NDCG@10 under full ranking (history not masked on
either side: RecBole's sequential models are `repeatable`). What differs is the training protocol:
RecBole's sequential data loader makes one sample per training position (every prefix, its last state
scored), seqclean trains every position of a window at once (causal attention), so an epoch sees the same
targets with ~40x fewer forward passes. Train time excludes validation on both sides.

RecBole runs in its own venv (`--recbole-python`), as this same file with `--recbole-side`; numpy 2 and
torch >= 2.6 shims (`np.float_` & co., `torch.load(weights_only=False)`) are applied at run time, never to
the installed package. RecBole takes ~78 s an epoch here, so `--recbole-epochs` caps it (it is then not
converged: its best NDCG@10 is a lower bound).

    python -m bench.backbone_recbole [--threads 2] [--recbole-epochs 5] [--epochs 80]
        [--recbole-python /work/recbole-venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HPARAMS: dict[str, Any] = {"lr": 2e-3, "batch_size": 256, "max_len": 50, "seed": 0}


def recbole_side(threads: int, epochs: int, work: Path) -> None:
    """Train RecBole's SASRec for `epochs`, printing one JSON line per epoch (train seconds, validation)."""
    import os
    import warnings

    import numpy as np

    os.chdir(work)  # RecBole writes log/ and log_tensorboard/ under the working directory

    warnings.filterwarnings("ignore")  # pandas' and torch's deprecation notices about RecBole's code
    sys.argv = sys.argv[:1]  # RecBole reads --key=value options from the command line
    aliases = {"float_": np.float64, "complex_": np.complex128, "unicode_": np.str_, "unicode": str}
    for name, alias in (aliases | {"float": float, "int": int, "bool": bool, "complex": complex}).items():
        if name not in np.__dict__:
            setattr(np, name, alias)
    import torch

    _load = torch.load
    torch.load = lambda *a, **k: _load(*a, **{"weights_only": False, **k})  # type: ignore[assignment]
    import recbole
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.model.sequential_recommender import SASRec
    from recbole.trainer import Trainer
    from recbole.utils import init_seed

    cfg = {
        "data_path": str(Path(recbole.__file__).parent / "dataset_example"),
        "checkpoint_dir": str(work),
        "use_gpu": False,
        "seed": HPARAMS["seed"],
        "reproducibility": True,
        "show_progress": False,
        "state": "WARNING",
        "epochs": epochs,
        "train_batch_size": HPARAMS["batch_size"],
        "learning_rate": HPARAMS["lr"],
        "MAX_ITEM_LIST_LENGTH": HPARAMS["max_len"],
        "loss_type": "CE",
        "train_neg_sample_args": None,
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full", "group_by": "user"},
        "metrics": ["Hit", "NDCG"],
        "topk": [10],
        "valid_metric": "NDCG@10",
        "eval_batch_size": 4096,
        "hidden_dropout_prob": 0.5,
        "attn_dropout_prob": 0.5,
    }
    config = Config(model="SASRec", dataset="ml-100k", config_dict=cfg)
    init_seed(config["seed"], config["reproducibility"])
    torch.set_num_threads(threads)
    dataset = create_dataset(config)
    info = {"users": dataset.user_num - 1, "items": dataset.item_num - 1, "interactions": len(dataset.inter_feat)}
    train, valid, _ = data_preparation(config, dataset)
    info["train_targets"] = len(train.dataset.inter_feat)
    model = SASRec(config, train.dataset)
    trainer = Trainer(config, model)
    print(json.dumps({"info": info, "torch_threads": torch.get_num_threads()}), flush=True)
    for epoch in range(epochs):
        t0 = time.perf_counter()
        loss = trainer._train_epoch(train, epoch, show_progress=False)
        train_s = time.perf_counter() - t0
        _, result = trainer._valid_epoch(valid, show_progress=False)
        row = {"epoch": epoch + 1, "train_s": round(train_s, 2), "loss": float(np.sum(loss))}
        print(json.dumps(row | {k: float(v) for k, v in result.items()}), flush=True)


def seqclean_side(threads: int, epochs: int, data_dir: Path | None) -> dict[str, Any]:
    """Train seqclean's SASRec on the same split (bench.backbone_ml100k's protocol), 2 threads, CPU."""
    import numpy as np

    from bench.backbone_ml100k import sequences
    from bench.data import DEFAULT_DIR, ml100k
    from seqclean.backbone.config import BackboneConfig
    from seqclean.backbone.train import fit

    seqs, n_items = sequences(ml100k(data_dir or DEFAULT_DIR)[0])
    users = [s for s in seqs if len(s) >= 3]
    cfg = BackboneConfig(epochs=epochs, threads=threads, device="cpu", loss="full", **HPARAMS)
    res = fit(cfg, n_items, [s[:-2] for s in users], [s[:-2] for s in users], np.asarray([s[-2] for s in users]))
    times = [h["train_s"] for h in res.history]
    return {
        "epochs": res.epochs_run,
        "best_epoch": res.best_epoch,
        "train_s": [round(t, 2) for t in times],
        "best_ndcg10": res.valid["NDCG@10"],
        "best_hr10": res.valid["HR@10"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=80, help="seqclean's most epochs (early stopping, patience 10)")
    ap.add_argument("--recbole-epochs", type=int, default=5)
    ap.add_argument("--recbole-python", default="/work/recbole-venv/bin/python")
    ap.add_argument("--data-dir", type=Path, default=None, help="ML-100K Parquet (default: bench.data's)")
    ap.add_argument("--recbole-side", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.recbole_side:
        with tempfile.TemporaryDirectory() as tmp:
            recbole_side(a.threads, a.recbole_epochs, Path(tmp))
        return

    ours = seqclean_side(a.threads, a.epochs, a.data_dir)
    print("seqclean:", json.dumps(ours), flush=True)
    cmd = [a.recbole_python, __file__, "--recbole-side", "--threads", str(a.threads)]
    proc = subprocess.run([*cmd, "--recbole-epochs", str(a.recbole_epochs)], capture_output=True, text=True)
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    epochs = [r for r in rows if "epoch" in r]
    if proc.returncode or not epochs:
        sys.exit(f"RecBole side failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    print("recbole:", *map(json.dumps, rows), sep="\n  ", flush=True)
    ours_s, theirs_s = statistics.median(ours["train_s"]), statistics.median(r["train_s"] for r in epochs)
    theirs_best = max(r["ndcg@10"] for r in epochs)
    print("\n| | seqclean | RecBole 1.2.1 |\n| --- | ---: | ---: |")
    print(f"| epochs run | {ours['epochs']} (best {ours['best_epoch']}) | {len(epochs)} (capped) |")
    print(f"| train s / epoch (median) | {ours_s:.2f} | {theirs_s:.2f} |")
    print(f"| best valid NDCG@10 | {ours['best_ndcg10']:.4f} | {theirs_best:.4f} |")
    print(f"| best valid HR@10 | {ours['best_hr10']:.4f} | {max(r['hit@10'] for r in epochs):.4f} |")
    print(f"\nspeed-up per epoch: {theirs_s / ours_s:.1f}x (threads {a.threads})")


if __name__ == "__main__":
    main()
