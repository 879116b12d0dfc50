"""Peak RSS of the phases that used to hold the whole log, before (another checkout) and after (this one),
on logs of growing size, as ratios against the smallest log (issue 12: at most 1.2x from 1M to 50M rows).

    PYTHONPATH=. python -m bench.scale_memory --before /tmp/main-checkout --data /tmp/scale-syn/syn1m \
        --data /tmp/scale-syn/syn10m --workdir /tmp/scale-mem [--phases sequences,filter,digest] \
        [--skip-before syn50m:sequences]

Each phase runs in a fresh process (`python -c SNIPPET` with the checkout as its working directory and
`PYTHONPATH`), and its peak RSS is the high-water mark the child reads from `/proc/self/status` (VmHWM) when
it ends: interpreter and libraries included, nothing of this process counted (`ru_maxrss` from `wait4` is
not used: Linux keeps the pre-exec resident set of a forked child in it, i.e. this process's). Phases:
- `sequences`: `embed`'s work before text encoding, as `_embed_stage` does it in each checkout: the log and
  item checks, the catalogue, `sequences.parquet` (the one-pass build, or `write_sequences`), the per-item
  counts and `input_checks`;
- `filter`: `filter_log` (remove mode, threshold 0.9, `--force`, default chunk size) on a stand-in
  workdir: the log's `sequences.parquet` (this checkout's) with stand-in scores, `noise_score` uniform from
  a hash of `row_index` (so about 10% of rows are candidates, as on the synthetic logs' planted noise), since
  scoring 10M rows takes hours on a 2-core machine; the filter's work does not depend on where scores came from;
- `digest`: `backbone.incremental.sequences_digest` (the nightly `update_backbone`'s read of the sequences).
After each phase the two checkouts' outputs are compared byte for byte (`same`). `--skip-before LOG:PHASE`
skips one before run (the one-pass build of 50M rows needs about 12 GiB).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from bench.memory import machine_line
from seqclean.io import ROW_INDEX, file_fingerprint
from seqclean.workdir import WORKDIR_FORMAT

REPO = Path(__file__).resolve().parent.parent
PHASES = ("sequences", "filter", "digest")
TEMPLATE = "{title} | {category}"

_PRELUDE = """import json, sys, time
from pathlib import Path
import polars as pl
a = json.loads(sys.argv[1])
def hwm():
    return int(next(ln for ln in open("/proc/self/status") if ln.startswith("VmHWM")).split()[1])
"""
SNIPPETS = {
    "sequences": _PRELUDE
    + """
from seqclean import embed_inputs as ei
from seqclean.checks import input_checks
from seqclean.io import write_parquet
cfg = ei.EmbedConfig(interactions=Path(a["interactions"]), items=Path(a["items"]), workdir=Path(a["out"]),
                     text_template=a["template"])
t0 = time.perf_counter()
log = ei.scan_log(cfg)
cat = ei.catalogue(cfg, ei.scan_items(cfg, log.collect_schema()[cfg.item_col]))
dest = Path(a["out"]) / "sequences.parquet"
dest.parent.mkdir(parents=True, exist_ok=True)
if hasattr(ei, "sequences"):  # the one-pass build, as _embed_stage ran it
    seq, n_dup = ei.sequences(cfg, log, cat)
    counts = seq.group_by("iid").agg(pl.len().alias("n_interactions"))
    cat = cat.join(counts, on="iid", how="left").with_columns(pl.col("n_interactions").fill_null(0).cast(pl.Int64))
    checks = input_checks(seq, cat.sort("iid"), cfg.time_col, n_dup)
    write_parquet(seq, dest)
    n_users = int(seq["uid"].n_unique())
else:
    from seqclean.embed_sequences import write_sequences
    built = write_sequences(cfg, log, cat, dest)
    cat = cat.with_columns(pl.Series("n_interactions", built.item_counts[1:], dtype=pl.Int64))
    checks = input_checks(pl.scan_parquet(dest), cat, cfg.time_col, built.n_duplicates)
    n_users = built.n_users
res = {"users": n_users, "checks": checks}
print(json.dumps({"hwm_kib": hwm(), "wall_s": time.perf_counter() - t0, "result": res}))
""",
    "filter": _PRELUDE
    + """
from seqclean.filter import FilterConfig, filter_log
t0 = time.perf_counter()
r = filter_log(FilterConfig(workdir=Path(a["workdir"]), out=Path(a["out"]), threshold=0.9, force=True, rerun=True))
print(json.dumps({"hwm_kib": hwm(), "wall_s": time.perf_counter() - t0, "result": {"removed": r.n_removed}}))
""",
    "digest": _PRELUDE
    + """
from seqclean.backbone.incremental import sequences_digest
t0 = time.perf_counter()
d = sequences_digest(Path(a["sequences"]), "item_id", "user_id")
print(json.dumps({"hwm_kib": hwm(), "wall_s": time.perf_counter() - t0, "result": {"digest": d}}))
""",
}
OUTPUTS = {"sequences": ["sequences.parquet"], "filter": ["cleaned.parquet", "removed.parquet", "summary.json"]}


@dataclass
class Run:
    peak_mib: float
    wall_s: float
    result: dict


def run_phase(code: Path, phase: str, args: dict, logs: Path) -> Run:
    """One phase in a fresh process of `code`'s package; raises with its stderr if it fails."""
    logs.mkdir(parents=True, exist_ok=True)
    out_path, err_path = logs / f"{phase}.out", logs / f"{phase}.err"
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", SNIPPETS[phase], json.dumps(args)],
            cwd=code,
            env={**os.environ, "PYTHONPATH": str(code)},
            stdout=out,
            stderr=err,
        )
        proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"{phase} in {code} exited {proc.returncode}:\n{err_path.read_text()[-3000:]}")
    res = json.loads(out_path.read_text().strip().splitlines()[-1])
    return Run(res["hwm_kib"] / 1024, res["wall_s"], res["result"])


def stand_in_workdir(data: Path, sequences: Path, wd: Path) -> None:
    """A workdir `filter` accepts: the log's sequences with stand-in scores (see the module docstring)."""
    wd.mkdir(parents=True, exist_ok=True)
    u = (pl.col(ROW_INDEX).hash(seed=12) % 1_000_003).cast(pl.Float64) / 1_000_003
    scores = pl.scan_parquet(sequences).select(
        "user_id",
        "item_id",
        "timestamp",
        ROW_INDEX,
        "position",
        u.alias("noise_score"),
        (u * 0.1).cast(pl.Float32).alias("uncertainty"),
        pl.lit(False).alias("is_cold"),
    )
    scores.sink_parquet(wd / "scores.parquet", row_group_size=100_000)
    n = int(pl.scan_parquet(sequences).select(pl.len()).collect().item())
    inter = data / "interactions"
    manifest = {
        "workdir_format": WORKDIR_FORMAT,
        "inputs": {"interactions": {"path": str(inter.resolve()), "fingerprint": file_fingerprint(inter)}},
        "columns": {"user": "user_id", "item": "item_id", "time": "timestamp", "text": ["title"]},
        "embed": {"n_interactions": n, "n_input_rows": n, "duplicates": "drop"},
        "score": {"scorer": "stand-in"},
        "stages": {"score": {"fingerprint": "stand-in"}},
    }
    (wd / "manifest.json").write_text(json.dumps(manifest))
    (wd / "summary.json").write_text(json.dumps({"reliable": True}))


def same_files(a: Path, b: Path, names: list[str]) -> str:
    if not names:
        return "-"
    return "same" if all((a / n).read_bytes() == (b / n).read_bytes() for n in names) else "DIFFERENT"


def table(rows: list[dict]) -> str:
    out = [
        "| phase | log | interactions | peak RSS before (MiB) | peak RSS after (MiB) | before vs smallest log "
        "| after vs smallest log | wall before (s) | wall after (s) | outputs |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    first: dict[str, dict] = {}
    for r in rows:
        b0 = first.setdefault(r["phase"], r)
        ratio = {k: (f"{r[k].peak_mib / b0[k].peak_mib:.2f}x" if r[k] and b0[k] else "-") for k in ("before", "after")}
        fmt = {k: (f"{r[k].peak_mib:.0f}" if r[k] else "not run") for k in ("before", "after")}
        wall = {k: (f"{r[k].wall_s:.1f}" if r[k] else "-") for k in ("before", "after")}
        out.append(
            f"| {r['phase']} | {r['log']} | {r['rows']:,} | {fmt['before']} | {fmt['after']} | {ratio['before']} "
            f"| {ratio['after']} | {wall['before']} | {wall['after']} | {r['same']} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, required=True, help="checkout of the code to compare with (e.g. main)")
    ap.add_argument("--data", type=Path, action="append", required=True, help="bench.synthetic outputs, small first")
    ap.add_argument("--workdir", type=Path, required=True, help="where outputs go")
    ap.add_argument("--phases", default=",".join(PHASES))
    ap.add_argument("--skip-before", action="append", default=[], help="LOG:PHASE whose before run is skipped")
    args = ap.parse_args(argv)
    phases = [p for p in args.phases.split(",") if p]
    if not phases or any(p not in PHASES for p in phases):
        raise SystemExit(f"--phases {args.phases}: choose from {','.join(PHASES)}")
    print(machine_line(), flush=True)
    rows = []
    for data in args.data:
        n = int(pl.scan_parquet(data / "interactions" / "*.parquet").select(pl.len()).collect().item())
        root = args.workdir / data.name
        for phase in phases:
            runs: dict[str, Run | None] = {}
            for side, code in (("before", args.before.resolve()), ("after", REPO)):
                out = root / side / phase
                if side == "before" and f"{data.name}:{phase}" in args.skip_before:
                    runs[side] = None
                    continue
                if phase == "filter" and not (root / "stand-in" / "scores.parquet").exists():
                    stand_in_workdir(data, root / "after" / "sequences" / "sequences.parquet", root / "stand-in")
                a = {
                    "interactions": str(data / "interactions"),
                    "items": str(data / "items.parquet"),
                    "template": TEMPLATE,
                    "out": str(out),
                    "workdir": str(root / "stand-in"),
                    "sequences": str(root / "after" / "sequences" / "sequences.parquet"),
                }
                runs[side] = run_phase(code, phase, a, root / "logs" / side)
                r = runs[side]
                print(f"# {data.name} {phase} {side}: {r.peak_mib:.0f} MiB, {r.wall_s:.1f} s, {r.result}", flush=True)
            b, f = runs["before"], runs["after"]
            names = OUTPUTS.get(phase, [])
            same = "-" if b is None else same_files(root / "before" / phase, root / "after" / phase, names)
            if phase == "digest" and b is not None and f is not None:
                same = "same" if b.result == f.result else "DIFFERENT"
            rows.append({"phase": phase, "log": data.name, "rows": n, "before": b, "after": f, "same": same})
    rows.sort(key=lambda r: PHASES.index(r["phase"]))
    print(table(rows))


if __name__ == "__main__":
    main()
