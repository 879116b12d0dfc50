"""The backbone's next-item loss: a full softmax over the catalogue, or a sampled softmax bounded in it.

The full softmax scores every target against every item: (targets in a batch) x items logits, their
softmax and gradient. Its memory and time follow the catalogue (about 10 GB of logits at 200,000 items,
batch 256, length 50; docs/scale.md), so above `AUTO_FULL_MAX_ITEMS` items `--loss auto` switches to a
sampled softmax: each batch draws `negatives` items, shared by all its targets, from a mixture of the
training targets' popularity and the uniform distribution (popular items are the informative
negatives; the uniform half lets every item be pushed down now and then). Each logit is corrected by
the log of its expected count in the draw (logQ correction, Bengio & Senecal 2008; Yi et al. 2019), so
the sampled loss estimates the full one; a negative equal to the target is masked out. The cost is
(targets x negatives), whatever the catalogue. Draws come from their own seeded generator: the batch
order is the same under both losses, and reruns are identical.

The sampled loss also adds a fixed popularity prior to every logit, `<h, e_i> + log p_i` (`popularity_prior`:
the training targets' smoothed shares), in training and in the validation ranking. Without it, at 200,000
items the embeddings spent themselves on popularity: one shared direction (random users' states had cosine
0.99998, popular items' 0.93), validation NDCG@10 stuck at its first epoch's popularity level, and IADSR's
alignment retrieved at chance, so the gate refused the scores (docs/backbone.md, "The popularity prior"). With
popularity in the prior the embeddings carry what is left, the user's interests, which is what the scorer's
features read (they take popularity from `log_pop`, not from the dot products).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqclean.config import AUTO_FULL_MAX_ITEMS, LOSSES
from seqclean.errors import UsageError

UNIFORM_SHARE = 0.5
"""Share of the uniform distribution in the negatives' sampling distribution (the rest: popularity)."""


def resolve_loss(loss: str, n_items: int) -> str:
    """`full` or `sampled`: `auto` picks the full softmax up to AUTO_FULL_MAX_ITEMS items."""
    if loss not in LOSSES:
        raise UsageError(f"--loss {loss}: choose auto, full or sampled")
    if loss == "auto":
        return "full" if n_items <= AUTO_FULL_MAX_ITEMS else "sampled"
    return loss


def sampling_distribution(targets: np.ndarray, n_items: int) -> np.ndarray:
    """q over iids 1..n_items (float64, sums to 1): UNIFORM_SHARE uniform, the rest by target counts."""
    counts = np.bincount(targets[targets > 0].ravel() - 1, minlength=n_items).astype(np.float64)
    total = counts.sum()
    pop = counts / total if total else np.full(n_items, 1.0 / n_items)
    return UNIFORM_SHARE / n_items + (1.0 - UNIFORM_SHARE) * pop


TRAINING = "sampled-loss-popularity-prior"
"""Written to `backbone/config.json` as `training`: a backbone without it that took the sampled loss predates the
prior, and is retrained rather than reused or fine-tuned (`incremental.plan`, `embed.backbone_fingerprint`)."""

PRIOR_SMOOTHING = 1.0
"""Pseudo-count added to every item's training-target count in `popularity_prior` (unseen items stay finite)."""


def popularity_prior(targets: np.ndarray, n_items: int) -> np.ndarray:
    """log p_i over iids 1..n_items (float64): the training targets' shares, Laplace-smoothed."""
    counts = np.bincount(targets[targets > 0].ravel() - 1, minlength=n_items).astype(np.float64)
    return np.log((counts + PRIOR_SMOOTHING) / (counts.sum() + PRIOR_SMOOTHING * n_items))


class NextItemLoss:
    """Cross-entropy of each target item given the hidden state before it; `kind` is `full` or `sampled`."""

    def __init__(
        self, kind: str, q: np.ndarray | None, negatives: int, seed: int, device: str, prior: np.ndarray | None = None
    ) -> None:
        """`prior`: `popularity_prior` of the training targets, added to every logit (sampled loss only)."""
        import torch

        self.kind = kind
        self.negatives = negatives
        self.device = device
        self.prior: Any = None  # (n_items,) float32 tensor, or None: what `rank_metrics` must add too
        if kind == "sampled":
            if q is None or negatives < 1:
                raise UsageError(f"--negatives {negatives}: the sampled loss needs at least 1")
            self.q = torch.from_numpy(q)
            offset = np.log(q * negatives) - (prior if prior is not None else 0.0)
            self.log_expected = torch.from_numpy(offset).float().to(device)  # logit = <h, e> + log p - log(K q)
            if prior is not None:
                self.prior = torch.from_numpy(prior).float().to(device)
            self.gen = torch.Generator().manual_seed(seed + 1)

    def __call__(self, h: Any, target: Any, table: Any) -> Any:
        """h: (T, d) states; target: (T,) int64 iids (1-based); table: the item embedding (n + 1, d)."""
        import torch
        import torch.nn.functional as F

        if self.kind == "full":
            return F.cross_entropy(h @ table[1:].T, target - 1)
        neg = torch.multinomial(self.q, self.negatives, replacement=True, generator=self.gen).to(self.device)
        # gathers through F.embedding: its backward sums repeated rows in a fixed order, where indexing's
        # (index_put_ with accumulate) splits them over threads and reruns differed in the last bits
        pos = (h * F.embedding(target, table)).sum(-1, keepdim=True) - self.log_expected[target - 1].unsqueeze(1)
        logits = h @ F.embedding(neg + 1, table).T - self.log_expected[neg]
        logits = logits.masked_fill(neg.unsqueeze(0) == (target - 1).unsqueeze(1), float("-inf"))
        zero = torch.zeros(len(target), dtype=torch.long, device=h.device)
        return F.cross_entropy(torch.cat([pos, logits], 1), zero)
