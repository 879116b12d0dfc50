"""Stage 2, `seqclean score`: score every interaction's noise probability, in chunks of whole users.

Reads the workdir written by `embed`; writes `scores.parquet`, `item_report.parquet` and `summary.json`. Memory
is bounded by the chunk size and the catalogue, not by the log: each chunk of users is read with a predicate on
`uid`, scored, appended to the output, and folded into the report accumulators.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from seqclean.config import DEFAULTS
from seqclean.errors import InputDataError, MissingInputError, UsageError
from seqclean.gate import Floors, self_check
from seqclean.interests import Segments
from seqclean.io import ROW_INDEX, atomic_path, read_users, write_json, write_parquet
from seqclean.progress import ProgressFn, no_progress
from seqclean.ray_engine import check_engine
from seqclean.report import ItemAccumulator, SummaryAccumulator
from seqclean.runtime import release_memory
from seqclean.scorers import SCORERS
from seqclean.scorers.base import DEFAULT_THRESHOLD, REQUIRED_COLUMNS, Context, Scorer, ScorerOptions
from seqclean.scorers.parts import check_chunking
from seqclean.selfclean import check_rounds, clean_backbone_files, resolve_rounds, self_clean
from seqclean.stages import fingerprint, is_complete, kill_point, locked, reject_file, stage_record
from seqclean.workdir import (
    CLEAN_BACKBONE_DIR,
    ITEM_REPORT,
    ITEMS,
    MANIFEST,
    SCORE_SUMMARY,
    SCORES,
    SEMANTIC,
    SEQUENCES,
    Workdir,
    workdir_errors,
)


@dataclass
class ScoreConfig:
    workdir: Path
    scorer: str = DEFAULTS.score.scorer
    chunk_users: int = DEFAULTS.score.chunk_users
    threads: int = DEFAULTS.score.score_threads  # per chunk (`scorers.parts`); not in the fingerprint: same bits
    threshold: float = DEFAULT_THRESHOLD
    cold_max_interactions: int = 10
    fit_users: int = DEFAULTS.score.fit_users
    cold_k: float = DEFAULTS.score.cold_k
    device: str = DEFAULTS.general.device
    seed: int = DEFAULTS.general.seed
    floors: Floors = field(default_factory=Floors)  # self-check gate (seqclean.gate); part of the stage's options
    rerun: bool = DEFAULTS.general.rerun  # recompute even when the workdir holds complete scores for these inputs
    engine: str = DEFAULTS.general.engine  # local, or ray: chunks scored by a Ray actor pool (same files)
    ray_address: str | None = DEFAULTS.general.ray_address  # None: RAY_ADDRESS, else a local Ray instance
    ray_actors: int = DEFAULTS.general.ray_actors
    rounds: str | int = DEFAULTS.score.rounds  # 1-3 or auto: the self-cleaning round (seqclean.selfclean)


@dataclass
class ScoreResult:
    n_interactions: int
    n_flagged: int
    summary: dict[str, Any]
    reused: bool = False  # the workdir already held complete scores for these inputs and options
    timing: dict[str, Any] = field(default_factory=dict)  # the scorer's fit times (not in summary.json)


def load_context(wd: Workdir, cold_max: int, threshold: float) -> tuple[Context, pl.DataFrame]:
    """The catalogue-sized arrays, aligned by `iid` (row 0 = padding)."""
    cat = pl.read_parquet(wd.require(ITEMS, "embed")).sort("iid")
    sem = pl.read_parquet(wd.require(SEMANTIC, "embed"), columns=["text_hash", "vector"])
    n = cat.height + 1
    by_hash = dict(zip(sem["text_hash"].to_list(), range(sem.height), strict=True))
    vecs = sem["vector"].to_numpy().astype(np.float32)
    semantic = np.zeros((n, vecs.shape[1]), dtype=np.float32)
    semantic[cat["iid"].to_numpy()] = vecs[[by_hash[h] for h in cat["text_hash"].to_list()]]
    count = np.zeros(n, dtype=np.int64)
    count[cat["iid"].to_numpy()] = cat["n_interactions"].to_numpy()
    cold = count < cold_max
    cold[0] = False
    ids = cat.get_column(cat.columns[1])
    item_ids = pl.concat([pl.Series(ids.name, [None], dtype=ids.dtype), ids])
    ctx = Context(semantic=semantic, item_count=count, cold=cold, item_ids=item_ids, threshold=threshold)
    return ctx, cat


def score(cfg: ScoreConfig, progress: ProgressFn = no_progress) -> ScoreResult:
    """Score all interactions in the workdir; see the module docstring."""
    if cfg.scorer not in SCORERS:
        raise UsageError(f"--scorer {cfg.scorer}: unknown; choose one of {', '.join(SCORERS)}")
    if not 0.0 <= cfg.threshold <= 1.0:
        raise UsageError(f"--threshold {cfg.threshold}: must be between 0 and 1")
    check_chunking(cfg.chunk_users, cfg.threads)
    check_engine(cfg.engine, cfg.ray_actors, cfg.ray_address)  # exit 2, or 6 without Ray: before any work
    check_rounds(cfg.rounds, cfg.scorer)
    cfg.floors.validate()
    wd = Workdir(cfg.workdir)
    reject_file(wd.path, "--workdir")
    wd.read_manifest()  # not a workdir: exit 3 before anything is created
    with locked(wd.path):
        return _score_locked(cfg, wd, progress)


def score_fingerprint(cfg: ScoreConfig, manifest: dict[str, Any]) -> str:
    """Scores depend on the embed and backbone stages and every option but the chunk size; the device counts (a fit
    on CUDA states moves ~0.1% of ML-100K's flags, docs/performance.md "On a GPU"), so changing it reruns."""
    stages = manifest.get("stages") or {}
    upstream = {k: (stages.get(k) or {}).get("fingerprint") for k in ("embed", "backbone")}
    options = {
        "scorer": cfg.scorer,
        "threshold": cfg.threshold,
        "cold_max_interactions": cfg.cold_max_interactions,
        "fit_users": cfg.fit_users,
        "cold_k": cfg.cold_k,
        "device": cfg.device,
        "seed": cfg.seed,
        "rounds": cfg.rounds,
        "floors": [cfg.floors.detector_auc, cfg.floors.backbone_lift, cfg.floors.alignment_top1],
    }
    return fingerprint("score", upstream, options)


def _score_locked(cfg: ScoreConfig, wd: Workdir, progress: ProgressFn) -> ScoreResult:
    manifest = wd.read_manifest()
    if "backbone" not in manifest:
        raise MissingInputError(
            f"{wd.file(MANIFEST)}: embed did not finish (no backbone); rerun `seqclean embed` on {wd.path}"
        )
    sfp = score_fingerprint(cfg, manifest)
    if not cfg.rerun and is_complete(wd.path, (manifest.get("stages") or {}).get("score"), sfp):
        try:
            summ = json.loads(wd.file(SCORE_SUMMARY).read_text())
        except (OSError, ValueError) as exc:
            raise InputDataError(f"{wd.file(SCORE_SUMMARY)}: unreadable ({exc}); rerun with --rerun") from exc
        return ScoreResult(n_interactions=summ["interactions"], n_flagged=summ["flagged"], summary=summ, reused=True)
    with workdir_errors(wd.path):
        cols = manifest["columns"]
        seq_path = wd.require(SEQUENCES, "embed")
        ctx, cat = load_context(wd, cfg.cold_max_interactions, cfg.threshold)
        n_users = int(manifest["embed"]["n_users"])
    opts = ScorerOptions(cfg.fit_users, cfg.cold_k, cfg.device, cfg.seed, threads=cfg.threads)
    scorer = SCORERS[cfg.scorer](opts)
    scorer.fit(wd, seq_path, ctx, n_users, progress)
    bounds = chunk_bounds(n_users, cfg.chunk_users)
    rounds, why = resolve_rounds(cfg.rounds, cfg.scorer, manifest)
    cleaning: dict[str, Any] = {"rounds": rounds, "why": why}
    shutil.rmtree(wd.file(CLEAN_BACKBONE_DIR), ignore_errors=True)  # only this run's rounds leave one
    if rounds > 1:
        scorer, more = self_clean(
            wd,
            manifest,
            scorer,
            lambda bb: SCORERS[cfg.scorer](replace(opts, backbone=bb)),
            lambda s: s.fit(wd, seq_path, ctx, n_users, progress),
            bounds,
            rounds,
            progress,
        )
        cleaning |= more
    release_memory()  # the fit's working set (corrupted copies, torch training) is freed: hand it back first

    items = ItemAccumulator(ctx.item_count.size)
    summary = SummaryAccumulator()
    import pyarrow.parquet as pq

    dest = wd.file(SCORES)
    with ExitStack() as engine, atomic_path(dest) as tmp:
        chunks: Iterator[ScoredChunk]
        if cfg.engine == "ray":  # the chunks are scored by an actor pool; written here, in order, as below
            from seqclean.ray_engine import map_chunks_ray

            fn = partial(score_chunk, seq_path.resolve())
            pool = map_chunks_ray(
                fn, (scorer, ctx, cols), bounds, address=cfg.ray_address, actors=cfg.ray_actors, device=cfg.device
            )
            chunks = engine.enter_context(pool)
        else:
            chunks = (score_chunk(seq_path, lo, hi, scorer, ctx, cols) for lo, hi in bounds)
        writer: pq.ParquetWriter | None = None
        try:
            for (_, hi), chunk in zip(bounds, chunks, strict=True):
                _fold(chunk, ctx, items, summary)
                table = chunk.scores.to_arrow()
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
                writer.write_table(table, row_group_size=100_000)
                progress("score users", hi, n_users)
                kill_point("score-chunk")
        finally:
            if writer is not None:
                writer.close()

    report = items.finalize(cat, cols["item"], ctx.cold)
    write_parquet(report, wd.file(ITEM_REPORT))
    summ = summary.finalize()
    summ.update(
        {
            "scorer": cfg.scorer,
            "threshold": cfg.threshold,
            "cold_rule": f"item with fewer than {cfg.cold_max_interactions} interactions in the log",
            "users": n_users,
            "items": cat.height,
            "noise_score": "probability-like score in [0, 1]; higher means noisier",
        }
    )
    if scorer.fit_report:
        summ["detector"] = scorer.fit_report
        if "estimated_noise_rate" in scorer.fit_report:
            summ["estimated_noise_rate"] = scorer.fit_report["estimated_noise_rate"]
    summ["self_clean"] = cleaning
    summ["input_checks"] = manifest.get("input_checks", {})
    summ.update(self_check(cfg.scorer, scorer.fit_report, manifest.get("backbone"), cat.height, cfg.floors))
    write_json(summ, wd.file(SCORE_SUMMARY))
    manifest["score"] = {
        "scorer": cfg.scorer,
        "threshold": cfg.threshold,
        "chunk_users": cfg.chunk_users,
        "cold_max_interactions": cfg.cold_max_interactions,
        "fit_users": cfg.fit_users,
        "cold_k": cfg.cold_k,
        "seed": cfg.seed,
        "rounds": cfg.rounds,
    }
    manifest.setdefault("stages", {})["score"] = stage_record(
        wd.path, sfp, [wd.file(SCORES), wd.file(ITEM_REPORT), wd.file(SCORE_SUMMARY), *clean_backbone_files(wd)]
    )
    wd.write_manifest(manifest)
    kill_point("score")
    timing = dict(getattr(scorer, "timing", {}))
    return ScoreResult(n_interactions=summ["interactions"], n_flagged=summ["flagged"], summary=summ, timing=timing)


@dataclass
class ScoredChunk:
    """One chunk's rows of scores.parquet, and the dense ids the report accumulators fold in."""

    scores: pl.DataFrame
    iid: np.ndarray
    uid: np.ndarray


def chunk_bounds(n_users: int, chunk_users: int) -> list[tuple[int, int]]:
    """[lo, hi) uid ranges of whole users, in the order their rows are written."""
    return [(lo, min(lo + chunk_users, n_users)) for lo in range(0, n_users, chunk_users)]


def score_chunk(seq_path: Path, lo: int, hi: int, scorer: Scorer, ctx: Context, cols: dict[str, Any]) -> ScoredChunk:
    """Read users [lo, hi) (a predicate on `uid`) and score them: the one chunk function of both engines
    (the Ray engine's actors call it too, so the two cannot drift)."""
    frame = read_users(seq_path, lo, hi)
    out = _score_frame(frame, scorer, ctx, cols)
    return ScoredChunk(scores=out, iid=frame["iid"].to_numpy(), uid=frame["uid"].to_numpy())


def _fold(chunk: ScoredChunk, ctx: Context, items: ItemAccumulator, summary: SummaryAccumulator) -> None:
    """Add one chunk to the item report and summary accumulators (on the driver, in chunk order)."""
    is_noisy = chunk.scores["is_noisy"].to_numpy()
    score_arr = chunk.scores["noise_score"].to_numpy()
    items.update(chunk.iid, score_arr, is_noisy)
    segs = Segments.from_sorted_ids(chunk.uid)
    seq_len = segs.length[segs.seg]
    summary.update(score_arr, is_noisy, ctx.cold[chunk.iid], seq_len - 1 - segs.position, seq_len)


def _score_frame(frame: pl.DataFrame, scorer: Scorer, ctx: Context, cols: dict[str, Any]) -> pl.DataFrame:
    """The scorer's columns for one chunk, in the fixed scores.parquet order; optional columns only when given."""
    uid = frame["uid"].to_numpy()
    iid = frame["iid"].to_numpy().astype(np.int64)
    parts = scorer.score_chunk(iid, Segments.from_sorted_ids(uid), ctx)
    missing = [c for c in REQUIRED_COLUMNS if c not in parts]
    if missing:
        raise RuntimeError(f"scorer {scorer.name} returned no {', '.join(missing)} column")
    noise = np.asarray(parts.pop("noise_score"), dtype=np.float64)
    fixed: list[pl.Series] = [
        pl.Series("noise_score", noise, dtype=pl.Float64),
        pl.Series("is_noisy", noise > ctx.threshold, dtype=pl.Boolean),
    ]
    if "uncertainty" in parts:
        fixed.append(pl.Series("uncertainty", np.asarray(parts.pop("uncertainty"), dtype=np.float32)))
    fixed.append(pl.Series("is_cold", ctx.cold[iid], dtype=pl.Boolean))
    if "suggested_iid" in parts:
        sugg = np.asarray(parts.pop("suggested_iid"), dtype=np.int64)
        fixed.append(ctx.item_ids.gather(sugg).alias("suggested_item"))
    if "suggestion_confidence" in parts:
        conf = np.asarray(parts.pop("suggestion_confidence"), dtype=np.float32)
        fixed.append(pl.Series("suggestion_confidence", conf, dtype=pl.Float32))
    return frame.select(cols["user"], cols["item"], cols["time"], ROW_INDEX, "position").with_columns(
        *fixed, *(pl.Series(k, np.asarray(v)) for k, v in parts.items())
    )
