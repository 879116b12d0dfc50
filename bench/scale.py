"""Wall time, throughput and peak RSS of each stage of the installed CLI, on one or more logs.

    PYTHONPATH=. python -m bench.scale --data /tmp/syn100k --data /tmp/syn1m --workdir /tmp/scale-work \
        [--stages embed,score,filter] [--embed-args '--epochs 1'] [--score-args ''] [--filter-args '']

Each `--data DIR` is a `bench.synthetic` output (`DIR/interactions/`, `DIR/items.parquet`). Every stage runs
as its own subprocess of the `seqclean` console script (next to this Python; `python -m seqclean.cli` when
there is none) with `PYTHONPATH` set to this checkout, in `WORKDIR/<data name>/{work,out}`. `embed` starts
from an empty workdir, so its text encoding and backbone training are timed, not taken from a cache; `score`
and `filter` get `--rerun`.

Measured per stage: wall time; interactions/s (the log's rows / wall time); peak RSS, the child's own
`ru_maxrss` from `os.wait4` (exact, and nothing of this process counted); and per phase, the largest
resident set sampled from `/proc/PID/status` every 50 ms (VmRSS) with the high-water mark (VmHWM) when the
phase ended. Phases come from the stage's JSON log (`--log-format json` on stderr): `start` until the first
`progress` event; a task's phase (`encode items`, `train sasrec`, `fit detector`, `score users`) from its first
progress event; when a task reports done == total, `after <task>` begins, and it takes the name of the next
task when that one reports (the gap is that task's set-up, e.g. score's first chunk before its first
`score users` event). Progress events come after a unit of work (an encoder batch, a detector step, a chunk),
so a boundary is late by at most one unit. With several `--data`, it prints each stage's peak RSS and throughput
as a ratio of the smallest log's (issue 12: peak RSS at 50M at most 1.2x the peak at 1M).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from bench.memory import machine_line

REPO = Path(__file__).resolve().parent.parent
STAGES = ("embed", "score", "filter")
DEFAULT_ARGS = {
    "embed": "--text-template '{title} | {category}' --device cpu --epochs 1 --batch-size 1024",
    "score": "--device cpu",
    "filter": "--threshold 0.5 --force",
}
POLL_S = 0.05


@dataclass
class Phase:
    name: str
    t0: float
    seconds: float = 0.0
    max_rss_mib: float = 0.0  # sampled VmRSS
    hwm_mib: float = 0.0  # VmHWM when the phase ended


@dataclass
class StageRun:
    stage: str
    wall_s: float
    peak_mib: float
    phases: list[Phase] = field(default_factory=list)


def cli() -> list[str]:
    script = Path(sys.executable).parent / "seqclean"
    return [str(script)] if script.exists() else [sys.executable, "-m", "seqclean.cli"]


def _status_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a live process in MiB; zeros once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0, 0.0
    vals = {
        k: float(v.split()[0]) / 1024
        for k, v in (ln.split(":", 1) for ln in text.splitlines() if ":" in ln)
        if k in ("VmRSS", "VmHWM")
    }
    return vals.get("VmRSS", 0.0), vals.get("VmHWM", 0.0)


def run_stage(stage: str, argv: list[str]) -> StageRun:
    """Run one stage, sampling its memory by phase; raises with its stderr tail if it fails."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [*cli(), stage, *argv, "--log-format", "json"],
        stderr=subprocess.PIPE,
        text=True,
        stdout=subprocess.DEVNULL,
        env=env,
    )
    phases = [Phase("start", 0.0)]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss, hwm = _status_mib(proc.pid)
            ph = phases[-1]
            ph.max_rss_mib, ph.hwm_mib = max(ph.max_rss_mib, rss), max(ph.hwm_mib, hwm)
            time.sleep(POLL_S)

    def new_phase(name: str) -> None:
        now = time.perf_counter() - t0
        rss, hwm = _status_mib(proc.pid)
        phases[-1].seconds = now - phases[-1].t0
        phases[-1].hwm_mib = max(phases[-1].hwm_mib, hwm)
        phases.append(Phase(name, now, max_rss_mib=rss, hwm_mib=hwm))

    poller = threading.Thread(target=sample, daemon=True)
    poller.start()
    tail: list[str] = []
    assert proc.stderr is not None
    for line in proc.stderr:
        tail = (tail + [line])[-20:]
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            continue
        task = str(ev.get("task", "")).split(" | ")[0]
        if ev.get("event") != "progress" or not task:
            continue
        if task not in {p.name for p in phases}:
            if phases[-1].name.startswith("after "):
                phases[-1].name = task  # the gap after a finished task is the next one's set-up: count it there
            else:
                new_phase(task)
        total = ev.get("total")
        if task == phases[-1].name and total is not None and ev.get("done", 0) >= total:
            new_phase(f"after {task}")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    done.set()
    poller.join()
    phases[-1].seconds = wall - phases[-1].t0
    peak = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    phases[-1].hwm_mib = max(phases[-1].hwm_mib, peak)
    if proc.returncode != 0:
        raise RuntimeError(f"seqclean {stage} exited {proc.returncode}:\n{''.join(tail)}")
    return StageRun(stage, wall, peak, phases)


def stage_argv(stage: str, data: Path, root: Path, extra: str) -> list[str]:
    work, out = root / "work", root / "out"
    if stage == "embed":
        base = ["--interactions", str(data / "interactions"), "--items", str(data / "items.parquet")]
        return [*base, "--workdir", str(work), *shlex.split(extra)]
    if stage == "score":
        return ["--workdir", str(work), "--rerun", *shlex.split(extra)]
    return ["--workdir", str(work), "--out", str(out), "--rerun", *shlex.split(extra)]


def bench_log(data: Path, root: Path, stages: list[str], extra: dict[str, str]) -> tuple[int, list[StageRun]]:
    rows = int(pl.scan_parquet(data / "interactions" / "*.parquet").select(pl.len()).collect().item())
    if "embed" in stages and (root / "work").exists():
        shutil.rmtree(root / "work")  # no semantic cache, no reused stage: the whole embed is timed
    runs = []
    for stage in stages:
        runs.append(run_stage(stage, stage_argv(stage, data, root, extra[stage])))
        r = runs[-1]
        phases = "; ".join(f"{p.name} {p.seconds:.1f} s {p.hwm_mib:.0f} MiB" for p in r.phases)
        print(
            f"# {data.name} {stage}: {r.wall_s:.1f} s, {rows / r.wall_s:,.0f} interactions/s, "
            f"peak RSS {r.peak_mib:.0f} MiB ({phases})",
            flush=True,
        )
    return rows, runs


def report(results: list[tuple[Path, int, list[StageRun]]]) -> str:
    out = [
        "| log | interactions | stage | wall (s) | interactions/s | peak RSS (MiB) | phases: seconds, max sampled "
        "RSS / high-water mark at its end (MiB) |",
        "| --- | ---: | --- | ---: | ---: | ---: | --- |",
    ]
    for data, rows, runs in results:
        for r in runs:
            phases = "; ".join(f"{p.name} {p.seconds:.1f} s, {p.max_rss_mib:.0f}/{p.hwm_mib:.0f}" for p in r.phases)
            out.append(
                f"| {data.name} | {rows:,} | {r.stage} | {r.wall_s:.1f} | {rows / r.wall_s:,.0f} "
                f"| {r.peak_mib:.0f} | {phases} |"
            )
    if len(results) > 1:
        base_data, base_rows, base_runs = min(results, key=lambda x: x[1])
        out += [
            "",
            f"Ratios against {base_data.name} ({base_rows:,} interactions):",
            "",
            "| log | rows ratio | stage | peak RSS ratio | throughput ratio |",
            "| --- | ---: | --- | ---: | ---: |",
        ]
        base = {r.stage: r for r in base_runs}
        for data, rows, runs in results:
            for r in runs:
                b = base[r.stage]
                out.append(
                    f"| {data.name} | {rows / base_rows:.1f}x | {r.stage} | {r.peak_mib / b.peak_mib:.2f}x "
                    f"| {(rows / r.wall_s) / (base_rows / b.wall_s):.2f}x |"
                )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, action="append", required=True, help="a bench.synthetic output dir")
    ap.add_argument("--workdir", type=Path, required=True, help="root of the per-log workdirs and outputs")
    ap.add_argument("--stages", default=",".join(STAGES), help="comma-separated, in order")
    for s in STAGES:
        ap.add_argument(f"--{s}-args", default=DEFAULT_ARGS[s], help=f"extra options of `seqclean {s}`")
    args = ap.parse_args(argv)
    stages = [s for s in args.stages.split(",") if s]
    if not stages or any(s not in STAGES for s in stages):
        raise SystemExit(f"--stages {args.stages}: choose from {','.join(STAGES)}")
    extra = {s: getattr(args, f"{s}_args") for s in STAGES}
    print(machine_line(), flush=True)
    print(f"# cli: {' '.join(cli())}; " + "; ".join(f"{s} {extra[s]}" for s in stages), flush=True)
    results = []
    for data in args.data:
        rows, runs = bench_log(data, args.workdir / data.name, stages, extra)
        results.append((data, rows, runs))
    print(report(results))


if __name__ == "__main__":
    main()
