"""The self-supervised noise detector (LLM4DSR's corruption task, learned over our features).

No labels exist in real logs, so the detector learns from corruption: a share of positions of real
sequences is replaced by catalogue items (uniformly sampled, and popularity-sampled so that
"unpopular" alone does not mean "noise"), and small MLPs learn to tell replaced positions from the
originals. Nothing from any evaluation's ground truth is used.

- Two heads: `full` (all features) and `cold` (the item's text, alone and projected into the
  collaborative space against the user's interest; never the item's own collaborative embedding or
  popularity). An item's score blends them by its collaborative evidence, w = n / (n + k) with n its
  interaction count, so cold items lean on semantics (IADSR's protection against over-denoising cold
  items). `k = 0` disables the blend.
- Uncertainty: each head is an ensemble of MLPs trained on bootstrap resamples; their disagreement, and
  how little of the user's sequence there is to judge from, make `uncertainty` in [0, 1].
- Calibration (`seqclean.calibration`, re-exported here): the heads output P(corrupted) at the training
  corruption prior, not P(noise) in the real log; `Calibration` estimates the real log's noise share and maps
  raw outputs to posteriors, so `noise_score` reads as the probability that the interaction is noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seqclean.allocator import keep_freed_memory
from seqclean.backbone.loop import torch_threads
from seqclean.calibration import (
    Calibration,
    apply_group_calibrations,
    fit_calibration,
    fit_group_calibrations,
    fit_ratio_calibration,
)
from seqclean.interests import Segments
from seqclean.metrics import average_precision

__all__ = [
    "Calibration",
    "Detector",
    "MLPEnsemble",
    "apply_group_calibrations",
    "corrupt",
    "fit_calibration",
    "fit_group_calibrations",
    "fit_ratio_calibration",
    "train_ensemble",
]


def corrupt(
    iid: np.ndarray, segs: Segments, n_items: int, popularity: np.ndarray, rng: np.random.Generator, rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """Replace a `rate` share of positions (at least one per sequence of length ≥ 2) with other items.

    Half the replacements are uniform over the catalogue, half popularity-sampled. Returns the corrupted
    iids and the boolean label (True = replaced).
    """
    n = iid.size
    label = rng.random(n) < rate
    # make sure each sequence with ≥ 2 items has at least one corruption, so short users are learned too
    first = segs.start[segs.length >= 2]
    forced = first + (rng.random(first.size) * segs.length[segs.length >= 2]).astype(np.int64)
    has_any = np.zeros(segs.start.size, dtype=bool)
    np.logical_or.at(has_any, segs.seg, label)
    label[forced[~has_any[segs.seg[forced]]]] = True
    k = int(label.sum())
    p = popularity[1:].astype(np.float64) + 1.0
    p /= p.sum()
    uniform = rng.integers(1, n_items + 1, size=k)
    popular = rng.choice(np.arange(1, n_items + 1), size=k, p=p)
    repl = np.where(rng.random(k) < 0.5, uniform, popular)
    same = repl == iid[label]
    repl[same] = (repl[same] % n_items) + 1  # never "replace" an item by itself
    out = iid.copy()
    out[label] = repl
    return out, label


@dataclass
class MLPEnsemble:
    """K small MLPs (inputs -> 32 -> 16 -> 1) over standardised features; NumPy inference."""

    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    members: list[list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=list)

    def logits(self, x: np.ndarray, dtype: type = np.float32) -> np.ndarray:
        """Member logits; `dtype=np.float64` makes each row's result independent of how many rows BLAS sees."""
        z0 = ((x - self.mean) / self.scale).astype(dtype)
        out: np.ndarray = np.empty((len(self.members), x.shape[0]), dtype=dtype)
        for m, layers in enumerate(self.members):
            z = z0
            for li, (w, b) in enumerate(layers):
                z = z @ w.astype(dtype) + b.astype(dtype)
                if li < len(layers) - 1:
                    z = np.maximum(z, 0.0)
            out[m] = z[:, 0]
        return out

    def predict(self, x: np.ndarray, dtype: type = np.float32) -> tuple[np.ndarray, np.ndarray]:
        """Mean probability over members and its standard deviation."""
        p = 1.0 / (1.0 + np.exp(-np.clip(self.logits(x, dtype), -30, 30)))
        return p.mean(axis=0), p.std(axis=0)

    def predict_features(self, feats: dict[str, np.ndarray]) -> np.ndarray:
        """Mean probability from a feature table, in float64 rounded to float32: a row's value does not depend
        on the chunk it is scored in (it may feed a decision, `IadsrOptions.semantic_agreement`)."""
        x = np.stack([feats[n] for n in self.names], axis=1).astype(np.float64)
        return self.predict(x, np.float64)[0].astype(np.float32)


def train_ensemble(
    x: np.ndarray,
    y: np.ndarray,
    names: tuple[str, ...],
    *,
    members: int = 5,
    epochs: int = 4,
    batch: int = 1024,
    lr: float = 3e-3,
    seed: int = 0,
    min_steps: int = 0,
) -> MLPEnsemble:
    """Train `members` MLPs with BCE on bootstrap resamples of (x, y), for `epochs` passes or as many more as it
    takes to make `min_steps` optimiser steps (a small log has few batches a pass)."""
    epochs = max(epochs, math.ceil(min_steps / max(math.ceil(x.shape[0] / batch), 1)))
    with torch_threads(1), keep_freed_memory():  # tiny networks: one thread is faster than two fighting
        return _train_ensemble(x, y, names, members=members, epochs=epochs, batch=batch, lr=lr, seed=seed)


def agreement_report(p: np.ndarray, p_sem: np.ndarray, label: np.ndarray, exponent: float) -> dict[str, Any]:
    """Held-out corruption AP of the detector alone and of `p * p_sem ** exponent` (summary.json).

    Why the product (`IadsrOptions.semantic_agreement`): a sequence model trained on corruptions drawn largely at
    random learns that rare = noise and over-flags rare clean items at the top of its ranking; requiring the item
    text to disagree with the user too (IADSR's point) makes that top more precise where the text says something.
    The held-out corruptions cannot decide the exponent (they reward text that real noise does not share:
    docs/quality.md, "Semantic agreement"), so it is fixed; this reports what it does to the corruption task."""
    ap = average_precision(label, p * p_sem.astype(np.float64) ** exponent)
    return {
        "exponent": exponent,
        "heldout_ap": round(ap, 6),
        "heldout_ap_detector_alone": round(average_precision(label, p), 6),
    }


HEAD_MIN_STEPS = 200
"""Least optimiser steps of each head member. Three passes of batches of 1,024 are 231 steps on ML-100K's fit but
21 on a 1,000-user shop log, where the semantic head stayed near chance (ROC-AUC 0.54 on planted noise against
0.86 at 70 steps and more: docs/quality.md, "Undertrained heads on small logs"); logs of ML-100K's size and
larger train as before."""


def train_head(feats: dict[str, np.ndarray], label: np.ndarray, names: tuple[str, ...], seed: int) -> MLPEnsemble:
    """A small ensemble on the named features: the single-space reference heads and the per-interaction MLP."""
    x = np.stack([feats[n] for n in names], axis=1)
    return train_ensemble(x, label, names, members=3, epochs=3, seed=seed, min_steps=HEAD_MIN_STEPS)


def _train_ensemble(
    x: np.ndarray, y: np.ndarray, names: tuple[str, ...], *, members: int, epochs: int, batch: int, lr: float, seed: int
) -> MLPEnsemble:
    import torch

    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    xs = torch.from_numpy(((x - mean) / scale).astype(np.float32))
    ys = torch.from_numpy(y.astype(np.float32))
    ens = MLPEnsemble(names=names, mean=mean.astype(np.float32), scale=scale.astype(np.float32))
    rng = np.random.default_rng(seed)
    for m in range(members):
        torch.manual_seed(seed * 1000 + m)
        net = torch.nn.Sequential(
            torch.nn.Linear(x.shape[1], 32),
            torch.nn.ReLU(),
            torch.nn.Linear(32, 16),
            torch.nn.ReLU(),
            torch.nn.Linear(16, 1),
        )
        opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-5)
        boot = torch.from_numpy(rng.integers(0, x.shape[0], size=x.shape[0]))
        loss_fn = torch.nn.BCEWithLogitsLoss()
        for _ in range(epochs):
            order = boot[torch.from_numpy(rng.permutation(boot.numel()))]
            for k in range(0, order.numel(), batch):
                idx = order[k : k + batch]
                loss = loss_fn(net(xs[idx])[:, 0], ys[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        layers = [
            (mod.weight.detach().numpy().T.copy(), mod.bias.detach().numpy().copy())
            for mod in net
            if isinstance(mod, torch.nn.Linear)
        ]
        ens.members.append(layers)
    return ens


@dataclass
class Detector:
    full: MLPEnsemble
    cold: MLPEnsemble
    cold_k: float
    calibration: Calibration | None = None

    def raw(self, feats: dict[str, np.ndarray], count: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(blended P(corrupted) at the training prior, ensemble std, weight on the full head)."""
        xf = np.stack([feats[n] for n in self.full.names], axis=1)
        xs = np.stack([feats[n] for n in self.cold.names], axis=1)
        pf, sf = self.full.predict(xf)
        ps, ss = self.cold.predict(xs)
        w = count / (count + self.cold_k) if self.cold_k > 0 else np.ones_like(pf)
        w = w.astype(np.float32)
        return w * pf + (1 - w) * ps, w * sf + (1 - w) * ss, w

    def predict(self, feats: dict[str, np.ndarray], count: np.ndarray, seq_len: np.ndarray) -> dict[str, np.ndarray]:
        """`noise_score` (calibrated to the estimated prior), `uncertainty`, and the head outputs."""
        p, std, w = self.raw(feats, count)
        score = self.calibration(p) if self.calibration is not None else p
        evidence = np.clip((seq_len - 1) / 4.0, 0.0, 1.0)  # ≥ 5 interactions = full evidence
        uncertainty = 1.0 - evidence * (1.0 - np.clip(2.0 * std, 0.0, 1.0))
        return {
            "noise_score": np.clip(score, 0.0, 1.0),
            "uncertainty": uncertainty.astype(np.float32),
            "collab_weight": w,
        }
