"""Export a trained sequence encoder to ONNX: `item_seq` int64 [B, L] -> `hidden` float32 [B, L, d].

We use the TorchScript-based exporter (`dynamo=False`): in torch 2.13 the default dynamo exporter
needs the extra `onnxscript` package, while the legacy one handles both models (plain matmul
attention, nn.GRU with an explicit h0) with dynamic batch and length axes. Opset 17.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from seqclean.io import atomic_path

OPSET = 17
INPUT = "item_seq"
OUTPUT = "hidden"


def export_onnx(model: Any, dest: Path, max_len: int) -> None:
    """Write the encoder of `model` (an nn.Module in eval mode on CPU) to `dest`, atomically."""
    import torch

    model = model.eval().to("cpu")
    n_items = int(model.item_emb.num_embeddings) - 1
    length = max(2, min(max_len, 8))
    dummy = (torch.arange(2 * length, dtype=torch.int64).reshape(2, length) % max(n_items, 1)) + 1
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (dummy,),
            str(tmp),
            dynamo=False,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_axes={INPUT: {0: "batch", 1: "length"}, OUTPUT: {0: "batch", 1: "length"}},
            opset_version=OPSET,
            do_constant_folding=True,
        )


def torch_hidden(model: Any, item_seq: np.ndarray) -> np.ndarray:
    """Reference states from torch (eval mode, CPU) for the equivalence check."""
    import torch

    model = model.eval().to("cpu")
    with torch.no_grad():
        out: np.ndarray = model(torch.from_numpy(np.ascontiguousarray(item_seq, dtype=np.int64))).numpy()
    return out
