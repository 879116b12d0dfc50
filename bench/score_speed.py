"""`seqclean score` throughput, in interactions/s, with and without the backbone forward, against the 100,000/s
target and (with `--baseline REF`) against another commit of seqclean measured in the same run.

    python -m bench.score_speed --workdir W [--users 2000] [--fit-users 1000] [--repeats 3] [--inner 1]
        [--baseline 0b1d402] [--score-threads 0]

W is a workdir that `seqclean embed` has filled. The scorer (the default `iadsr`) is fitted once per checkout
on `--fit-users` users (its fit time is printed: a fixed cost, not per row), then the first `--users` users
(one chunk) are scored `--inner` times per round, `--repeats` rounds, timing:
- `with backbone`: the whole chunk function of `seqclean score` (`score._score_frame`: backbone forward,
  features, detector, reference heads, suggestions, the output frame);
- `backbone forward`: the `states_for_sequences` calls inside it (summed over the chunk's parts, which
  `--score-threads` runs at once: `seqclean.scorers.parts`; a checkout without threads scores in one piece);
- `without backbone`: the same chunk with the backbone's states served from memory.
Wall time and process CPU time (all threads) are both printed; the machine is shared, so checkouts run
alternately (A B A B ...) and the best repeat of each is kept. `--baseline REF` checks REF out into a
temporary git worktree and runs the same measurement there in a subprocess (its `seqclean` imported first).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

TARGET = 100_000
ROOT = Path(__file__).resolve().parent.parent


def measure(workdir: Path, users: int, fit_users: int, repeats: int, device: str, threads: int) -> dict[str, Any]:
    """Fit once, then time the chunk function `repeats` times with and without the backbone forward."""
    import numpy as np

    import seqclean
    from seqclean.io import read_users
    from seqclean.score import _score_frame, load_context
    from seqclean.scorers import SCORERS
    from seqclean.scorers.base import ScorerOptions
    from seqclean.workdir import SEQUENCES, Workdir

    wd = Workdir(workdir)
    manifest = wd.read_manifest()
    ctx, _ = load_context(wd, 10, 0.5)
    extra = {"threads": threads} if "threads" in {f.name for f in fields(ScorerOptions)} else {}  # older checkouts
    scorer: Any = SCORERS["iadsr"](ScorerOptions(fit_users=fit_users, device=device, seed=0, **extra))
    t = time.perf_counter()
    scorer.fit(wd, wd.file(SEQUENCES), ctx, int(manifest["embed"]["n_users"]))
    fit_s = time.perf_counter() - t
    frame = read_users(wd.file(SEQUENCES), 0, users)
    runner = scorer.runner
    forward = runner.states_for_sequences
    spent = {"backbone": 0.0}
    cached: dict[bytes, np.ndarray] = {}

    def key(seqs: Any) -> bytes:  # a part of the chunk (`scorers.parts`): its first user's items and its size
        return bytes(np.asarray([len(seqs), sum(map(len, seqs))])) + (seqs[0].tobytes() if seqs else b"")

    def timed(seqs: Any, *a: Any, **k: Any) -> np.ndarray:
        t0 = time.perf_counter()
        out: np.ndarray = forward(seqs, *a, **k)
        spent["backbone"] += time.perf_counter() - t0  # summed over the parts' threads
        cached[key(seqs)] = out
        return out

    def from_memory(seqs: Any, *a: Any, **k: Any) -> np.ndarray:
        return cached[key(seqs)]

    def run(fn: Any) -> tuple[float, float, float]:
        runner.states_for_sequences = fn
        spent["backbone"] = 0.0
        w, c = time.perf_counter(), time.process_time()
        _score_frame(frame, scorer, ctx, manifest["columns"])
        return time.perf_counter() - w, time.process_time() - c, spent["backbone"]

    run(timed)  # warm-up: sessions, catalogue tables, page faults
    rows: list[dict[str, float]] = []
    for _ in range(repeats):
        wall, cpu, bb = run(timed)
        wall_nb, cpu_nb, _ = run(from_memory)
        rows.append({"wall": wall, "cpu": cpu, "backbone": bb, "wall_nb": wall_nb, "cpu_nb": cpu_nb})
    return {"seqclean": seqclean.__file__, "rows": frame.height, "fit_s": fit_s, "repeats": rows}


def _child(checkout: Path, a: argparse.Namespace) -> dict[str, Any]:
    """One measurement in a fresh process whose `seqclean` is the one in `checkout`."""
    paths = [str(checkout)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))  # the checkout first; keep a --target install
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--workdir", str(a.workdir)]
    cmd += ["--users", str(a.users), "--fit-users", str(a.fit_users), "--repeats", str(a.inner), "--device", a.device]
    cmd += ["--score-threads", str(a.score_threads)]
    out = subprocess.run(cmd, env=env, cwd=checkout, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def _best(results: list[dict[str, Any]]) -> dict[str, float]:
    reps = [r for res in results for r in res["repeats"]]
    best = min(reps, key=lambda r: r["wall"])
    best_nb = min(reps, key=lambda r: r["wall_nb"])
    return best | {"wall_nb": best_nb["wall_nb"], "cpu_nb": best_nb["cpu_nb"], "fit_s": results[0]["fit_s"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--users", type=int, default=2000, help="users in the timed chunk (the first ones)")
    ap.add_argument("--fit-users", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3, help="rounds: each checkout once per round, alternately")
    ap.add_argument("--inner", type=int, default=1, help="timed runs per round (one fit), the best kept")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--score-threads", type=int, default=0, help="threads per chunk (`score --score-threads`; 0: auto)")
    ap.add_argument("--baseline", default=None, help="a git ref of seqclean to measure side by side")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(measure(a.workdir, a.users, a.fit_users, a.repeats, a.device, a.score_threads)))
        return
    checkouts = {"this checkout": ROOT}
    with tempfile.TemporaryDirectory() as tmp:
        if a.baseline:
            base = Path(tmp) / "baseline"
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(base), a.baseline], check=True
            )
            checkouts[f"baseline {a.baseline}"] = base
        try:
            results: dict[str, list[dict[str, Any]]] = {k: [] for k in checkouts}
            for _ in range(a.repeats):  # alternate, so that the machine's load falls on both alike
                for name, path in checkouts.items():
                    results[name].append(_child(path, a))
        finally:
            if a.baseline:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
    _print(results, a)


def _print(results: dict[str, list[dict[str, Any]]], a: argparse.Namespace) -> None:
    n = results["this checkout"][0]["rows"]
    print(
        f"workdir {a.workdir}: {n:,} interactions in the timed chunk ({a.users} users), fit on {a.fit_users} users, "
        f"best of {a.repeats}, device {a.device}, --score-threads {a.score_threads}, "
        f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs"
    )
    print(
        "| checkout | with backbone (rows/s) | vs target | CPU-s per 100k rows | backbone forward (s) "
        "| without backbone (rows/s) | vs target | fit (s) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    best = {k: _best(v) for k, v in results.items()}
    for name, b in best.items():
        rate, rate_nb = n / b["wall"], n / b["wall_nb"]
        print(
            f"| {name} | {rate:,.0f} | {rate / TARGET:.2f}x | {b['cpu'] / n * 1e5:.2f} | {b['backbone']:.2f} "
            f"| {rate_nb:,.0f} | {rate_nb / TARGET:.2f}x | {b['fit_s']:.1f} |"
        )
    if len(best) == 2:
        this, base = best["this checkout"], next(v for k, v in best.items() if k != "this checkout")
        print(
            f"speed-up with backbone {base['wall'] / this['wall']:.2f}x, "
            f"without {base['wall_nb'] / this['wall_nb']:.2f}x "
            f"(CPU time {base['cpu'] / this['cpu']:.2f}x, {base['cpu_nb'] / this['cpu_nb']:.2f}x)"
        )
        # the VM's speed drifts over minutes: the ratio within each round (run back to back) is the steadier one
        pairs = zip(*(results[k] for k in results), strict=True)
        ratios = sorted(_best([b])["wall"] / _best([t])["wall"] for t, b in pairs)
        print(
            f"speed-up with backbone per round: {', '.join(f'{r:.2f}x' for r in ratios)} (median "
            f"{ratios[len(ratios) // 2]:.2f}x)"
        )


if __name__ == "__main__":
    main()
