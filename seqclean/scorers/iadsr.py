"""The full scorer (`--scorer iadsr`, the default): IADSR interest alignment + a self-supervised,
calibrated detector (LLM4DSR's corruption task). See docs/method.md.

`fit` runs once per `score` call on a seeded sample of whole users (so results do not depend on the chunk
size); `score_chunk` is then a pure function of one chunk of whole users.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seqclean import seqdetector as sd
from seqclean.align import Alignment, fit_alignment
from seqclean.calibration import (
    Calibration,
    fit_calibration,
    fit_item_group_calibrations,
    item_group_report,
)
from seqclean.detector import Detector, MLPEnsemble, agreement_report, train_head
from seqclean.end_stack import EndStack, fit_end_stack, stack_inputs
from seqclean.errors import MissingInputError
from seqclean.features import (
    COLD_FEATURES,
    COLLAB_FEATURES,
    FULL_FEATURES,
    SEMANTIC_FEATURES,
    Spaces,
    compute_features,
    interest_pairs,
)
from seqclean.interests import END_GROUPS, Segments, end_group, from_end
from seqclean.metrics import ece, roc_auc
from seqclean.progress import ProgressFn, no_progress
from seqclean.scorers.base import Context
from seqclean.scorers.draws import DrawSource, share_between
from seqclean.scorers.iadsr_apply import IadsrApply
from seqclean.scorers.iadsr_options import IadsrOptions, fit_sample, sequences_of
from seqclean.workdir import Workdir, workdir_errors


@dataclass
class IadsrScorer(IadsrApply):
    """Fitted state: the backbone runner, the spaces, the alignment heads and the detector (applied to chunks by
    `IadsrApply`)."""

    name: str = "iadsr"
    options: IadsrOptions = field(default_factory=IadsrOptions)
    runner: Any = None
    spaces: Spaces | None = None
    align: Alignment | None = None
    seq: sd.SeqDetector | None = None
    calibration: Calibration | None = None
    mlp: Detector | None = None
    group_calibration: list[Calibration] = field(default_factory=list)
    end_stack: EndStack | None = None
    agreement: float = 0.0  # the semantic head's exponent in the raw score (`IadsrOptions`)
    collab_head: MLPEnsemble | None = None
    semantic_head: MLPEnsemble | None = None
    fit_report: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, Any] = field(default_factory=dict)
    _catalogue: tuple[np.ndarray, np.ndarray | None] | None = None
    collab_count: np.ndarray | None = None  # per iid: interactions the backbone trained on (gates collab evidence)
    cold: np.ndarray | None = None  # per iid: a cold item (`Context.cold`), the item group of the calibration
    backbone: Path | None = None  # where the backbone is (default: the workdir's own)

    def fit(self, wd: Workdir, seq_path: Path, ctx: Context, n_users: int, progress: ProgressFn = no_progress) -> None:
        """Learn the alignment heads and the detector on a seeded sample of users."""
        from seqclean.backbone.runner import open_backbone

        o = self.options
        semantic, count = ctx.semantic, ctx.item_count
        try:
            with workdir_errors(wd.path):
                self.runner = open_backbone(self.backbone or wd.path, o.device)
        except MissingInputError as exc:
            raise MissingInputError(
                f"{exc}; the iadsr scorer needs the collaborative backbone (or use --scorer baseline-semantic)"
            ) from exc
        col = self.runner.item_embeddings
        self.collab_count = self.runner.collab_counts(count)  # 0 for items it never trained on: cold path
        n_items = semantic.shape[0] - 1
        rng = np.random.default_rng(o.seed)
        probe = rng.choice(np.arange(1, n_items + 1), size=min(o.probe_items, n_items), replace=False)
        self.spaces = Spaces(sem=semantic, col=col, count=count, probe=np.sort(probe))

        users = np.sort(rng.choice(n_users, size=min(o.fit_users, n_users), replace=False))
        use = o.decoys != "fresh"
        frame, decoys = fit_sample(seq_path, users, (self.backbone or wd.path) if use else None)
        iid, segs, seqs = sequences_of(frame)
        rows = frame["row_index"].to_numpy().astype(np.int64) if "row_index" in frame.columns else np.arange(iid.size)
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
        so = sd.SeqDetectorOptions(seed=o.seed, members=o.members, steps=o.steps, **o.detector)
        short = self._sem_short()
        src = DrawSource(iid, segs, rows, states, decoys, self.runner, self.spaces, self.align, so)
        train_kind, held_kind = o.decoys, "fresh" if o.decoys == "fresh" else "decoys"  # fresh without decoys
        cal_kind = (
            held_kind if o.decoys == "fresh" else {"between": "stack"}.get(o.decoys_calibration, o.decoys_calibration)
        )

        first: dict[str, Any] = {}
        draws: dict[int, tuple[sd.Corruption, dict[str, np.ndarray]]] = {}

        def epoch_data(e: int) -> tuple[np.ndarray, ...]:
            d = e % so.corruptions
            if d not in draws:
                cut = sd.truncation_mask(segs, np.random.default_rng([o.seed, 5, d]), so.truncate) if d else True
                draws[d] = src.draw(~rows_held & cut, np.random.default_rng([o.seed, 1, d]), train_kind)
            c, feats = draws[d]
            r = np.random.default_rng([o.seed, 3, e])
            keep = (r.random(c.iid.size) >= so.collab_dropout).astype(np.float32)
            x = sd.position_inputs(c.iid, c.segs, feats, first["spec"], col, semantic, short, count, keep)
            win, row_win, row_off = sd.plan_windows(c.segs.length, so.window, so.stride)
            wts = np.where(from_end(c.segs) < 2, so.end_weight, 1.0).astype(np.float32)
            return x, win, row_win, row_off, c.label, wts

        progress("fit detector", 3, 5)
        t_fit = time.perf_counter()
        c0, f0 = draws[0] = src.draw(~rows_held, np.random.default_rng([o.seed, 1, 0]), train_kind)
        first.update(feats=f0, label=c0.label, spec=sd.fit_input_spec(f0, c0.segs, col, count, o.cold_k))
        vc, vf = src.draw(rows_held, np.random.default_rng([o.seed, 4]), held_kind)
        x_valid = sd.position_inputs(vc.iid, vc.segs, vf, first["spec"], col, semantic, short, count)
        valid = (x_valid, sd.plan_windows(vc.segs.length, so.window, so.stride)[0], vc.label)
        nets, train_info = sd.train_members(epoch_data, n_in := sd.n_inputs(col, semantic), so, valid=valid)
        onnx = sd.export_onnx_bytes(sd.Ensemble.wrap(nets), n_in)
        self.seq = sd.SeqDetector(spec=first["spec"], options=so, onnx=onnx, n_in=n_in, device=o.device)
        fit_s = time.perf_counter() - t_fit

        # the single-space reference heads (explanatory columns), on the first epoch's corruption
        train_f, train_y = first["feats"], first["label"]
        self.collab_head = train_head(train_f, train_y, COLLAB_FEATURES, o.seed)
        if o.mlp_weight > 0:  # the per-interaction MLP heads (full + cold, blended by w), averaged in
            full, cold = (train_head(train_f, train_y, f, o.seed) for f in (FULL_FEATURES, COLD_FEATURES))
            self.mlp = Detector(full=full, cold=cold, cold_k=o.cold_k)
        self.semantic_head = train_head(train_f, train_y, SEMANTIC_FEATURES, o.seed)
        draws.clear()
        progress("fit detector", 4, 5)

        # held-out: detection quality on fresh corruption, then the real log's noise prior
        hc, held_f = src.draw(rows_held, np.random.default_rng([o.seed, 2]), cal_kind)
        self.end_stack, self.agreement = None, 0.0  # `_raw` must read the detector alone, also on a refit
        p_held, _, w_held, sem_held = self._raw(hc.iid, hc.segs, held_f)
        real_iid = iid[rows_held]
        real_segs = Segments.from_sorted_ids(segs.seg[rows_held])
        real_f = compute_features(real_iid, real_segs, states[rows_held], self.spaces, self.align)
        p_real, _, w_real, sem_real = self._raw(real_iid, real_segs, real_f)

        def held_raw(k: int) -> tuple[sd.Corruption, dict[str, np.ndarray], tuple[np.ndarray, ...]]:
            c, f = src.draw(rows_held, np.random.default_rng([o.seed, 6, k]), held_kind)
            return c, f, self._raw(c.iid, c.segs, f)

        reads: dict[str, float] = {}
        fixed = decoys is not None and held_kind == "decoys"  # the decoys draw is the same every time: once
        dec = held_raw(0) if fixed and (o.end_stack_draws > 0 or o.decoys_calibration == "between") else None
        if o.end_stack_draws > 0:  # on fresh draws of the held-out users (real ends, as in the scored log) and `hc`
            runs = [dec] if dec else (held_raw(k) for k in range(o.end_stack_draws))
            parts = [stack_inputs(r[0], r[2], c.segs, f) + (c.label,) for c, f, r in runs]
            parts *= o.end_stack_draws if dec else 1
            parts.append(stack_inputs(p_held, w_held, hc.segs, held_f) + (hc.label,))
            self.end_stack = fit_end_stack(tuple(np.concatenate(c) for c in zip(*parts, strict=True)))
            p_held = self.end_stack.apply(p_held, w_held, hc.segs, held_f)
            p_real = self.end_stack.apply(p_real, w_real, real_segs, real_f)
        cal = fit_calibration(p_real, p_held[hc.label])  # the noise share stays the detector's own estimate
        if dec and o.decoys_calibration == "between":  # the share read against the decoys alone, too
            dc, df, r = dec
            p_dec = r[0] if self.end_stack is None else self.end_stack.apply(r[0], r[2], dc.segs, df)
            share, reads = share_between(cal.prior, p_real, p_dec[dc.label])
            cal = fit_calibration(p_real, p_held[hc.label], prior=share)
        agreement = agreement_report(p_held, sem_held, hc.label, a := o.semantic_agreement)
        if a > 0:
            p_held, p_real = p_held * sem_held**a, p_real * sem_real**a
            cal = fit_calibration(p_real, p_held[hc.label], prior=cal.prior)
        self.calibration, self.agreement = cal, a
        # per position-from-end group (last, second last, the rest) and item group: `fit_item_group_calibrations`
        self.cold, lab = ctx.cold, hc.label
        real = (p_real, end_group(real_segs), ctx.cold[real_iid])
        noise = (p_held[lab], end_group(hc.segs)[lab], ctx.cold[hc.iid[lab]])
        mode, kinds = o.item_calibration, hc.kind[lab]
        self.group_calibration = fit_item_group_calibrations(*real, *noise, cal, END_GROUPS, mode, kinds)
        last2 = from_end(hc.segs) < 2
        self.fit_report = {
            "fit_users": int(n_seg),
            "fit_interactions": int(iid.size),
            "detector": "sequence transformer (seqclean/seqdetector.py)",
            "corruption_rate": round(float(first["label"].mean()), 6),
            "examples": {"train": train_kind, "held_out": held_kind, "calibration": cal_kind, "decoys": decoys.height}
            if decoys is not None
            else {"train": "fresh", "held_out": "fresh", "calibration": "fresh", "decoys": 0},
            "estimated_noise_rate": round(self.calibration.prior, 6),
            "estimated_noise_rate_reads": reads,
            "heldout_corruption_auc": round(roc_auc(hc.label, p_held), 6),
            "heldout_corruption_auc_last_two": round(roc_auc(hc.label[last2], p_held[last2]), 6),
            "calibration_by_position": [c.kind for c in self.group_calibration],
            "estimated_noise_rate_by_item": item_group_report(self.group_calibration, END_GROUPS),
            "end_stack": self.end_stack.report() if self.end_stack else {},
            "semantic_agreement": agreement,
            "heldout_corruption_ece": round(ece(p_held, hc.label.astype(float)), 6),
            "detector_train": {k: v for k, v in train_info.items() if not k.endswith("_s")},
            "alignment": self.align.report(),
            "backbone": getattr(self.runner, "kind", "unknown"),
            "provider": getattr(self.runner, "provider", "unknown"),
            "detector_provider": self.seq.provider,
        }
        # wall-clock times vary between identical runs: kept out of summary.json (reruns are byte-identical)
        self.timing = {"detector_fit_s": round(fit_s, 1)} | {k: v for k, v in train_info.items() if k.endswith("_s")}
        progress("fit detector", 5, 5)
