"""The collaborative backbone: SASRec / GRU4Rec trained on the log, exported to ONNX, or BYO item vectors.

Public entry points: `BackboneConfig`, `train_backbone`, `write_byo_backbone`, `open_backbone`
(-> `BackboneRunner` | `ByoBackboneRunner`, both with `hidden_states`, `states_for_sequences` and
`item_embeddings`). torch is imported only inside the functions that train or export.
"""

from __future__ import annotations

from seqclean.backbone.byo import load_collab_embeddings, write_byo_backbone
from seqclean.backbone.config import BackboneConfig
from seqclean.backbone.runner import BackboneRunner, ByoBackboneRunner, StateRunner, open_backbone
from seqclean.backbone.train import fit, train_backbone

__all__ = [
    "BackboneConfig",
    "BackboneRunner",
    "ByoBackboneRunner",
    "StateRunner",
    "fit",
    "load_collab_embeddings",
    "open_backbone",
    "train_backbone",
    "write_byo_backbone",
]
