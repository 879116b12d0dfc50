"""Backbone training cost against the catalogue: full vs sampled softmax, time per step and peak RSS.

Each (log, loss) pair trains in a child process of its own (so each peak RSS is its own), for `--max-steps`
optimizer steps of one epoch, on a `bench.synthetic` log (user order, time order; every user's last item is
the validation target, as in `seqclean embed`). Printed per pair: items, training windows, steps an epoch,
seconds a step (training only), the epoch's time extrapolated from it, the RSS once the windows are built and
the peak RSS of the child.

    python -m bench.backbone_catalogue --data /tmp/syn-200k [--data DIR2 ...] [--loss full,sampled]
        [--max-steps 40] [--batch-size 256] [--threads 2] [--negatives 1024]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(data: Path, loss: str, a: argparse.Namespace) -> dict[str, Any]:
    """Train one loss on one log for `a.max_steps` steps; the measurements as a dict."""
    import numpy as np
    import polars as pl

    from seqclean.backbone.config import BackboneConfig
    from seqclean.backbone.train import fit

    log = pl.scan_parquet(data / "interactions" / "*.parquet").select("user_id", "item_id", "timestamp")
    items = pl.read_parquet(data / "items.parquet", columns=["item_id"]).with_row_index("iid", offset=1)
    iid = log.join(items.lazy(), on="item_id").sort("user_id", "timestamp").select("user_id", "iid").collect()
    ids = iid["iid"].to_numpy().astype(np.int64)
    seqs = [s for s in np.split(ids, np.flatnonzero(np.diff(iid["user_id"].to_numpy())) + 1) if len(s) >= 2]
    del iid, ids
    cfg = BackboneConfig(
        epochs=1,
        max_steps=a.max_steps,
        batch_size=a.batch_size,
        threads=a.threads,
        device="cpu",
        loss=loss,
        negatives=a.negatives,
        train_users=0,
    )
    train = [s[:-1] for s in seqs]
    windows = sum((len(s) - 2) // cfg.max_len + 1 for s in train if len(s) >= 2)
    rss0 = _rss_mib()
    res = fit(cfg, items.height, train, train, np.asarray([s[-1] for s in seqs]))
    per_step = res.history[-1]["train_s"] / res.steps
    steps_epoch = -(-windows // cfg.batch_size)
    return {
        "log": data.name,
        "items": items.height,
        "users": len(seqs),
        "windows": windows,
        "loss": res.loss,
        "batch": cfg.batch_size,
        "steps": res.steps,
        "steps_per_epoch": steps_epoch,
        "s_per_step": round(per_step, 4),
        "est_s_per_epoch": round(per_step * steps_epoch, 1),
        "rss_before_fit_mib": round(rss0),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, action="append", required=True)
    ap.add_argument("--loss", default="full,sampled")
    ap.add_argument("--max-steps", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--negatives", type=int, default=1024)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.data[0], a.loss, a)))
        return
    rows = []
    for data in a.data:
        for loss in a.loss.split(","):
            args = ["--data", str(data), "--loss", loss, "--max-steps", str(a.max_steps)]
            args += ["--batch-size", str(a.batch_size), "--threads", str(a.threads), "--negatives", str(a.negatives)]
            cmd = [sys.executable, "-m", "bench.backbone_catalogue", "--child", *args]
            out = subprocess.run(cmd, capture_output=True)
            if out.returncode:
                print(f"{data.name} {loss}: exit {out.returncode}\n{out.stderr.decode()[-2000:]}", flush=True)
                continue
            rows.append(json.loads(out.stdout.decode().strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    keys = list(rows[0]) if rows else []
    print("\n| " + " | ".join(keys) + " |\n|" + " --- |" * len(keys))
    for r in rows:
        print("| " + " | ".join(f"{r[k]:,}" if isinstance(r[k], int) else str(r[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
