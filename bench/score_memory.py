"""`score`'s memory in one process, step by step, on an embedded workdir: what stays resident for the whole stage
(the context, the fitted scorer) and what a chunk adds, without scoring the whole log (hours at 50M rows).

    python bench/score_memory.py --workdir W [--chunks 2] [--out PREFIX] [--score-threads 0]
    PYTHONPATH=/path/to/other/checkout python bench/score_memory.py --workdir W --out /tmp/before

Run as a script, it scores with the `seqclean` that `PYTHONPATH` points at (so two checkouts can be compared on
the same workdir; the path of the package used is printed). Steps, as `seqclean score` runs them: load the
context, fit the default scorer (`--fit-users` 3,000, seed 0), hand freed memory back (`release_memory`, where the
checkout has it), then score `--chunks` chunks of 5,000 whole users (each in parts on `--score-threads` threads).
After each step it prints the resident set and the high-water mark (`VmRSS`, `VmHWM` from `/proc/self/status`,
MiB). With `--out`, chunk k's output frame is written to PREFIX.k.parquet, so two checkouts' outputs can be
compared (`polars.DataFrame.equals`).
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from dataclasses import fields
from pathlib import Path


def status() -> tuple[int, int]:
    """(VmRSS, VmHWM) of this process in MiB."""
    d = dict(line.split(":", 1) for line in open("/proc/self/status") if line.startswith(("VmRSS", "VmHWM")))
    return int(d["VmRSS"].split()[0]) // 1024, int(d["VmHWM"].split()[0]) // 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--chunks", type=int, default=2)
    ap.add_argument("--out", default=None, help="write chunk k's frame to OUT.k.parquet")
    ap.add_argument("--score-threads", type=int, default=0, help="threads per chunk (`score --score-threads`)")
    a = ap.parse_args()

    import seqclean
    from seqclean.io import read_users
    from seqclean.score import _score_frame, load_context
    from seqclean.scorers import SCORERS
    from seqclean.scorers.base import ScorerOptions
    from seqclean.workdir import SEQUENCES, Workdir

    out: dict[str, object] = {"seqclean": seqclean.__file__}
    wd = Workdir(a.workdir)
    m = wd.read_manifest()
    ctx, _ = load_context(wd, 10, 0.5)
    out["context (RSS, HWM)"] = status()
    t = time.perf_counter()
    extra = {"threads": a.score_threads} if "threads" in {f.name for f in fields(ScorerOptions)} else {}  # older code
    scorer = SCORERS["iadsr"](ScorerOptions(device="cpu", seed=0, **extra))
    scorer.fit(wd, wd.file(SEQUENCES), ctx, int(m["embed"]["n_users"]))
    out["fit s"] = round(time.perf_counter() - t, 1)
    gc.collect()
    out["fit (RSS, HWM)"] = status()
    try:
        from seqclean.runtime import release_memory

        release_memory()
        out["released (RSS, HWM)"] = status()
    except ImportError:  # an older checkout
        pass
    for k in range(a.chunks):
        frame = read_users(wd.file(SEQUENCES), k * 5000, (k + 1) * 5000)
        t = time.perf_counter()
        res = _score_frame(frame, scorer, ctx, m["columns"])
        out[f"chunk {k} s"] = round(time.perf_counter() - t, 1)
        out[f"chunk {k} (RSS, HWM)"] = status()
        if a.out:
            res.write_parquet(f"{a.out}.{k}.parquet")
        del res, frame
        gc.collect()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
