"""The evaluation run: plant (optional), embed + score the noisy log, build every arm, train, report.

The scorer only ever sees the noisy log (a Parquet file under OUT/inputs, or the user's own file when
nothing is planted) and the workdir; planted labels stay in memory until the report and are written to
OUT/planted_labels.parquet, which no stage reads.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import polars as pl

from seqclean.errors import InputDataError
from seqclean.evaluate.config import SINGLE_SPACE, EvaluateConfig, EvaluateResult
from seqclean.evaluate.downstream import TrainResult, train_and_test
from seqclean.evaluate.plant import plant_noise
from seqclean.evaluate.protocol import (
    Arm,
    Split,
    labelled_rows,
    make_split,
    random_rows,
    targets,
    top_k_rows,
    training_sequences,
)
from seqclean.evaluate.results import build_report, detection
from seqclean.evaluate.stages import (
    embed_and_score,
    export_recbole,
    filter_arm,
    item_col_of,
    read_labels,
    same_frame,
    scores_by_row,
)
from seqclean.io import input_errors, scan_table, write_json, write_parquet
from seqclean.progress import ProgressFn, no_progress


def evaluate(cfg: EvaluateConfig, progress: ProgressFn = no_progress) -> EvaluateResult:
    """Run the whole comparison and write OUT/evaluation.json and OUT/evaluation.md."""
    from seqclean.embed_inputs import EmbedConfig, scan_log
    from seqclean.evaluate.report import render_markdown
    from seqclean.readers import resolve_columns

    cfg.validate()
    t_start, c_start = time.perf_counter(), time.process_time()
    timings: dict[str, float] = {}
    with input_errors(cfg.interactions):
        raw = scan_table(cfg.interactions, what="interactions")
        user, item, tcol = resolve_columns(cfg.interactions, raw, cfg.user_col, cfg.item_col, cfg.time_col)
    # embed's own checks (columns, types, empty, nulls) on the user's file, before planting writes anything
    checked = scan_log(
        EmbedConfig(cfg.interactions, cfg.items, cfg.workdir, user_col=user, item_col=item, time_col=tcol)
    )
    with input_errors(cfg.interactions):
        log = checked.collect()
    with input_errors(cfg.items):
        items_lf = scan_table(cfg.items, what="items")
        item_ids = items_lf.select(pl.col(item_col_of(cfg.items, items_lf, item))).collect().to_series()
    catalogue = (
        pl.DataFrame({item: item_ids.cast(log[item].dtype, strict=False)})
        .unique()
        .sort(item)
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("iid"))
    )
    n_items = catalogue.height

    clean_split = make_split(log, user, item, tcol, catalogue)
    if (clean_split.iid < 0).any() or np.isnan(clean_split.iid.astype(float)).any():
        raise InputDataError(f"{cfg.interactions}: items missing from {cfg.items}; add them to the item table")
    eligible = clean_split.training_by_row(log.height)
    labels: pl.DataFrame | None = None
    out = cfg.out
    out.mkdir(parents=True, exist_ok=True)
    if cfg.plant != "none":
        noisy, labels = plant_noise(log, cfg.ratio, cfg.plant, cfg.plant_seed, user, item, tcol, eligible=eligible)
        noisy_path = out / "inputs" / "interactions.parquet"
        if not (noisy_path.exists() and same_frame(noisy_path, noisy)):  # unchanged: embed's record stays valid
            write_parquet(noisy, noisy_path)
    else:
        noisy, noisy_path = log, cfg.interactions
        if cfg.labels is not None:
            labels = read_labels(cfg.labels, log, user, tcol)
    split = make_split(noisy, user, item, tcol, catalogue)
    tg = targets(split)
    ref = targets(clean_split)
    if not (np.array_equal(tg.valid, ref.valid) and np.array_equal(tg.test, ref.test)):
        raise AssertionError("planting changed a validation or test target")

    t0, c0 = time.perf_counter(), time.process_time()
    reused = embed_and_score(cfg, noisy_path, user, item, tcol, progress)
    timings["embed_and_score_s"] = round(time.perf_counter() - t0, 1)
    timings["embed_and_score_cpu_s"] = round(time.process_time() - c0, 1)
    scores = scores_by_row(cfg.workdir, noisy.height)

    # --- arms
    n_rows = noisy.height
    t0 = time.perf_counter()
    sc_removed, sc_summary = filter_arm(cfg, "remove")
    rep_removed, rep_summary, replaced = filter_arm(cfg, "replace", catalogue=catalogue, item=item)
    timings["filter_s"] = round(time.perf_counter() - t0, 1)
    k = len(sc_removed)
    arms: list[tuple[Arm, Split]] = []
    if cfg.plant != "none":
        arms.append((Arm("clean", note="the log before planting"), clean_split))
    arms.append((Arm("noisy" if cfg.plant != "none" else "raw", note="no cleaning"), split))
    arms.append((Arm("seqclean", removed=sc_removed, note=sc_summary["rule"]["name"]), split))
    arms.append((Arm("seqclean_replace", removed=rep_removed, replaced=replaced, note="--mode replace"), split))
    arms.append((Arm("random", removed=random_rows(split, n_rows, k, cfg.plant_seed + 1), note=f"{k} rows"), split))
    for name, (col, sign) in SINGLE_SPACE.items():
        arms.append((Arm(name, removed=top_k_rows(split, sign * scores[col], k), note=f"top {k} by {col}"), split))
    if labels is not None:  # built after scoring: the labels still never reach the scorer
        arms.append((Arm("oracle", removed=labelled_rows(labels, split, n_rows), note="perfect detection"), split))
    sweep: list[tuple[float, str, Arm]] = []
    for share in cfg.sweep:
        ks = int(round(share * n_rows))
        if ks == 0:
            continue
        sweep.append(
            (share, "seqclean", Arm(f"sweep_seqclean_{share:g}", removed=top_k_rows(split, scores["noise_score"], ks)))
        )
        sweep.append(
            (
                share,
                "random",
                Arm(f"sweep_random_{share:g}", removed=random_rows(split, n_rows, ks, cfg.plant_seed + 1)),
            )
        )

    # --- train every arm with every seed
    sweep_seeds = cfg.sweep_seed_count
    jobs = [(a, s, cfg.seeds) for a, s in arms] + [(a, split, sweep_seeds) for _, _, a in sweep]
    total = sum(n for _, _, n in jobs)
    results: dict[str, list[TrainResult]] = {}
    done = 0
    t0 = time.perf_counter()
    tasks = []
    for arm, sp, n_seeds in jobs:
        seqs = training_sequences(sp, arm)
        results[arm.name] = []
        tasks += [(arm.name, (cfg.downstream, n_items, seqs, tg.valid, tg.test, s)) for s in range(n_seeds)]
    progress("downstream", 0, total)
    for (name, _), res in zip(tasks, _train_all([t for _, t in tasks], cfg.train_jobs), strict=True):
        results[name].append(res)
        done += 1
        progress(f"downstream | {name}", done, total)
    timings["downstream_s"] = round(time.perf_counter() - t0, 1)
    timings["downstream_cpu_s"] = round(sum(r.cpu_seconds for rs in results.values() for r in rs), 1)
    timings["trainings"] = total
    timings["mean_training_s"] = round(timings["downstream_s"] / max(total, 1), 1)

    if cfg.export_recbole:
        export_recbole(cfg, arms, tg, catalogue, item)

    det = detection(labels, split, scores, sc_removed, n_rows) if labels is not None else None
    if labels is not None and cfg.plant != "none":
        write_parquet(labels, out / "planted_labels.parquet")
    timings["total_s"] = round(time.perf_counter() - t_start, 1)
    timings["total_cpu_s"] = round(
        time.process_time() - c_start + (timings["downstream_cpu_s"] if cfg.train_jobs > 1 else 0), 1
    )
    timings["train_jobs"] = cfg.train_jobs
    report = build_report(cfg, arms, sweep, results, det, sc_summary, rep_summary, k, n_rows, split, timings, reused)
    md = render_markdown(report)
    write_json(report, out / "evaluation.json")
    (out / "evaluation.md").write_text(md)
    return EvaluateResult(report=report, markdown=md)


def _train_one(args: tuple[Any, ...]) -> TrainResult:
    cfg, n_items, seqs, valid, test, seed = args
    return train_and_test(cfg, n_items, seqs, valid, test, seed=seed)


def _train_all(tasks: list[tuple[Any, ...]], jobs: int) -> Iterator[TrainResult]:
    """Every training, in order; with jobs > 1 in that many worker processes (each with the configured torch
    threads). Results do not depend on `jobs`: each training is seeded on its own."""
    if jobs <= 1:
        for t in tasks:
            yield _train_one(t)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
        yield from pool.map(_train_one, tasks)
