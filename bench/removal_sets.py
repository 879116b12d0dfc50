"""Downstream NDCG@10 of chosen removal sets on the sample: which noise matters, and where removals cost.

    PYTHONPATH=. python -m bench.removal_sets --workdir WD [--budget 2919] [--seeds 3] [--arms raw,noise,...]

Reads a scored workdir of the bundled sample (`seqclean embed` + `score`, e.g. the one `seqclean evaluate`
made) and the sample's labels, builds removal sets on `seqclean evaluate`'s split (training inputs only) and
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

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
ARMS = "raw,noise,sem,oracle,oracle_popular,oracle_random,oracle_shared,noise_protect3,noise_x_sem"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--budget", type=int, default=2919, help="rows removed by the ranked arms")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--arms", default=ARMS)
    a = ap.parse_args(argv)
    log = pl.read_parquet(SAMPLE / "interactions.parquet")
    ids = pl.read_parquet(SAMPLE / "items.parquet").select("item_id").unique().sort("item_id")
    cat = ids.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("iid"))
    sp = make_split(log, "user_id", "item_id", "timestamp", cat)
    tg = targets(sp)
    n = log.height
    sc = pl.read_parquet(a.workdir / "scores.parquet").sort("row_index")
    labels = pl.read_parquet(SAMPLE / "noise_labels.parquet")
    lab = log.with_row_index("row_index").join(labels, on=["user_id", "timestamp"], how="left").sort("row_index")
    noise = lab["is_noise"].fill_null(False).to_numpy()
    kind = lab["noise_kind"].to_numpy()
    train = sp.training_by_row(n)
    from_end = np.zeros(n, np.int64)
    from_end[sp.row_index] = sp.length - 1 - sp.position
    ns = sc["noise_score"].to_numpy().astype(np.float64)
    sem = sc["semantic_only_score"].to_numpy().astype(np.float64)

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
