"""Options of the full scorer, the component columns it writes, and how it reads a sample of sequences."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from seqclean.config import DEFAULTS
from seqclean.features import COLD_FEATURES, FULL_FEATURES
from seqclean.interests import Segments

COMPONENT_COLUMNS = tuple(dict.fromkeys(FULL_FEATURES + COLD_FEATURES + ("iadsr_score",)))
"""Features written to scores.parquet next to noise_score, so that every decision can be explained."""


@dataclass
class IadsrOptions:
    fit_users: int = DEFAULTS.score.fit_users
    corruption_rate: float = 0.15
    cold_k: float = DEFAULTS.score.cold_k
    probe_items: int = 256
    members: int = 2
    steps: int = 1500
    mlp_weight: float = 0.0
    """Share of the per-interaction MLP detector (features only) in the raw score; the rest is the sequence model."""
    semantic_agreement: float = 0.5
    """Exponent a of the semantic head in the raw score, `p * p_sem ** a` (after the end stack, before the
    calibration; the noise share is still estimated from `p`): a soft AND, so an item ranks high only when its
    text disagrees with the user too (`detector.agreement_report`). 0 = the detector alone."""
    item_calibration: str = "none"
    """Calibrate cold and warm items apart (`calibration.fit_item_group_calibrations`): none, mix, data, min,
    warm, odds or odds_down. Off by default: each mode costs some noise kind (docs/quality.md)."""
    decoys: str = "stack"
    """What the detector trains on when the backbone was trained with decoys (`seqclean.decoys`: noise it has
    fitted, as it has fitted the log's own): `stack` (the decoys with fresh corruptions on top), `decoys`, or
    `fresh` (no decoys anywhere, as for a backbone without them). Early stopping and the end stack then read the
    held-out users' decoys. `scorers/draws.py` says why; docs/quality.md, "Decoys", what each measured."""
    decoys_calibration: str = "between"
    """The held-out draw the calibration reads the noise share and the posterior against (with decoys): `stack`,
    `decoys`, or `between` (the posterior against `stack`, the share halfway between its reads against `stack`
    and the decoys alone: `draws.share_between`)."""
    end_stack_draws: int = 8
    """Held-out corruption draws the end stack (`end_stack.py`) is fitted on; 0 = no stack."""
    detector: dict[str, Any] = field(default_factory=dict)  # other SeqDetectorOptions (experiments)
    suggest_min_score: float = 0.1
    threads: int = 0  # threads scoring parts of a chunk (`scorers.parts`; 0: one per core): not in the results
    seed: int = DEFAULTS.general.seed
    device: str = DEFAULTS.general.device


def sequences_of(frame: pl.DataFrame) -> tuple[np.ndarray, Segments, list[np.ndarray]]:
    """iid array, segments and per-user iid arrays of a frame sorted by (uid, position)."""
    uid = frame["uid"].to_numpy()
    iid = frame["iid"].to_numpy().astype(np.int64)
    segs = Segments.from_sorted_ids(uid)
    seqs = np.split(iid, segs.start[1:]) if iid.size else []
    return iid, segs, seqs


def fit_sample(seq_path: Path, users: np.ndarray, backbone: Path | None) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The fit users' rows (uid, position, iid, row_index; sorted) and the backbone's decoys among them (None
    when `backbone` (a backbone directory or the workdir) is None or was trained without decoys)."""
    from seqclean.decoys import read_decoys

    frame = (
        pl.scan_parquet(seq_path)
        .filter(pl.col("uid").is_in(pl.Series(users.astype(np.int32)).implode()))
        .select("uid", "position", "iid", *(["row_index"] if "row_index" in pl.read_parquet_schema(seq_path) else []))
        .sort("uid", "position")
        .collect()
    )
    return frame, None if backbone is None else read_decoys(backbone, users)
