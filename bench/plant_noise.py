"""Plant known noise in a clean log (LLM4DSR's protocol), so detection can be measured against labels.

The planting itself lives in the library (`seqclean.evaluate.plant`, used by `seqclean evaluate`); this is
its command-line front for the benches. Kinds: uniform, popularity (replacement) and insert.

    python -m bench.plant_noise --interactions .data/ml-100k/interactions.parquet --out /tmp/ml-noisy
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

from seqclean.evaluate.plant import KINDS, plant_noise

__all__ = ["KINDS", "plant_noise"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--interactions", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="directory for interactions/noise_labels.parquet")
    ap.add_argument("--rate", type=float, default=0.1)
    ap.add_argument("--kind", choices=KINDS, default="uniform")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--user-col", default="user_id")
    ap.add_argument("--item-col", default="item_id")
    ap.add_argument("--time-col", default="timestamp")
    a = ap.parse_args()
    noisy, labels = plant_noise(
        pl.read_parquet(a.interactions), a.rate, a.kind, a.seed, a.user_col, a.item_col, a.time_col
    )
    a.out.mkdir(parents=True, exist_ok=True)
    noisy.write_parquet(a.out / "interactions.parquet")
    labels.write_parquet(a.out / "noise_labels.parquet")
    print(f"planted {int(labels['is_noise'].sum())} of {labels.height} ({a.kind}, seed {a.seed}) -> {a.out}")


if __name__ == "__main__":
    main()
