"""What `seqclean.allocator.keep_freed_memory` buys: embed, score and one downstream training, with it and without.

    PYTHONPATH=. python -m bench.allocator [--data-dir .data/ml-100k] [--text-template '{title} | {genres}']
        [--repeats 1] [--train-epochs 4] [--workdir DIR]

Each step runs in a fresh child process, once with the allocator tuning (this checkout as it is) and once
without (`seqclean.allocator._glibc` returns None, so every training loop runs under glibc's defaults: the
peer is the code before the tuning), alternately, `--repeats` times; the child's wall time, user and system
CPU seconds, minor page faults and peak RSS are read by bench.memory's wrapper (`getrusage(RUSAGE_CHILDREN)`).
Steps: `seqclean embed` (text encoding + backbone training) into an empty workdir, `seqclean score` on it, and
one `seqclean evaluate` downstream SASRec training (`train_and_test`, `--train-epochs` epochs, 1 thread) on the
log's leave-one-out split. The two modes must give byte-identical `scores.parquet` and the same test NDCG@10
(printed; the bench fails otherwise): the allocator must not touch results. Prints one row per step and mode
and the ratios without / with. Everything is written under `--workdir` (default a temporary directory).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import shutil
import sys
import tempfile
from pathlib import Path

from bench.memory import child_usage, machine_line

REPO = Path(__file__).resolve().parent.parent

# The child: the CLI (or the downstream training) with the tuning switched off when argv[1] == "off".
_CHILD = """
import sys
mode, what = sys.argv[1], sys.argv[2]
if mode == "off":
    import seqclean.allocator as allocator
    allocator._glibc = lambda: None
if what == "cli":
    from seqclean.cli import main
    sys.argv = ["seqclean", *sys.argv[3:]]
    main()
else:
    import json
    import polars as pl
    from seqclean.evaluate.downstream import DownstreamConfig, train_and_test
    from seqclean.evaluate.protocol import Arm, make_split, targets, training_sequences
    data, epochs = sys.argv[3], int(sys.argv[4])
    log = pl.read_parquet(f"{data}/interactions.parquet")
    items = pl.read_parquet(f"{data}/items.parquet").select("item_id").unique().sort("item_id")
    cat = items.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("iid"))
    sp = make_split(log, "user_id", "item_id", "timestamp", cat)
    tg = targets(sp)
    cfg = DownstreamConfig(threads=1, epochs=epochs, min_epochs=epochs)
    r = train_and_test(cfg, cat.height, training_sequences(sp, Arm("raw")), tg.valid, tg.test, seed=0)
    print(json.dumps({"ndcg10": r.test["NDCG@10"]}))
"""


def run(mode: str, args: list[str]) -> tuple[dict[str, float], str]:
    """One step in a fresh child under bench.memory's rusage wrapper: (its rusage, what it printed)."""
    return child_usage([sys.executable, "-c", _CHILD, mode, *args])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=REPO / ".data" / "ml-100k")
    ap.add_argument("--text-template", default="{title} | {genres}")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--train-epochs", type=int, default=4)
    ap.add_argument("--workdir", type=Path, default=None)
    a = ap.parse_args(argv)
    root = a.workdir or Path(tempfile.mkdtemp(prefix="seqclean-allocator-"))
    print(machine_line())
    rows: dict[tuple[str, str], list[dict[str, float]]] = {}
    ndcg: dict[str, float] = {}
    for rep in range(a.repeats):
        for mode in ("off", "on"):
            wd = root / f"{mode}-{rep}"
            shutil.rmtree(wd, ignore_errors=True)
            embed = ["cli", "embed", "--interactions", str(a.data_dir / "interactions.parquet"), "--items"]
            embed += [str(a.data_dir / "items.parquet"), "--text-template", a.text_template, "--workdir", str(wd)]
            steps = {
                "embed": [*embed, "--device", "cpu", "--quiet"],
                "score": ["cli", "score", "--workdir", str(wd), "--device", "cpu", "--quiet"],
                "downstream": ["train", str(a.data_dir), str(a.train_epochs)],
            }
            for step, args in steps.items():
                res, out = run(mode, args)
                rows.setdefault((step, mode), []).append(res)
                if step == "downstream":
                    ndcg[mode] = json.loads(out.splitlines()[-1])["ndcg10"]
            if not filecmp.cmp(root / f"off-{rep}" / "scores.parquet", wd / "scores.parquet", shallow=False):
                sys.exit(f"scores.parquet differs between the modes (repeat {rep}): the allocator changed results")
    if ndcg["off"] != ndcg["on"]:
        sys.exit(f"downstream NDCG@10 differs: off {ndcg['off']}, on {ndcg['on']}")
    print(f"scores.parquet byte-identical in both modes; downstream test NDCG@10 {ndcg['on']:.5f} in both")
    print("| step | allocator | wall s | user s | sys s | minor faults | peak RSS MiB |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    best: dict[tuple[str, str], dict[str, float]] = {k: min(v, key=lambda r: r["wall_s"]) for k, v in rows.items()}
    for (step, mode), r in best.items():
        print(
            f"| {step} | {'tuned' if mode == 'on' else 'glibc default'} | {r['wall_s']:.1f} | {r['user_s']:.1f} | "
            f"{r['sys_s']:.1f} | {int(r['minflt']):,} | {r['maxrss'] / 1024:,.0f} |"
        )
    for step in ("embed", "score", "downstream"):
        off, on = best[(step, "off")], best[(step, "on")]
        cpu_off, cpu_on = off["user_s"] + off["sys_s"], on["user_s"] + on["sys_s"]
        print(
            f"{step}: wall {off['wall_s'] / on['wall_s']:.2f}x faster, CPU {cpu_off / cpu_on:.2f}x, "
            f"peak RSS {on['maxrss'] / off['maxrss']:.2f}x (tuned / default)"
        )


if __name__ == "__main__":
    main()
