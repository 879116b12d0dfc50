"""The downstream recommender of `seqclean evaluate`: a standard SASRec and full-ranking metrics.

One model, trained the same way for every arm, so that the only difference between arms is the
training log. SASRec (seqclean.backbone.sasrec: post-LN causal self-attention, learned positions,
GELU feed-forward 4d, shared input/output item embeddings), trained with next-item cross-entropy over
the full catalogue at every position of each training window (not only the last one: fast), Adam,
a fixed epoch cap with early stopping on validation NDCG@10 (never before `min_epochs`); the weights of the
best validation epoch are tested. Sizes and their reasons are in docs/evaluation.md.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from seqclean.allocator import keep_freed_memory
from seqclean.backbone.data import BestEpoch, last_windows, metrics_from_ranks, training_windows
from seqclean.backbone.loop import torch_threads
from seqclean.errors import UsageError

KS = (10, 20)


@dataclass
class DownstreamConfig:
    """The downstream SASRec and its training schedule (identical for every arm)."""

    hidden: int = 64
    layers: int = 2
    heads: int = 2
    dropout: float = 0.2
    max_len: int = 50
    batch_size: int = 128
    lr: float = 2e-3
    epochs: int = 15
    patience: int = 3
    min_epochs: int = 8  # no early stop before this epoch: a model can sit at the popularity plateau at first
    threads: int = 2
    windows: str = "all"  # "all": every training input, windows aligned on the end; "last": the last max_len only

    def validate(self) -> None:
        for name in (
            "hidden",
            "layers",
            "heads",
            "max_len",
            "batch_size",
            "epochs",
            "patience",
            "min_epochs",
            "threads",
        ):
            if getattr(self, name) < 1:
                raise UsageError(f"downstream {name} {getattr(self, name)}: must be at least 1")
        if self.hidden % self.heads:
            raise UsageError(f"downstream hidden {self.hidden} is not divisible by heads {self.heads}")
        if self.windows not in {"last", "all"}:
            raise UsageError(f"--train-windows {self.windows}: choose last or all")
        if not 0.0 <= self.dropout < 1.0:
            raise UsageError(f"downstream dropout {self.dropout}: must be in [0, 1)")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    valid: dict[str, float]
    test: dict[str, float]
    best_epoch: int
    epochs_run: int
    seconds: float
    cpu_seconds: float
    history: list[float]  # validation NDCG@10 per epoch


def full_rank_metrics(
    model: Any, seqs: Sequence[np.ndarray], targets: np.ndarray, max_len: int, batch_size: int = 1024
) -> dict[str, float]:
    """HR@K and NDCG@K of `targets` after `seqs`, ranked against every catalogue item (no sampling).

    rank = items scored strictly higher than the target (ties count in the target's favour, as in RecBole's
    full sort with a stable order would not: state it in the docs); history items are not masked, since
    logs repeat items. Users with an empty input sequence are scored from the padding state.
    """
    import torch

    x_all, lengths = last_windows(seqs, max_len)
    lengths = np.maximum(lengths, 1)
    ranks = []
    model.eval()
    with torch.no_grad():
        table = model.item_emb.weight[1:]
        for b in range(0, len(x_all), batch_size):
            x = torch.from_numpy(x_all[b : b + batch_size])
            last = torch.from_numpy(lengths[b : b + batch_size] - 1)
            h = model(x)[torch.arange(len(x)), last]
            scores = h @ table.T
            t = torch.from_numpy(targets[b : b + batch_size] - 1)
            tgt = scores.gather(1, t.unsqueeze(1))
            ranks.append((scores > tgt).sum(1).numpy())
    return metrics_from_ranks(np.concatenate(ranks) if ranks else np.zeros(0), KS)


def train_and_test(
    cfg: DownstreamConfig,
    n_items: int,
    train_seqs: Sequence[np.ndarray],
    valid_targets: np.ndarray,
    test_targets: np.ndarray,
    seed: int,
) -> TrainResult:
    """Train on `train_seqs` (one per user, iids 1..n_items), select the epoch on validation, test once.

    Validation: input = the user's training sequence, target = `valid_targets`. Test: input = training
    sequence + validation target, target = `test_targets`. Deterministic given `seed` (CPU).
    """
    import torch
    import torch.nn.functional as F

    from seqclean.backbone.sasrec import SASRec

    cfg.validate()
    t0, c0 = time.perf_counter(), time.process_time()
    with torch_threads(cfg.threads), keep_freed_memory():
        fit_seqs = [s[-(cfg.max_len + 1) :] for s in train_seqs] if cfg.windows == "last" else train_seqs
        inputs, targets = training_windows(fit_seqs, cfg.max_len)
        test_inputs = [np.concatenate([s, [v]]) for s, v in zip(train_seqs, valid_targets, strict=True)]
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        model = SASRec(n_items, cfg.hidden, cfg.layers, cfg.heads, cfg.max_len, cfg.dropout)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        x_all, y_all = torch.from_numpy(inputs), torch.from_numpy(targets)
        sel = BestEpoch(cfg.patience, state=copy.deepcopy(model.state_dict()))
        epoch = 0
        history: list[float] = []
        for epoch in range(1, cfg.epochs + 1):
            model.train()
            for idx in torch.randperm(len(x_all), generator=gen).split(cfg.batch_size):
                x, y = x_all[idx], y_all[idx]
                real = y > 0
                logits = model(x)[real] @ model.item_emb.weight[1:].T
                loss = F.cross_entropy(logits, y[real] - 1)
                opt.zero_grad()
                loss.backward()
                opt.step()
            m = full_rank_metrics(model, train_seqs, valid_targets, cfg.max_len)
            history.append(round(m["NDCG@10"], 5))
            if sel.step(epoch, m, model) and epoch >= cfg.min_epochs:
                break
        model.load_state_dict(sel.state)
        test = full_rank_metrics(model, test_inputs, test_targets, cfg.max_len)
    return TrainResult(
        valid=sel.best,
        test=test,
        best_epoch=sel.epoch,
        epochs_run=epoch,
        seconds=time.perf_counter() - t0,
        cpu_seconds=time.process_time() - c0,
        history=history,
    )
