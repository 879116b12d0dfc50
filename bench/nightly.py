"""Two nights of the cron job on the sample data: what the second night reuses and what it costs.

Night 1 runs `seqclean run` on the first 85% of the sample log (by timestamp) and only the items it touches;
night 2 reruns the same command, same workdir, on the whole log and catalogue (new users, items and
interactions), the files being replaced in place as a growing log would be. Both runs go through the real CLI
with `--log-format json`; the script prints each night's wall time, the per-stage seconds and what was
reused, and the ratio.

    python -m bench.nightly --dir /tmp/nightly [-- extra seqclean run options]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"


def write_night(dest: Path, share: float) -> dict[str, int]:
    """The first `share` of the sample log by timestamp (and the items it touches) as dest/*.parquet."""
    log = pl.read_parquet(SAMPLE / "interactions.parquet")
    items = pl.read_parquet(SAMPLE / "items.parquet")
    if share < 1.0:
        cut = log["timestamp"].quantile(share, "lower")
        log = log.filter(pl.col("timestamp") <= cut)
        items = items.filter(pl.col("item_id").is_in(log["item_id"].unique().implode()))
    dest.mkdir(parents=True, exist_ok=True)
    # write beside and rename, as a log shipper would: the job never sees half a file
    for name, frame in (("interactions", log), ("items", items)):
        tmp = dest / f".{name}.tmp.parquet"
        frame.write_parquet(tmp)
        tmp.replace(dest / f"{name}.parquet")
    return {"interactions": log.height, "users": log["user_id"].n_unique(), "items": items.height}


def run_night(data: Path, workdir: Path, out: Path, extra: list[str]) -> tuple[float, dict[str, Any]]:
    cmd = [
        sys.executable,
        "-m",
        "seqclean.cli",
        "run",
        "--interactions",
        str(data / "interactions.parquet"),
        "--items",
        str(data / "items.parquet"),
        "--workdir",
        str(workdir),
        "--out",
        str(out),
        "--log-format",
        "json",
        *extra,
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"seqclean run failed with exit {proc.returncode}")
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    result = next(e for e in events if e["event"] == "result")
    return wall, result["stages"]


def describe(stages: dict[str, Any]) -> str:
    e = stages["embed"]
    bb = e.get("backbone", {})
    return (
        f"  embed {e['seconds']:.1f}s (text vectors: {e['text_vectors']['encoded']} encoded, "
        f"{e['text_vectors']['reused']} reused; backbone {bb.get('action')}: {bb.get('reason')}, "
        f"{bb.get('seconds', 0):.1f}s)\n"
        f"  score {stages['score']['seconds']:.1f}s, filter {stages['filter']['seconds']:.1f}s"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/seqclean-nightly"))
    ap.add_argument("--share", type=float, default=0.85, help="night 1: this share of the log by timestamp")
    ap.add_argument("extra", nargs="*", help="extra `seqclean run` options (after --)")
    a = ap.parse_args()
    shutil.rmtree(a.dir, ignore_errors=True)
    data, workdir = a.dir / "data", a.dir / "work"
    rows = []
    for night, share in ((1, a.share), (2, 1.0)):
        sizes = write_night(data, share)
        wall, stages = run_night(data, workdir, a.dir / f"out-night{night}", a.extra)
        rows.append(wall)
        print(
            f"night {night}: {sizes['interactions']} interactions, {sizes['users']} users, {sizes['items']} items "
            f"-> {wall:.1f}s wall\n{describe(stages)}"
        )
    print(f"night 2 / night 1 wall time: {rows[1] / rows[0]:.2f}")


if __name__ == "__main__":
    main()
