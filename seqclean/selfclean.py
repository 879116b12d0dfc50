"""The self-cleaning round of `seqclean score --rounds 2` (LLM4DSR's and IADSR's "denoise, then retrain").

Why: the backbone and the detector both learn from the noisy log itself, so the noise they were trained on
looks normal to them. A second round drops the first round's confident noise (the top
`estimated_noise_rate` share by `noise_score`), trains a new backbone on the rest (same items, options and
seed, written to `workdir/backbone-clean/`), refits the alignment and the detector with it, and re-scores the
*full* log, dropped rows included. Measured in docs/quality.md ("Self-cleaning round")."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from seqclean.config import ROUNDS
from seqclean.decoys import AUTO_MAX_MEAN_LENGTH, read_decoys
from seqclean.errors import UsageError
from seqclean.interests import Segments
from seqclean.io import ROW_INDEX, read_users
from seqclean.progress import ProgressFn
from seqclean.scorers.base import Scorer
from seqclean.workdir import BACKBONE_DIR, CLEAN_BACKBONE_DIR, SEQUENCES, Workdir


def check_rounds(rounds: str | int, scorer: str) -> None:
    """Usage errors (exit 2) before any work."""
    value = str(rounds).strip().lower()
    if value not in ROUNDS:
        raise UsageError(f"--rounds {rounds}: give 1 (no self-cleaning), 2, 3 or auto")
    if value not in ("auto", "1") and scorer != "iadsr":
        raise UsageError(
            f"--rounds {rounds}: --scorer {scorer} has no backbone to retrain; use --rounds 1 or --scorer iadsr"
        )


def resolve_rounds(rounds: str | int, scorer: str, manifest: dict[str, Any]) -> tuple[int, str]:
    """(rounds to run, why). `auto`: 1 when the backbone was trained with decoys (`seqclean.decoys`: they repair
    the noise-share estimate that the second round was for, and a second round makes it overshoot); else 2 when
    users average fewer than `AUTO_MAX_MEAN_LENGTH` interactions and the workdir's backbone was trained by
    seqclean, else 1. Short sequences are where round 1's backbone is weakest
    and its noise-share estimate lowest (docs/quality.md, "Self-cleaning round"); on long ones the second round
    gained little for about twice the cost."""
    if str(rounds).strip().lower() != "auto":
        return int(rounds), "--rounds"
    emb = manifest.get("embed") or {}
    mean = float(emb.get("n_interactions", 0)) / max(int(emb.get("n_users", 1)), 1)
    trained = (manifest.get("backbone") or {}).get("kind") not in (None, "byo")
    if scorer == "iadsr" and int((manifest.get("backbone") or {}).get("decoys", 0)) > 0:
        return 1, "auto: the backbone was trained with decoys (the noise share is read against fitted noise)"
    if scorer == "iadsr" and trained and mean < AUTO_MAX_MEAN_LENGTH:
        return 2, f"auto: {mean:.1f} interactions per user (< {AUTO_MAX_MEAN_LENGTH:g})"
    reason = f"{mean:.1f} interactions per user" if trained else "no backbone trained by seqclean"
    return 1, f"auto: {reason}" if scorer == "iadsr" else f"auto: --scorer {scorer}"


def top_share(row_index: np.ndarray, scores: np.ndarray, share: float) -> np.ndarray:
    """The input row indices of the top `share` of rows by score (ties: earlier rows first), sorted."""
    k = int(round(min(max(share, 0.0), 1.0) * scores.size))
    order = np.lexsort((row_index, -scores))[:k]
    return np.sort(row_index[order])


def round_scores(
    scorer: Any, seq_path: Path, bounds: Sequence[tuple[int, int]], progress: ProgressFn
) -> tuple[np.ndarray, np.ndarray]:
    """(row_index, noise_score as float32) of every row, chunk by chunk (only the score: no suggestions, no
    columns). 12 bytes a row: the one whole-log array of `score` (docs/scale.md)."""
    rows, scores = [], []
    for lo, hi in bounds:
        frame = read_users(seq_path, lo, hi)
        segs = Segments.from_sorted_ids(frame["uid"].to_numpy())
        scores.append(scorer.noise_scores(frame["iid"].to_numpy().astype(np.int64), segs).astype(np.float32))
        rows.append(frame[ROW_INDEX].to_numpy().astype(np.int64))
        progress("self-cleaning: score users", hi, bounds[-1][1])
    return np.concatenate(rows or [np.zeros(0, np.int64)]), np.concatenate(scores or [np.zeros(0)])


def self_clean(
    wd: Workdir,
    manifest: dict[str, Any],
    scorer: Scorer,
    make_scorer: Callable[[Path], Scorer],
    fit: Callable[[Scorer], None],
    bounds: Sequence[tuple[int, int]],
    rounds: int,
    progress: ProgressFn,
) -> tuple[Scorer, dict[str, Any]]:
    """Rounds 2.. (see the module docstring); returns the last round's fitted scorer and the summary section."""
    from seqclean.backbone.config import BackboneConfig
    from seqclean.backbone.train import train_backbone

    section = manifest["backbone"]
    if section.get("kind") == "byo":
        raise UsageError(
            "--rounds 2 retrains the backbone, but this workdir's vectors came from --collab-embeddings; use --rounds 1"
        )
    decoys = read_decoys(wd.file(BACKBONE_DIR))  # the same decoys again, so the detector finds fitted ones
    cfg = BackboneConfig(**section["config"])
    if decoys is None:  # a backbone trained without decoys: none in this round's either
        cfg = replace(cfg, decoys="0")
    seq_path = wd.file(SEQUENCES)
    history: list[dict[str, Any]] = []
    for r in range(2, rounds + 1):
        est = float(scorer.fit_report["estimated_noise_rate"])
        row_index, scores = round_scores(scorer, seq_path, bounds, progress)
        drop = top_share(row_index, scores, est)
        info = train_backbone(
            cfg,
            wd.path,
            manifest["columns"]["item"],
            progress,
            exclude_rows=drop,
            out_name=CLEAN_BACKBONE_DIR,
            decoys=decoys,
        )
        history.append(
            {
                "round": r - 1,
                "estimated_noise_rate": round(est, 6),
                "dropped": int(drop.size),
                "backbone_valid": info["valid"],
                "backbone_best_epoch": info["best_epoch"],
            }
        )
        scorer = make_scorer(wd.file(CLEAN_BACKBONE_DIR))
        fit(scorer)
    final = round(float(scorer.fit_report["estimated_noise_rate"]), 6)
    return scorer, {"by_round": history, "estimated_noise_rate": final}


def clean_backbone_files(wd: Workdir) -> list[Path]:
    """The files of the self-cleaning round's backbone (for the score stage's record)."""
    d = wd.file(CLEAN_BACKBONE_DIR)
    return sorted(p for p in d.rglob("*") if p.is_file()) if d.is_dir() else []
