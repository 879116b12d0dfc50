"""The torch model (a small bidirectional transformer), its ensemble and its ONNX export."""

from __future__ import annotations

import io
from typing import Any, cast

import numpy as np

from seqclean.seqdetector.inputs import gather_windows, pad_length
from seqclean.seqdetector.options import SeqDetectorOptions


def build_model(n_in: int, o: SeqDetectorOptions) -> Any:
    """A pre-LN bidirectional transformer encoder with explicit attention (exports cleanly to ONNX)."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1 = nn.LayerNorm(o.d_model)
            self.qkv = nn.Linear(o.d_model, 3 * o.d_model)
            self.proj = nn.Linear(o.d_model, o.d_model)
            self.ln2 = nn.LayerNorm(o.d_model)
            self.ff = nn.Sequential(nn.Linear(o.d_model, 2 * o.d_model), nn.GELU(), nn.Linear(2 * o.d_model, o.d_model))
            self.drop = nn.Dropout(0.1)

        def forward(self, h: Any, bias: Any) -> Any:
            b, n, d = h.shape
            hd = d // o.heads
            q, k, v = self.qkv(self.ln1(h)).reshape(b, n, 3, o.heads, hd).permute(2, 0, 3, 1, 4)
            att = torch.softmax(q @ k.transpose(-1, -2) / hd**0.5 + bias, dim=-1)
            a = (att @ v).transpose(1, 2).reshape(b, n, d)
            h = h + self.drop(self.proj(a))
            return h + self.drop(self.ff(self.ln2(h)))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = nn.Sequential(nn.Linear(n_in, o.d_model), nn.GELU(), nn.LayerNorm(o.d_model))
            self.pos = nn.Embedding(o.window, o.d_model)
            self.blocks = nn.ModuleList([Block() for _ in range(o.layers)])
            self.out = nn.Sequential(nn.LayerNorm(o.d_model), nn.Linear(o.d_model, 1))

        def forward(self, x: Any, mask: Any) -> Any:
            n = x.shape[1]
            h = self.inp(x) + self.pos(torch.arange(n, device=x.device))[None]
            bias = ((1.0 - mask) * -1e9)[:, None, None, :]
            for blk in self.blocks:
                h = blk(h, bias)
            return self.out(h)[..., 0]

    return Net()


class Ensemble:
    """Stacks member logits: (members, B, L). One ONNX graph, one session."""

    @staticmethod
    def wrap(members: list[Any]) -> Any:
        import torch
        from torch import nn

        class Stack(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.members = nn.ModuleList(members)

            def forward(self, x: Any, mask: Any) -> Any:
                return torch.stack([m(x, mask) for m in self.members], dim=0)

        return Stack().eval()


def export_onnx_bytes(model: Any, n_in: int) -> bytes:
    """The stacked ensemble as ONNX (opset 17, dynamic batch and length)."""
    import warnings

    import torch

    buf = io.BytesIO()
    x = torch.zeros(2, 8, n_in)
    mask = torch.ones(2, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (x, mask),
            cast(Any, buf),
            dynamo=False,
            input_names=["x", "mask"],
            output_names=["logits"],
            dynamic_axes={
                "x": {0: "batch", 1: "length"},
                "mask": {0: "batch", 1: "length"},
                "logits": {1: "batch", 2: "length"},
            },
            opset_version=17,
            do_constant_folding=True,
        )
    return buf.getvalue()


def window_loss(net: Any, x: np.ndarray, win: np.ndarray, ywin: np.ndarray, o: SeqDetectorOptions) -> float:
    """Mean BCE over the valid positions of all windows (eval mode, no gradient)."""
    import torch

    net.eval()
    plen = pad_length(win[:, 1], o.window)
    total, count = 0.0, 0.0
    with torch.no_grad():
        for pad in np.unique(plen):
            ids = np.flatnonzero(plen == pad)
            for b in range(0, ids.size, 256):
                sel = ids[b : b + 256]
                xb, mb = gather_windows(x, win[sel], int(pad))
                mt = torch.from_numpy(mb)
                logits = net(torch.from_numpy(xb), mt)
                bce = torch.nn.functional.binary_cross_entropy_with_logits(
                    logits, torch.from_numpy(ywin[sel, : int(pad)]), reduction="none"
                )
                total += float((bce * mt).sum())
                count += float(mt.sum())
    return total / max(count, 1.0)
