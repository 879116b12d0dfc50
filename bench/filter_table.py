"""Rows removed vs precision/recall against planted noise labels, for a few `seqclean filter` rules.

Runs `filter_log` (remove mode, default guards) on a scored workdir whose input log has planted noise
labels, and prints a Markdown table. Rerun it after changing the scorer to regenerate docs/filter.md.

    python -m bench.filter_table --workdir WD --labels noise_labels.parquet --on row_index
    python -m bench.filter_table --workdir WD --labels sample_data/noise_labels.parquet --on user_id,timestamp
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import polars as pl

from seqclean.filter import FilterConfig, filter_log
from seqclean.io import ROW_INDEX
from seqclean.metrics import roc_auc
from seqclean.workdir import SCORES

SETTINGS: list[tuple[str, dict[str, object]]] = [
    ("--threshold 0.25", {"threshold": 0.25}),
    ("--threshold 0.3", {"threshold": 0.3}),
    ("--threshold 0.35", {"threshold": 0.35}),
    ("--threshold 0.4", {"threshold": 0.4}),
    ("--threshold 0.5", {"threshold": 0.5}),
    ("--threshold 0.6", {"threshold": 0.6}),
    ("--threshold auto", {"threshold": "auto"}),
    ("--threshold none --max-fraction 0.08", {"threshold": None, "max_fraction": 0.08}),
    ("--threshold none --max-fraction 0.1", {"threshold": None, "max_fraction": 0.1}),
]


def table(workdir: Path, labels_path: Path, on: list[str]) -> str:
    labels = pl.read_parquet(labels_path).select(*on, "is_noise")
    if ROW_INDEX in on:
        labels = labels.with_columns(pl.col(ROW_INDEX).cast(pl.UInt32))
    if labels.select(on).is_duplicated().any():
        raise SystemExit(f"{labels_path}: the key {on} is not unique; join on row_index")
    scores = pl.read_parquet(workdir / SCORES).join(labels, on=on, how="left")
    n_noise = int(scores["is_noise"].sum())
    auc = roc_auc(scores["is_noise"].to_numpy(), scores["noise_score"].to_numpy())
    rows = [
        f"Interactions: {scores.height}, planted noise: {n_noise}; ROC-AUC of noise_score: {auc:.3f}",
        "",
        "| rule | rule as resolved | removed | removed share | precision | recall | held by guards |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for k, (label, opts) in enumerate(SETTINGS):
            out = Path(tmp) / str(k)
            r = filter_log(FilterConfig(workdir=workdir, out=out, **opts))  # type: ignore[arg-type]
            removed = pl.read_parquet(out / "removed.parquet").join(labels, on=on, how="left")
            tp = int(removed["is_noise"].sum())
            prec = tp / removed.height if removed.height else float("nan")
            held = sum(r.summary["held_by_guard"].values())
            rows.append(
                f"| `{label}` | {r.summary['rule']['name']} | {removed.height} | {removed.height / scores.height:.3f} "
                f"| {prec:.3f} | {tp / n_noise:.3f} | {held} |"
            )
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--labels", type=Path, required=True)
    ap.add_argument("--on", default="row_index", help="label key columns, comma-separated")
    a = ap.parse_args()
    scorer = json.loads((a.workdir / "manifest.json").read_text()).get("score", {}).get("scorer")
    print(f"scorer: {scorer}\n")
    print(table(a.workdir, a.labels, [c.strip() for c in a.on.split(",")]))


if __name__ == "__main__":
    main()
