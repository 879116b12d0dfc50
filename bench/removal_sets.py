"""Downstream NDCG@10 of chosen removal sets: which noise matters, and where removals cost.

    PYTHONPATH=. python -m bench.removal_sets --workdir WD [--budget 2919] [--seeds 3] [--arms raw,noise,...]
        [--interactions LOG --items ITEMS --labels LABELS]

Reads a scored workdir (`seqclean embed` + `score`, e.g. the one `seqclean evaluate` made) of a log with known
noise (default the bundled sample and its labels; or `seqclean evaluate`'s OUT/inputs/interactions.parquet and
OUT/planted_labels.parquet), builds removal sets on `seqclean evaluate`'s split (training inputs only) and
trains `evaluate`'s downstream SASRec on each with the same seeds (2 processes, 1 thread each), so that its
`raw` row equals the evaluate table's. Arms: `raw`; `noise` / `sem`: the top `--budget` training rows by
`noise_score` / `semantic_only_score`; `oracle`: every labelled row, and `oracle_<kind>` each noise kind alone;
`noise_protect<m>`: the `noise` budget with each user's last m training inputs kept (the budget filled from
the rows after them); `noise_x_sem`: the top by `noise_score * semantic_only_score`. A diagnostic for docs/quality.md,
not a product rule: the sample's labels are read here, never by the scorer.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl

from seqclean.evaluate.downstream import DownstreamConfig
from seqclean.evaluate.protocol import Arm, make_split, targets, top_k_rows, training_sequences
from seqclean.evaluate.runner import _train_all
from seqclean.evaluate.stages import scores_by_row

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
ARMS = "raw,noise,sem,oracle,oracle_popular,oracle_random,oracle_shared,noise_protect3,noise_x_sem"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--budget", type=int, default=2919, help="rows removed by the ranked arms")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--arms", default=ARMS)
    ap.add_argument("--interactions", type=Path, default=SAMPLE / "interactions.parquet")
    ap.add_argument("--items", type=Path, default=SAMPLE / "items.parquet")
    ap.add_argument("--labels", type=Path, default=SAMPLE / "noise_labels.parquet", help="row_index or user/time")
    a = ap.parse_args(argv)
    log = pl.read_parquet(a.interactions)
    ids = pl.read_parquet(a.items).select("item_id").unique().sort("item_id")
    cat = ids.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("iid"))
    sp = make_split(log, "user_id", "item_id", "timestamp", cat)
    tg = targets(sp)
    n = log.height
    sc = scores_by_row(a.workdir, n)
    labels = pl.read_parquet(a.labels).select(
        pl.exclude("user_id", "timestamp") if "row_index" in pl.read_parquet_schema(a.labels) else pl.all()
    )
    on = ["row_index"] if "row_index" in labels.columns else ["user_id", "timestamp"]
    if on == ["row_index"]:
        labels = labels.with_columns(pl.col("row_index").cast(pl.UInt32))
    lab = log.with_row_index("row_index").join(labels, on=on, how="left").sort("row_index")
    noise = lab["is_noise"].fill_null(False).to_numpy()
    kind = lab["noise_kind"].to_numpy()
    train = sp.training_by_row(n)
    from_end = np.zeros(n, np.int64)
    from_end[sp.row_index] = sp.length - 1 - sp.position
    ns, sem = sc["noise_score"], sc["semantic_only_score"]

    def arm_rows(name: str) -> np.ndarray:
        if name == "raw":
            return np.zeros(0, np.int64)
        if name == "noise":
            return top_k_rows(sp, ns, a.budget)
        if name == "sem":
            return top_k_rows(sp, sem, a.budget)
        if name == "noise_x_sem":
            return top_k_rows(sp, ns * sem, a.budget)
        if name == "oracle":
            return np.flatnonzero(noise & train)
        if name.startswith("oracle_"):
            return np.flatnonzero(noise & train & (kind == name.removeprefix("oracle_")))
        if name.startswith("noise_protect"):
            kept = np.where(from_end < 2 + int(name.removeprefix("noise_protect")), -np.inf, ns)
            return top_k_rows(sp, kept, a.budget)
        raise SystemExit(f"unknown arm {name}; choose from {ARMS}")

    names = [x.strip() for x in a.arms.split(",") if x.strip()]
    removed = {name: arm_rows(name) for name in names}
    cfg = DownstreamConfig(threads=1)
    tasks, owner = [], []
    for name in names:
        seqs = training_sequences(sp, Arm(name, removed=removed[name]))
        tasks += [(cfg, cat.height, seqs, tg.valid, tg.test, s) for s in range(a.seeds)]
        owner += [name] * a.seeds
    ndcg: dict[str, list[float]] = {}
    for name, r in zip(owner, _train_all(tasks, 2), strict=True):
        ndcg.setdefault(name, []).append(r.test["NDCG@10"])
    print("| arm | removed | precision | NDCG@10 | per seed |")
    print("| --- | ---: | ---: | --- | --- |")
    for name in names:
        rows, v = removed[name], np.array(ndcg[name])
        prec = f"{noise[rows].mean():.3f}" if rows.size else "-"
        sd = v.std(ddof=1) if v.size > 1 else 0.0
        print(f"| {name} | {rows.size} | {prec} | {v.mean():.5f} ± {sd:.5f} | {np.round(v, 5).tolist()} |")


if __name__ == "__main__":
    main()
