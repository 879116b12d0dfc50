"""The full scorer (`--scorer iadsr`, the default): IADSR interest alignment + a self-supervised,
calibrated detector (LLM4DSR's corruption task). See docs/method.md.

`fit` runs once per `score` call on a seeded sample of whole users (so results do not depend on the chunk
size); `score_chunk` is then a pure function of one chunk of whole users.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from seqclean.align import Alignment, fit_alignment
from seqclean.detector import Detector, MLPEnsemble, corrupt, fit_calibration, train_ensemble
from seqclean.errors import MissingInputError
from seqclean.features import (
    COLD_FEATURES,
    COLLAB_FEATURES,
    FULL_FEATURES,
    SEMANTIC_FEATURES,
    WINDOW,
    Spaces,
    compute_features,
    interest_pairs,
)
from seqclean.interests import Segments, l2_normalise, shift_back, window_mean
from seqclean.metrics import roc_auc
from seqclean.progress import ProgressFn, no_progress
from seqclean.scorers.base import Context
from seqclean.suggest import suggest_replacements
from seqclean.workdir import Workdir

COMPONENT_COLUMNS = tuple(dict.fromkeys(FULL_FEATURES + COLD_FEATURES + ("iadsr_score",)))
"""Features written to scores.parquet next to noise_score, so that every decision can be explained."""


@dataclass
class IadsrOptions:
    fit_users: int = 3000
    corruption_rate: float = 0.15
    cold_k: float = 2.0
    probe_items: int = 256
    members: int = 5
    epochs: int = 4
    suggest_min_score: float = 0.1
    seed: int = 0
    device: str = "auto"


def sequences_of(frame: pl.DataFrame) -> tuple[np.ndarray, Segments, list[np.ndarray]]:
    """iid array, segments and per-user iid arrays of a frame sorted by (uid, position)."""
    uid = frame["uid"].to_numpy()
    iid = frame["iid"].to_numpy().astype(np.int64)
    segs = Segments.from_sorted_ids(uid)
    seqs = np.split(iid, segs.start[1:]) if iid.size else []
    return iid, segs, seqs


def _ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-width probability bins."""
    idx = np.minimum((p * bins).astype(int), bins - 1)
    err = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            err += m.mean() * abs(p[m].mean() - y[m].mean())
    return float(err)


@dataclass
class IadsrScorer:
    """Fitted state: the backbone runner, the spaces, the alignment heads and the detector."""

    name: str = "iadsr"
    options: IadsrOptions = field(default_factory=IadsrOptions)
    runner: Any = None
    spaces: Spaces | None = None
    align: Alignment | None = None
    detector: Detector | None = None
    collab_head: MLPEnsemble | None = None
    semantic_head: MLPEnsemble | None = None
    fit_report: dict[str, Any] = field(default_factory=dict)
    _catalogue: np.ndarray | None = None

    def fit(self, wd: Workdir, seq_path: Path, ctx: Context, n_users: int, progress: ProgressFn = no_progress) -> None:
        """Learn the alignment heads and the detector on a seeded sample of users."""
        from seqclean.backbone.runner import open_backbone

        o = self.options
        semantic, count = ctx.semantic, ctx.item_count
        try:
            self.runner = open_backbone(wd.path, o.device)
        except MissingInputError as exc:
            raise MissingInputError(
                f"{exc}; the iadsr scorer needs the collaborative backbone (or use --scorer baseline-semantic)"
            ) from exc
        col = self.runner.item_embeddings
        n_items = semantic.shape[0] - 1
        rng = np.random.default_rng(o.seed)
        probe = rng.choice(np.arange(1, n_items + 1), size=min(o.probe_items, n_items), replace=False)
        self.spaces = Spaces(sem=semantic, col=col, count=count, probe=np.sort(probe))

        users = np.sort(rng.choice(n_users, size=min(o.fit_users, n_users), replace=False))
        frame = (
            pl.scan_parquet(seq_path)
            .filter(pl.col("uid").is_in(pl.Series(users.astype(np.int32)).implode()))
            .select("uid", "position", "iid")
            .sort("uid", "position")
            .collect()
        )
        iid, segs, seqs = sequences_of(frame)
        progress("fit detector", 1, 5)
        states = self.runner.states_for_sequences(seqs)
        s_sem, s_col, l_sem, l_col = interest_pairs(iid, segs, states, semantic)
        self.align = fit_alignment(s_sem, s_col, l_sem, l_col, seed=o.seed)
        progress("fit detector", 2, 5)

        # split users: train the detector on 80%, measure and estimate the noise prior on the rest
        n_seg = segs.start.size
        held = rng.random(n_seg) < 0.2
        if held.sum() < 1 or (~held).sum() < 1:
            held[:] = False
            held[: max(1, n_seg // 5)] = True
        rows_held = held[segs.seg]

        def corrupted_features(mask: np.ndarray, r: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray]:
            sub_iid = iid[mask]
            sub_segs = Segments.from_sorted_ids(segs.seg[mask])
            c_iid, label = corrupt(sub_iid, sub_segs, n_items, count, r, o.corruption_rate)
            c_seqs = np.split(c_iid, sub_segs.start[1:])
            c_states = self.runner.states_for_sequences(c_seqs)
            assert self.spaces is not None
            feats = compute_features(c_iid, sub_segs, c_states, self.spaces, self.align)
            feats["_count"] = count[c_iid].astype(np.float32)
            return feats, label

        train_f, train_y = corrupted_features(~rows_held, np.random.default_rng(o.seed + 1))
        progress("fit detector", 3, 5)

        def stack(f: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
            return np.stack([f[n] for n in names], axis=1)

        kw = {"members": o.members, "epochs": o.epochs, "seed": o.seed}
        full = train_ensemble(stack(train_f, FULL_FEATURES), train_y, FULL_FEATURES, **kw)
        cold = train_ensemble(stack(train_f, COLD_FEATURES), train_y, COLD_FEATURES, **kw)
        self.collab_head = train_ensemble(stack(train_f, COLLAB_FEATURES), train_y, COLLAB_FEATURES, **kw)
        self.semantic_head = train_ensemble(stack(train_f, SEMANTIC_FEATURES), train_y, SEMANTIC_FEATURES, **kw)
        train_prior = float(train_y.mean())
        det = Detector(full=full, cold=cold, cold_k=o.cold_k)
        progress("fit detector", 4, 5)

        # held-out: detection quality on fresh corruption, then the real log's noise prior
        held_f, held_y = corrupted_features(rows_held, np.random.default_rng(o.seed + 2))
        p_held, _, _ = det.raw(held_f, held_f["_count"])
        real_iid = iid[rows_held]
        real_segs = Segments.from_sorted_ids(segs.seg[rows_held])
        real_f = compute_features(real_iid, real_segs, states[rows_held], self.spaces, self.align)
        p_real, _, _ = det.raw(real_f, count[real_iid].astype(np.float32))
        det.calibration = fit_calibration(p_real, p_held[held_y])
        self.detector = det
        self.fit_report = {
            "fit_users": int(n_seg),
            "fit_interactions": int(iid.size),
            "corruption_rate": o.corruption_rate,
            "train_prior": round(train_prior, 6),
            "estimated_noise_rate": round(det.calibration.prior, 6),
            "heldout_corruption_auc": round(roc_auc(held_y, p_held), 6),
            "heldout_corruption_ece": round(_ece(p_held, held_y.astype(float)), 6),
            "alignment": {
                "infonce_short": round(self.align.loss_short, 4),
                "infonce_long": round(self.align.loss_long, 4),
                "top1_short": round(self.align.top1_short, 4),
                "top1_long": round(self.align.top1_long, 4),
            },
            "backbone": getattr(self.runner, "kind", "unknown"),
            "provider": getattr(self.runner, "provider", "unknown"),
        }
        progress("fit detector", 5, 5)

    def score_chunk(self, iid: np.ndarray, segs: Segments, ctx: Context) -> dict[str, np.ndarray]:
        """noise_score, uncertainty, a replacement suggestion and the component columns for one chunk."""
        assert self.spaces is not None and self.detector is not None and self.align is not None
        assert self.collab_head is not None and self.semantic_head is not None
        seqs = np.split(iid, segs.start[1:]) if iid.size else []
        states = self.runner.states_for_sequences(seqs)
        feats = compute_features(iid, segs, states, self.spaces, self.align)
        count = self.spaces.count[iid].astype(np.float32)
        out = self.detector.predict(feats, count, segs.length[segs.seg].astype(np.float32))
        sem_p, _ = self.semantic_head.predict(np.stack([feats[n] for n in SEMANTIC_FEATURES], axis=1))
        col_p, _ = self.collab_head.predict(np.stack([feats[n] for n in COLLAB_FEATURES], axis=1))
        out["semantic_only_score"] = sem_p.astype(np.float32)
        out["collab_only_score"] = col_p.astype(np.float32)
        for k in COMPONENT_COLUMNS:
            out[k] = feats[k]
        out["suggested_iid"], out["suggestion_confidence"] = self._suggest(
            iid, segs, states, out["noise_score"] >= self.options.suggest_min_score
        )
        return out

    def _suggest(
        self, iid: np.ndarray, segs: Segments, states: np.ndarray, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """LLM4DSR's correction, grounded in the catalogue: the item nearest to the user's interest at j in
        the aligned space (backbone state before j, and the projected semantic context around j), never one
        already in the sequence. Only for `rows` (a catalogue-wide product per row is the costly part):
        elsewhere the suggestion is empty (iid 0, confidence 0)."""
        assert self.spaces is not None and self.align is not None
        if self._catalogue is None:
            col = l2_normalise(self.spaces.col)
            sem = l2_normalise(self.align.project_short(self.spaces.sem))
            self._catalogue = l2_normalise(np.concatenate([col, sem], axis=1))
            self._catalogue[0] = 0.0
        e_sem = self.spaces.sem[iid]
        ctx_sem = self.align.project_short(window_mean(e_sem, segs, WINDOW, WINDOW))
        interest = np.concatenate([l2_normalise(shift_back(states, segs)), l2_normalise(ctx_sem)], axis=1)
        interest[np.linalg.norm(ctx_sem, axis=1) == 0] = 0.0
        best = np.zeros(iid.size, dtype=np.int64)
        conf = np.zeros(iid.size, dtype=np.float32)
        best[rows], conf[rows] = suggest_replacements(interest[rows], self._catalogue, segs.seg[rows], segs.seg, iid)
        return best, conf
