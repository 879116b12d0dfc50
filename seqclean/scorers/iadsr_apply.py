"""The fitted full scorer applied to chunks: `IadsrScorer`'s per-chunk half (`iadsr.py` holds the fit).

Each chunk is scored in parts of whole users on threads (`scorers.parts`); a row's columns depend only on its own
user's rows, so the parts give the bits of the chunk in one piece, and the chunk those of the whole log.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqclean import seqdetector as sd
from seqclean.align import Alignment
from seqclean.calibration import Calibration, apply_group_calibrations, calibration_groups
from seqclean.detector import Detector, MLPEnsemble
from seqclean.end_stack import EndStack
from seqclean.features import Spaces, compute_features
from seqclean.interests import END_GROUPS, Segments, end_group
from seqclean.scorers.base import Context
from seqclean.scorers.iadsr_options import COMPONENT_COLUMNS, IadsrOptions
from seqclean.scorers.parts import map_parts
from seqclean.suggest import aligned_catalogue, aligned_suggestions, suggestion_pool


class IadsrApply:
    """`score_chunk` and `noise_scores` over the state `IadsrScorer.fit` leaves (declared here, set there)."""

    options: IadsrOptions
    runner: Any
    spaces: Spaces | None
    align: Alignment | None
    seq: sd.SeqDetector | None
    calibration: Calibration | None
    mlp: Detector | None
    group_calibration: list[Calibration]
    end_stack: EndStack | None
    agreement: float
    collab_head: MLPEnsemble | None
    semantic_head: MLPEnsemble | None
    _catalogue: tuple[np.ndarray, np.ndarray | None] | None
    collab_count: np.ndarray | None
    cold: np.ndarray | None

    def noise_scores(self, iid: np.ndarray, segs: Segments) -> np.ndarray:
        """`noise_score` alone for one chunk (the self-cleaning round ranks the log by it), in parts on threads."""
        return map_parts(self._noise_part, iid, segs, self._prepare())

    def _noise_part(self, iid: np.ndarray, segs: Segments) -> np.ndarray:
        return np.clip(self._calibrate(self._evidence(iid, segs)[2][0], iid, segs), 0.0, 1.0)

    def _prepare(self) -> int:
        """Build the lazy state (sessions, catalogue tables) before threads share it; the thread count."""
        assert self.seq is not None
        self._aligned_catalogue(), self.seq.session(), self.runner.prepare()
        return self.options.threads

    def _evidence(self, iid: np.ndarray, segs: Segments) -> tuple[np.ndarray, dict[str, np.ndarray], tuple[Any, ...]]:
        """(backbone states, features, `_raw`'s outputs) of one chunk of whole users."""
        assert self.spaces is not None and self.align is not None
        states = self.runner.states_for_sequences(np.split(iid, segs.start[1:]) if iid.size else [])
        feats = compute_features(iid, segs, states, self.spaces, self.align)
        return states, feats, self._raw(iid, segs, feats)

    def _calibrate(self, p: np.ndarray, iid: np.ndarray, segs: Segments) -> np.ndarray:
        assert self.calibration is not None and self.cold is not None
        cals = self.group_calibration or [self.calibration]
        groups = calibration_groups(end_group(segs), self.cold[iid], len(cals), END_GROUPS)
        return apply_group_calibrations(p, groups, cals)

    def _raw(
        self, iid: np.ndarray, segs: Segments, feats: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(members' mean P(corrupted), end-stacked, times `p_sem ** agreement`; member std; gate w; p_sem, once)."""
        assert self.seq is not None and self.spaces is not None and self.align is not None
        assert self.semantic_head is not None
        sp = self.spaces
        cc = sp.count if self.collab_count is None else self.collab_count
        x = sd.position_inputs(iid, segs, feats, self.seq.spec, sp.col, sp.sem, self._sem_short(), cc)
        probs = self.seq.member_probs(x, segs)
        w = sd.collab_weight(cc[iid], self.seq.spec.cold_k)
        p, std = probs.mean(axis=0), probs.std(axis=0)
        if self.mlp is not None:
            n = cc[iid].astype(np.float32)
            p_mlp = self.mlp.raw(dict(feats, _count=n), n)[0]
            a = self.options.mlp_weight
            p, std = (1 - a) * p + a * p_mlp, np.concatenate([probs, p_mlp[None]], axis=0).std(axis=0)
        p = p if self.end_stack is None else self.end_stack.apply(p, w, segs, feats)
        p_sem = self.semantic_head.predict_features(feats)
        return (p * p_sem**self.agreement if self.agreement > 0 else p), std, w, p_sem

    def score_chunk(self, iid: np.ndarray, segs: Segments, ctx: Context) -> dict[str, np.ndarray]:
        """noise_score, uncertainty, a replacement suggestion and the component columns for one chunk, in parts
        of whole users on `options.threads` threads (`scorers.parts`: the same bits as in one piece)."""
        return map_parts(self._score_part, iid, segs, self._prepare())

    def _score_part(self, iid: np.ndarray, segs: Segments) -> dict[str, np.ndarray]:
        assert self.spaces is not None and self.calibration is not None and self.align is not None
        assert self.collab_head is not None and self.semantic_head is not None
        states, feats, (p, std, w, sem_p) = self._evidence(iid, segs)
        evidence = np.clip((segs.length[segs.seg] - 1) / 4.0, 0.0, 1.0)  # >= 5 interactions = full evidence
        out: dict[str, np.ndarray] = {
            "noise_score": np.clip(self._calibrate(p, iid, segs), 0.0, 1.0),
            "uncertainty": (1.0 - evidence * (1.0 - np.clip(2.0 * std, 0.0, 1.0))).astype(np.float32),
            "collab_weight": w.astype(np.float32),
        }
        out["semantic_only_score"] = sem_p
        out["collab_only_score"] = self.collab_head.predict_features(feats)
        for k in COMPONENT_COLUMNS:
            out[k] = feats[k]
        flag, cat = out["noise_score"] >= self.options.suggest_min_score, self._aligned_catalogue()
        sug = aligned_suggestions(iid, segs, states, flag, *cat, pooled=True)
        out["suggested_iid"], out["suggestion_confidence"] = sug
        return out

    def _aligned_catalogue(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(the catalogue in the aligned space, the projected texts, the candidate pool), built once per fit
        (`suggest.aligned_catalogue` over the pool's rows only, `suggest.suggestion_pool`)."""
        assert self.spaces is not None and self.align is not None
        if self._catalogue is None:
            pool = suggestion_pool(self.spaces.count)
            self._catalogue = aligned_catalogue(self.spaces.col, self._sem_short(), pool), pool
        return self._catalogue[0], self._sem_short(), self._catalogue[1]

    def _sem_short(self) -> np.ndarray:
        """The catalogue's text projected by the short-term head (`features.Tables`)."""
        short = self.spaces.tables(self.align).sem_short if self.spaces else None
        assert short is not None
        return short
