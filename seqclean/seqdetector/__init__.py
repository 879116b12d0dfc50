"""The sequence-level noise detector: a small bidirectional transformer over each user's sequence,
trained ELECTRA-style on self-supervised corruption (LLM4DSR's task: say for every position whether it
was replaced or inserted). See docs/method.md, "Sequence detector".

Why a sequence model: the per-interaction MLP judged each item from hand-made summaries of a *causal*
collaborative context (H_{j-1} has seen only the past); an item is noise relative to both what came before
and what comes after, and the strongest evidence is how the neighbours fit each other too. The transformer
reads a window of the whole sequence in both directions.

Per-position input (`position_inputs`):
- w * E_col(i) (the backbone's item vector) with the cold gate w = n / (n + k): a cold item's own
  collaborative vector is poorly trained, so it is faded out; during training the gate is also dropped to 0
  on a share of positions, so the model learns to judge from the other parts alone;
- P_s e_sem(i) (the item's text projected by IADSR's short-term alignment) and e_sem(i) itself;
- scalar evidence from `features.py` (standardised), where every feature that cannot be computed at a
  position (no previous item at the start, no next item at the end, no other item for one-item users) is
  set to 0 *and* flagged by a missing-indicator input, so "no evidence" never reads as "mismatch";
  collaborative scalars are gated by w like the vector.

Corruption (`corrupt_sequences`) mixes uniform, popularity-sampled and plausible replacements (the item the
backbone ranks highest for the user, or the one nearest the user's text context, among random candidates),
and inserted bursts of 1-3 items; positions are drawn uniformly, so the first and last positions are covered
as often as real noise would be there.

Inference runs the exported ONNX model (`SeqDetector.session`) on per-user windows: a window depends only on
its own user's rows, so results do not depend on the chunk size.
"""

from __future__ import annotations

from seqclean.seqdetector.corruption import Corruption, corrupt_sequences, truncation_mask
from seqclean.seqdetector.infer import SeqDetector, torch_member_probs
from seqclean.seqdetector.inputs import (
    InputSpec,
    availability,
    collab_weight,
    first_of,
    fit_input_spec,
    gather_windows,
    n_inputs,
    plan_windows,
    position_inputs,
)
from seqclean.seqdetector.model import Ensemble, build_model, export_onnx_bytes
from seqclean.seqdetector.options import (
    COLLAB_SCALARS,
    MISSING_FLAGS,
    NEEDS_NEXT,
    NEEDS_OTHERS,
    NEEDS_PREV,
    SCALARS,
    SEMANTIC_SCALARS,
    SeqDetectorOptions,
)
from seqclean.seqdetector.train import train_members

__all__ = [
    "COLLAB_SCALARS",
    "Corruption",
    "Ensemble",
    "InputSpec",
    "MISSING_FLAGS",
    "NEEDS_NEXT",
    "NEEDS_OTHERS",
    "NEEDS_PREV",
    "SCALARS",
    "SEMANTIC_SCALARS",
    "SeqDetector",
    "SeqDetectorOptions",
    "availability",
    "build_model",
    "collab_weight",
    "corrupt_sequences",
    "export_onnx_bytes",
    "first_of",
    "fit_input_spec",
    "gather_windows",
    "n_inputs",
    "plan_windows",
    "position_inputs",
    "torch_member_probs",
    "train_members",
    "truncation_mask",
]
