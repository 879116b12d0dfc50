"""Stage 2, `seqclean score`: score every interaction's noise probability, in chunks of whole users.

Reads the workdir written by `embed`; writes `scores.parquet`, `item_report.parquet` and
`summary.json`. Memory is bounded by the chunk size and the catalogue, not by the log: each chunk
of users is read with a predicate on `uid`, scored, appended to the output, and folded into the
report accumulators.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import polars as pl

from seqclean.embed import ITEMS, SEMANTIC, SEQUENCES
from seqclean.errors import UsageError
from seqclean.interests import Segments, leave_one_out_mean, rowwise_cos, window_mean
from seqclean.io import ROW_INDEX, Workdir, atomic_path, write_json, write_parquet
from seqclean.progress import ProgressFn, no_progress
from seqclean.report import ItemAccumulator, SummaryAccumulator
from seqclean.suggest import suggest_replacements

SCORES = "scores.parquet"
ITEM_REPORT = "item_report.parquet"
SUMMARY = "summary.json"
DEFAULT_THRESHOLD = 0.5


@dataclass
class ScoreConfig:
    workdir: Path
    scorer: str = "baseline-semantic"
    chunk_users: int = 5_000
    threshold: float = DEFAULT_THRESHOLD
    cold_max_interactions: int = 10
    seed: int = 0


@dataclass
class Chunk:
    """A bounded batch of whole users, sorted by (uid, position)."""

    uid: np.ndarray
    iid: np.ndarray
    segs: Segments


@dataclass
class Context:
    """Read-only, catalogue-sized data every scorer may use."""

    semantic: np.ndarray  # (n_iid + 1, d) float32, row 0 (padding) zeros, rows L2-normalised
    item_count: np.ndarray  # (n_iid + 1,) interactions per item
    cold: np.ndarray  # (n_iid + 1,) bool
    item_ids: pl.Series | None = None  # (n_iid + 1,) item id by iid, null at 0: maps `suggested_iid` back
    threshold: float = DEFAULT_THRESHOLD  # the scorer's is_noisy threshold (baseline uncertainty uses it)


class Scorer(Protocol):
    name: str

    def score_chunk(self, chunk: Chunk, ctx: Context) -> dict[str, np.ndarray]:
        """Return `noise_score` in [0, 1] (higher = noisier) plus component columns, one per row."""
        ...


class BaselineSemanticScorer:
    """Baseline: semantic-only consistency of an item with the user's other items.

    `sem_long_sim`: cosine of the item's text embedding to the mean of all the user's other items;
    `sem_short_sim`: the same against the 3 items before and 3 after it. The noise score maps their
    mean consistency c in [-1, 1] to (1 - c) / 2. No collaborative signal and no learning: this is the
    reference the full method must beat.

    Also written, for `filter`'s guards and replacement mode:
    - `uncertainty` = 0.5 * e + 0.5 * c, with evidence term e = 1 / sqrt(other items of the user)
      (1 when there are none) and closeness c = max(0, 1 - |noise_score - threshold| / 0.1): thin
      evidence or a score near the scorer's threshold both mean a less certain decision.
    - `is_cold` from the item's interaction count (`cold_max_interactions`).
    - `suggested_iid` / `suggestion_confidence` from `suggest_replacements` with the semantic window
      interest (same window, the row itself excluded), never an item the user already has.
    """

    name = "baseline-semantic"
    window = 3

    def score_chunk(self, chunk: Chunk, ctx: Context) -> dict[str, np.ndarray]:
        v = ctx.semantic[chunk.iid]
        long_sim = rowwise_cos(v, leave_one_out_mean(v, chunk.segs))
        short_sim = rowwise_cos(v, window_mean(v, chunk.segs, self.window, self.window))
        consistency = 0.5 * (long_sim + short_sim)
        noise = np.clip((1.0 - consistency) / 2.0, 0.0, 1.0)
        n_other = (chunk.segs.length[chunk.segs.seg] - 1).astype(np.float64)
        evidence = 1.0 / np.sqrt(np.maximum(n_other, 1.0))
        closeness = np.clip(1.0 - np.abs(noise - ctx.threshold) / 0.1, 0.0, 1.0)
        uncertainty = np.clip(0.5 * evidence + 0.5 * closeness, 0.0, 1.0)
        interest = window_mean(v, chunk.segs, self.window, self.window)
        best, conf = suggest_replacements(interest, ctx.semantic, chunk.segs.seg, chunk.segs.seg, chunk.iid)
        return {
            "noise_score": noise,
            "sem_long_sim": long_sim,
            "sem_short_sim": short_sim,
            "uncertainty": uncertainty.astype(np.float32),
            "is_cold": ctx.cold[chunk.iid],
            "suggested_iid": best,
            "suggestion_confidence": conf,
        }


SCORERS: dict[str, type] = {BaselineSemanticScorer.name: BaselineSemanticScorer}


@dataclass
class ScoreResult:
    n_interactions: int
    n_flagged: int
    summary: dict[str, Any]


def load_context(wd: Workdir, cold_max: int) -> tuple[Context, pl.DataFrame]:
    """The catalogue-sized arrays, aligned by `iid` (row 0 = padding)."""
    cat = pl.read_parquet(wd.require(ITEMS, "embed"))
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
    ids = cat.sort("iid").get_column(cat.columns[1])
    item_ids = pl.concat([pl.Series(ids.name, [None], dtype=ids.dtype), ids])
    return Context(semantic=semantic, item_count=count, cold=cold, item_ids=item_ids), cat


def score(cfg: ScoreConfig, progress: ProgressFn = no_progress) -> ScoreResult:
    """Score all interactions in the workdir; see the module docstring."""
    if cfg.scorer not in SCORERS:
        raise UsageError(f"--scorer {cfg.scorer}: unknown; choose one of {', '.join(SCORERS)}")
    if not 0.0 <= cfg.threshold <= 1.0:
        raise UsageError(f"--threshold {cfg.threshold}: must be between 0 and 1")
    if cfg.chunk_users < 1:
        raise UsageError(f"--chunk-users {cfg.chunk_users}: must be at least 1")
    wd = Workdir(cfg.workdir)
    manifest = wd.read_manifest()
    cols = manifest["columns"]
    seq_path = wd.require(SEQUENCES, "embed")
    ctx, cat = load_context(wd, cfg.cold_max_interactions)
    ctx.threshold = cfg.threshold
    scorer: Scorer = SCORERS[cfg.scorer]()
    n_users = int(manifest["embed"]["n_users"])

    items = ItemAccumulator(ctx.item_count.size)
    summary = SummaryAccumulator()
    import pyarrow.parquet as pq

    dest = wd.file(SCORES)
    with atomic_path(dest) as tmp:
        writer: pq.ParquetWriter | None = None
        try:
            for lo in range(0, n_users, cfg.chunk_users):
                hi = min(lo + cfg.chunk_users, n_users)
                frame = (
                    pl.scan_parquet(seq_path)
                    .filter(pl.col("uid").is_between(lo, hi - 1))
                    .sort(["uid", "position"])
                    .collect()
                )
                out = _score_frame(frame, scorer, ctx, cfg.threshold, cols)
                is_noisy = out["is_noisy"].to_numpy()
                iid = frame["iid"].to_numpy()
                score_arr = out["noise_score"].to_numpy()
                items.update(iid, score_arr, is_noisy)
                summary.update(score_arr, is_noisy, ctx.cold[iid])
                table = out.to_arrow()
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
                writer.write_table(table, row_group_size=100_000)
                progress("score users", hi, n_users)
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
    write_json(summ, wd.file(SUMMARY))
    manifest["score"] = {
        "scorer": cfg.scorer,
        "threshold": cfg.threshold,
        "chunk_users": cfg.chunk_users,
        "cold_max_interactions": cfg.cold_max_interactions,
        "seed": cfg.seed,
    }
    wd.write_manifest(manifest)
    return ScoreResult(n_interactions=summ["interactions"], n_flagged=summ["flagged"], summary=summ)


def _score_frame(
    frame: pl.DataFrame, scorer: Scorer, ctx: Context, threshold: float, cols: dict[str, Any]
) -> pl.DataFrame:
    uid = frame["uid"].to_numpy()
    chunk = Chunk(uid=uid, iid=frame["iid"].to_numpy().astype(np.int64), segs=Segments.from_sorted_ids(uid))
    parts: dict[str, Any] = dict(scorer.score_chunk(chunk, ctx))
    noise = np.asarray(parts.pop("noise_score"), dtype=np.float64)
    sugg = parts.pop("suggested_iid", None)
    if sugg is not None and ctx.item_ids is not None:  # iid -> item id (input dtype), null for "none"
        parts["suggested_item"] = ctx.item_ids.gather(np.asarray(sugg, dtype=np.int64))
    extra = {k: v.alias(k) if isinstance(v, pl.Series) else pl.Series(k, np.asarray(v)) for k, v in parts.items()}
    return frame.select(cols["user"], cols["item"], cols["time"], ROW_INDEX, "position").with_columns(
        pl.Series("noise_score", noise, dtype=pl.Float64),
        pl.Series("is_noisy", noise > threshold, dtype=pl.Boolean),
        *extra.values(),
    )
