"""Export a sentence-transformers model directory to one ONNX graph (pooling and normalisation inside),
once, into the cache named by `models.export_dir_for`; int8 by dynamic quantisation of that graph.

The only module that needs torch, transformers and onnx (imported inside the functions). Decoder-style
models (Qwen2/Llama/Mistral embedders, last-token or mean pooling) export the same way; graphs over
~1.8 GB keep their weights as ONNX external data (`model.onnx_data`); `fp16` is for the GPU.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from seqclean.encoder.models import (
    META_FILE,
    OPSET,
    OUTPUT_NAME,
    StLayout,
    export_dir_for,
    model_files,
    model_fingerprint,
    onnx_file,
    read_st_layout,
)
from seqclean.errors import OutputError, RuntimeUnavailableError, UsageError

EXTERNAL_DATA_THRESHOLD = 1_800_000_000  # bytes; protobuf cannot hold a graph over 2 GB
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".ckpt", ".gguf", ".onnx", ".onnx_data")


def _pooled_module(model: Any, pooling: tuple[str, ...], normalize: bool) -> Any:
    """transformer + pooling + normalise as one torch module: the graph that gets exported."""
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            h = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state.float()
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            n = m.sum(1).clamp(min=1e-9)
            parts = []
            for mode in pooling:
                if mode == "cls":
                    parts.append(h[:, 0])
                elif mode == "max":
                    parts.append(torch.where(m > 0, h, torch.full_like(h, -1e9)).max(1).values)
                elif mode == "mean":
                    parts.append((h * m).sum(1) / n)
                elif mode == "mean_sqrt_len_tokens":
                    parts.append((h * m).sum(1) / n.sqrt())
                else:  # lasttoken: the last position whose mask is 1 (works for left and right padding)
                    pos = torch.arange(h.shape[1], dtype=torch.float32, device=h.device).unsqueeze(0)
                    last = (pos * attention_mask.to(torch.float32)).argmax(1)
                    idx = last.view(-1, 1, 1).expand(-1, 1, h.shape[2])
                    parts.append(torch.gather(h, 1, idx).squeeze(1))
            e = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
            return torch.nn.functional.normalize(e, p=2.0, dim=1) if normalize else e

    return Pooled().eval()


def _export_torch(layout: StLayout, dest: Path, *, fp16: bool, external_data_threshold: int) -> None:
    """torch.onnx.export (TorchScript exporter: robust for HF models, no onnxscript needed) to `dest`,
    re-saved with external data when the weights are too big for one protobuf."""
    try:
        import onnx
        import torch
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise RuntimeUnavailableError(
            f"exporting the text encoder to ONNX needs torch, transformers and onnx ({exc}); "
            "run `pip install torch transformers onnx`, or copy an existing export into $SEQCLEAN_CACHE_DIR"
        ) from exc
    import warnings

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    dev = "cuda" if fp16 and torch.cuda.is_available() else "cpu"
    model = AutoModel.from_pretrained(
        str(layout.transformer_dir),
        attn_implementation="eager",  # sdpa/flash kernels do not trace to plain ONNX ops
        local_files_only=True,
        dtype=torch.float16 if fp16 else torch.float32,
    )
    if getattr(model.config, "use_cache", None):
        model.config.use_cache = False
    model = model.to(dev).eval()
    wrapper = _pooled_module(model, layout.pooling, layout.normalize)
    # dummy batch with padding on the model's side, so no "no padding" shortcut is traced in
    seq = 8
    ids = torch.full((2, seq), max(layout.pad_id, 1), dtype=torch.long, device=dev)
    mask = torch.ones((2, seq), dtype=torch.long, device=dev)
    if layout.padding_side == "left":
        mask[1, :3] = 0
    else:
        mask[1, -3:] = 0
    raw = dest.parent / "raw"
    raw.mkdir()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            (ids, mask),
            str(raw / "model.onnx"),
            dynamo=False,
            input_names=["input_ids", "attention_mask"],
            output_names=[OUTPUT_NAME],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                OUTPUT_NAME: {0: "batch"},
            },
            opset_version=OPSET,
            do_constant_folding=True,
        )
    size = sum(p.stat().st_size for p in raw.iterdir())
    if size > external_data_threshold:
        proto = onnx.load(str(raw / "model.onnx"), load_external_data=True)
        onnx.save_model(
            proto,
            str(dest),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=dest.name + "_data",
            size_threshold=1024,
        )
    else:
        (raw / "model.onnx").replace(dest)
    shutil.rmtree(raw)


def _quantize(src: Path, dest: Path) -> None:
    """Dynamic int8 quantisation of the weights (activations stay float, quantised at run time)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    external = Path(str(src) + "_data").exists()
    quantize_dynamic(
        str(src), str(dest), weight_type=QuantType.QInt8, per_channel=True, use_external_data_format=external
    )


def _copymodel_files(model_dir: Path, out_dir: Path) -> None:
    """Tokenizer, configs and module folders (everything but weights) so the export is an ST dir."""
    for p in model_files(model_dir):
        if p.suffix in _WEIGHT_SUFFIXES or p.name.startswith("."):
            continue
        target = out_dir / p.relative_to(model_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, target)


def export_onnx(
    model_dir: Path,
    out_dir: Path | None = None,
    *,
    quantize: bool = False,
    fp16: bool = False,
    external_data_threshold: int = EXTERNAL_DATA_THRESHOLD,
) -> Path:
    """Export `model_dir` (an ST model dir) to `out_dir` (default: its cache folder) and return the ONNX
    file: `onnx/model.onnx` (fp32), `onnx/model_qint8_dynamic.onnx` (`quantize`) or
    `onnx/model_fp16.onnx` (`fp16`). Made once: an existing file is reused.

    Atomic: the folder (tokenizer and config files) is built in a temporary sibling and renamed into
    place; each ONNX file is written in a temporary folder and renamed, its external data first and the
    `.onnx` last, so an interrupted export never leaves a file that looks complete.
    """
    if quantize and fp16:
        raise UsageError("--precision: int8 and fp16 cannot be combined; choose one")
    precision = "int8" if quantize else "fp16" if fp16 else "fp32"
    out_dir = out_dir or export_dir_for(model_dir)
    target = onnx_file(out_dir, precision)
    if target.exists():
        return target
    layout = read_st_layout(model_dir)
    if not (out_dir / META_FILE).exists():
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
        try:
            _copymodel_files(model_dir, tmp)
            (tmp / "onnx").mkdir(exist_ok=True)
            meta = {"source": str(model_dir.resolve()), "fingerprint": model_fingerprint(model_dir)}
            (tmp / META_FILE).write_text(json.dumps(meta, indent=1))
            try:
                tmp.rename(out_dir)
            except OSError:
                if not (out_dir / META_FILE).exists():  # lost a race to a finished export: fine
                    raise OutputError(
                        f"cannot create the encoder export {out_dir}: the folder exists but is incomplete; "
                        "delete it and rerun"
                    ) from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    base = export_onnx(model_dir, out_dir, external_data_threshold=external_data_threshold) if quantize else None
    work = Path(tempfile.mkdtemp(prefix=".part-", dir=out_dir / "onnx"))
    try:
        part = work / target.name
        if base is not None:
            _quantize(base, part)
        else:
            _export_torch(layout, part, fp16=fp16, external_data_threshold=external_data_threshold)
        for f in work.iterdir():  # external data first: the .onnx appearing means the export is complete
            if f != part and f.is_file():
                f.replace(target.parent / f.name)
        part.replace(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
