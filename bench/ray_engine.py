"""`--engine local` vs `--engine ray` on an embedded workdir: wall times and whether the files are identical.

Run from the repo root on a workdir that `seqclean embed` wrote (its scores are rewritten):

    PYTHONPATH=. python bench/ray_engine.py --workdir WORK [--actors 2] [--chunk-users 5000,250] [--device cpu]

For each chunk size: `score` with the local engine, then with Ray (`--actors` actors, a local Ray instance
started and stopped by the run, as the CLI does), each timed as a whole and in its chunk phase (from the end
of the fit to the last chunk written); then the bytes of scores.parquet, item_report.parquet and
summary.json compared. Then the text encoding of the workdir's catalogue, local vs Ray, vectors compared.
Prints a Markdown table (docs/ray.md). Not a test: on a small machine Ray is expected to be slower.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import polars as pl

FILES = ("scores.parquet", "item_report.parquet", "summary.json")


def timed_score(workdir: Path, engine: str, chunk_users: int, actors: int, device: str) -> tuple[float, float]:
    """(wall seconds, chunk-phase seconds) of one `score --rerun`."""
    from seqclean.score import ScoreConfig, score

    marks: dict[str, float] = {}

    def progress(task: str, done: int, total: int | None) -> None:
        if done == total:
            marks[task] = time.perf_counter()

    cfg = ScoreConfig(
        workdir=workdir, chunk_users=chunk_users, device=device, rerun=True, engine=engine, ray_actors=actors
    )
    t0 = time.perf_counter()
    score(cfg, progress)
    wall = time.perf_counter() - t0
    return wall, marks["score users"] - marks["fit detector"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--actors", type=int, default=2)
    ap.add_argument("--chunk-users", default="5000,250")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    import ray

    load = os.getloadavg()[0]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {load:.1f}; ray {ray.__version__}")
    print("| score | local wall | ray wall | local chunk phase | ray chunk phase | files |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for chunk in (int(c) for c in a.chunk_users.split(",")):
        local = timed_score(a.workdir, "local", chunk, a.actors, a.device)
        kept = {f: (a.workdir / f).read_bytes() for f in FILES}
        remote = timed_score(a.workdir, "ray", chunk, a.actors, a.device)
        same = all((a.workdir / f).read_bytes() == kept[f] for f in FILES)
        print(
            f"| --chunk-users {chunk}, {a.actors} actors | {local[0]:.1f} s | {remote[0]:.1f} s | {local[1]:.1f} s "
            f"| {remote[1]:.1f} s | {'identical' if same else 'DIFFERENT'} |"
        )

    from seqclean.encoder import load_encoder
    from seqclean.ray_engine import encode_ray

    texts = pl.read_parquet(a.workdir / "items.parquet")["text"].to_list()
    enc = load_encoder(None, device=a.device, batch_size=64)
    t0 = time.perf_counter()
    vec_local = enc.encode(texts)
    t1 = time.perf_counter()
    vec_ray, _ = encode_ray(enc, texts, address=None, actors=a.actors)
    t2 = time.perf_counter()
    same = vec_local.tobytes() == vec_ray.tobytes()
    print(
        f"| encode {len(texts)} item texts, {a.actors} actors | {t1 - t0:.1f} s | {t2 - t1:.1f} s | | | "
        f"{'identical' if same else 'DIFFERENT'} |"
    )
    print(f"load at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
