"""Peak memory of `seqclean score` as the log grows: chunked (the default) vs one chunk holding every user.

    PYTHONPATH=. python -m bench.memory [--scales 1,4,8] [--workdir DIR]

Scale k is the bundled sample log with its users replicated k times under new ids (`f"{user}#{r}"`, same
items and timestamps), so the catalogue stays fixed and only the log grows. For each scale the bench runs
`embed` once, then `seqclean score` twice, each in a fresh process: (a) with the default `--chunk-users`
and (b) the peer, `--chunk-users` at least the number of users, i.e. what an in-memory scorer would hold.
Each score process is started by a tiny wrapper that reports the child's peak RSS
(`getrusage(RUSAGE_CHILDREN).ru_maxrss`) and wall time, so neither the bench's own memory nor the embed
stage is counted. The two runs must give the same noise scores (the max abs difference is printed, and
above 1e-6 the bench fails), which is what makes (b) a fair peer. The chunked peak should follow the rows
of the largest chunk (printed too), not the size of the log.

The backbone is trained for one epoch (`--epochs`) with batches of 1024 sequences: its quality is
irrelevant to memory, and the scorer's work per row does not depend on how well it was trained (same
architecture, so the same ONNX graph). The default scales stop at 8: on a 2-core machine a 16x embed alone
takes minutes, and the one-chunk peer at 16x would hold twice the rows of the 8x one in memory. The item
text vectors are encoded once and reused by the later scales through the workdir's semantic cache.
Everything is written to the workdir (default a temporary directory), never into the repo. Exits non-zero
if any step fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from seqclean.backbone.config import BackboneConfig
from seqclean.embed import EmbedConfig, embed
from seqclean.io import ROW_INDEX
from seqclean.workdir import SCORES, SEMANTIC, SEQUENCES

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"
TEMPLATE = "{title} | {category}"
DEFAULT_CHUNK_USERS = 5_000
BACKBONE_BATCH = 1024
MAX_SCORE_DIFF = 1e-6

# Runs argv[1:] and prints, as JSON, its peak RSS (KiB on Linux), wall time, CPU seconds and minor page faults.
# It imports nothing heavy, and RUSAGE_CHILDREN covers only the process it waited for.
_WRAPPER = """
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
rc = subprocess.call(sys.argv[1:])
wall = time.perf_counter() - t0
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": rc, "wall_s": wall, "maxrss": r.ru_maxrss, "user_s": r.ru_utime, "sys_s": r.ru_stime,
                  "minflt": r.ru_minflt}))
"""


@dataclass
class Run:
    peak_mib: float
    wall_s: float


@dataclass
class Row:
    scale: int
    interactions: int
    users: int
    largest_chunk: int  # rows in the chunked run's biggest chunk: what its peak should follow
    chunked: Run
    one_chunk: Run
    max_abs_diff: float


def build_log(scale: int, dest: Path) -> Path:
    """The sample log with every user replicated `scale` times under new ids; items and timestamps kept."""
    log = pl.read_parquet(SAMPLE / "interactions.parquet")
    uid = pl.col("user_id").cast(pl.String)
    big = pl.concat([log.with_columns((uid + f"#{r}").alias("user_id")) for r in range(scale)])
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "interactions.parquet"
    big.write_parquet(path)
    return path


def child_usage(cmd: list[str]) -> tuple[dict[str, float], str]:
    """Run `cmd` under the wrapper: its rusage (`_WRAPPER`'s fields) and what it printed; raises if it fails."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], capture_output=True, text=True, env=env)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"wrapper failed ({proc.returncode}): {proc.stderr[-2000:]}")
    res = json.loads(lines[-1])
    if res["rc"] != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {res['rc']}: {proc.stderr[-2000:]}")
    return res, "\n".join(lines[:-1])


def measure(cmd: list[str]) -> Run:
    """Run `cmd` under the wrapper: its peak RSS and wall time; raises if it fails."""
    res, _ = child_usage(cmd)
    kib = res["maxrss"] / 1024 if sys.platform == "darwin" else res["maxrss"]  # macOS reports bytes, Linux KiB
    return Run(peak_mib=kib / 1024, wall_s=res["wall_s"])


def score_cmd(workdir: Path, chunk_users: int) -> list[str]:
    return [sys.executable, "-m", "seqclean.cli", "score", "--workdir", str(workdir), "--chunk-users", str(chunk_users)]


def noise_scores(workdir: Path) -> pl.DataFrame:
    return pl.read_parquet(workdir / SCORES, columns=[ROW_INDEX, "noise_score"]).sort(ROW_INDEX)


def run_scale(scale: int, root: Path, epochs: int, chunk_users: int, semantic_cache: Path | None) -> Row:
    """Embed the scaled log, then score it chunked and as one chunk."""
    inter = build_log(scale, root / f"x{scale}" / "input")
    wd = root / f"x{scale}" / "work"
    if semantic_cache is not None:
        wd.mkdir(parents=True, exist_ok=True)
        shutil.copy(semantic_cache, wd / SEMANTIC)
    res = embed(
        EmbedConfig(
            interactions=inter,
            items=SAMPLE / "items.parquet",
            workdir=wd,
            text_cols=["title", "category"],
            text_template=TEMPLATE,
            device="cpu",
            backbone=BackboneConfig(epochs=epochs, batch_size=BACKBONE_BATCH, device="cpu"),
        )
    )
    chunked = measure([*score_cmd(wd, chunk_users), "--quiet"])
    a = noise_scores(wd)
    one = measure([*score_cmd(wd, max(res.n_users, chunk_users)), "--quiet"])
    b = noise_scores(wd)
    if a[ROW_INDEX].to_list() != b[ROW_INDEX].to_list() or a.height != res.n_interactions:
        raise RuntimeError(f"scale {scale}: the two runs scored different rows")
    diff = float(np.abs(a["noise_score"].to_numpy() - b["noise_score"].to_numpy()).max())
    if diff > MAX_SCORE_DIFF:
        raise RuntimeError(f"scale {scale}: chunked and one-chunk noise scores differ by up to {diff:.2e}")
    chunks = pl.scan_parquet(wd / SEQUENCES).group_by(pl.col("uid") // chunk_users).len().collect()["len"]
    return Row(scale, res.n_interactions, res.n_users, int(chunks.to_numpy().max()), chunked, one, diff)


def machine_line() -> str:
    """Cores, load (the machine may be shared), versions and date: what the figures depend on."""
    return (
        f"# {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, "
        f"python {platform.python_version()}, numpy {np.__version__}, polars {pl.__version__}, "
        f"{dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}"
    )


def table(rows: list[Row], chunk_users: int) -> str:
    base = rows[0].chunked.peak_mib
    out = [
        f"| scale | interactions | users | largest chunk (rows) | peak RSS chunked, {chunk_users} users (MiB) "
        "| peak RSS one chunk (MiB) "
        f"| one chunk / chunked | chunked vs scale {rows[0].scale} | wall chunked (s) | wall one chunk (s) "
        "| max abs diff noise_score |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        out.append(
            f"| {r.scale} | {r.interactions} | {r.users} | {r.largest_chunk} | {r.chunked.peak_mib:.0f} "
            f"| {r.one_chunk.peak_mib:.0f} "
            f"| {r.one_chunk.peak_mib / r.chunked.peak_mib:.2f}x | {r.chunked.peak_mib / base:.2f}x "
            f"| {r.chunked.wall_s:.1f} | {r.one_chunk.wall_s:.1f} | {r.max_abs_diff:.1e} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", default="1,4,8", help="comma-separated replication factors of the sample log")
    ap.add_argument("--workdir", type=Path, default=None, help="where logs and workdirs go (default: a temp dir)")
    ap.add_argument("--chunk-users", type=int, default=DEFAULT_CHUNK_USERS, help="the chunked run's --chunk-users")
    ap.add_argument("--epochs", type=int, default=1, help="backbone epochs (quality is irrelevant here)")
    args = ap.parse_args(argv)
    scales = sorted({int(s) for s in args.scales.split(",")})
    if not scales or scales[0] < 1:
        raise SystemExit(f"--scales {args.scales}: give positive integers, e.g. 1,4,16")

    print(machine_line(), flush=True)
    with tempfile.TemporaryDirectory(prefix="seqclean-bench-memory-") as tmp:
        root = args.workdir or Path(tmp)
        rows: list[Row] = []
        cache: Path | None = None
        for k in scales:
            rows.append(run_scale(k, root, args.epochs, args.chunk_users, cache))
            cache = root / f"x{k}" / "work" / SEMANTIC
            r = rows[-1]
            print(
                f"# scale {k}: chunked {r.chunked.peak_mib:.0f} MiB in {r.chunked.wall_s:.1f} s, "
                f"one chunk {r.one_chunk.peak_mib:.0f} MiB in {r.one_chunk.wall_s:.1f} s",
                flush=True,
            )
    print(table(rows, args.chunk_users))


if __name__ == "__main__":
    main()
