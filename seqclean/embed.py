"""Stage 1, `seqclean embed`: validate the inputs, build time-ordered sequences, embed every item.

Writes into the workdir:
- `sequences.parquet`: one row per interaction, sorted by user then position, with dense ids
  (`uid` from 0, `iid` from 1; 0 is padding) and the input's `row_index`.
- `items.parquet`: the catalogue (`iid`, item id, rendered `text`, `text_hash`, `n_interactions`).
- `semantic.parquet`: the item embedding cache (item id, `text_hash`, `vector`).
- `backbone/`: the collaborative backbone trained on the sequences (or `--collab-embeddings`), see
  `seqclean.backbone`.
- `manifest.json`: inputs, column mapping and options, so `score` and `filter` need only the workdir.

Sequence order: by timestamp; ties are broken by the row's position in the input (earlier row first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from seqclean import __version__
from seqclean.backbone.config import BackboneConfig
from seqclean.columns import infer_embed_config
from seqclean.encoder import DEFAULT_MODEL, check_precision, load_encoder, model_id, resolve_model_dir
from seqclean.errors import InputDataError
from seqclean.io import (
    ROW_INDEX,
    file_fingerprint,
    input_errors,
    require_columns,
    require_id_dtype,
    require_time_dtype,
    scan_table,
    write_parquet,
)
from seqclean.progress import ProgressFn, no_progress
from seqclean.runtime import providers_for
from seqclean.text import default_template, template_fields, text_expr, text_hash
from seqclean.workdir import ITEMS, SEMANTIC, SEQUENCES, Workdir


@dataclass
class EmbedConfig:
    """Everything `embed` needs; the CLI builds one from its options."""

    interactions: Path
    items: Path
    workdir: Path
    user_col: str = "user_id"
    item_col: str = "item_id"
    time_col: str = "timestamp"
    text_cols: list[str] = field(default_factory=lambda: ["title"])
    text_template: str | None = None
    model: Path | None = None
    device: str = "auto"
    batch_size: int = 128
    seed: int = 0
    threads: int | None = None  # ONNX Runtime intra-op threads (None: all cores)
    precision: str = "fp32"  # text encoder graph: fp32, int8 (dynamic quantisation) or fp16 (GPU)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    collab_embeddings: Path | None = None

    @property
    def template(self) -> str:
        return self.text_template or default_template(self.text_cols)


@dataclass
class EmbedResult:
    n_users: int
    n_items: int
    n_interactions: int
    n_encoded: int
    n_cached: int
    provider: str | None = None  # ONNX Runtime provider that encoded items; None when all came from the cache


def embed(cfg: EmbedConfig, progress: ProgressFn = no_progress) -> EmbedResult:
    """Run the embed stage end to end (see the module docstring for what it writes)."""
    providers_for(cfg.device)  # a bad --device, or cuda without a CUDA provider, fails before any work
    cfg = infer_embed_config(cfg)  # MovieLens / RecBole files: the column mapping from their layout
    check_precision(cfg.precision)
    wd = Workdir(cfg.workdir)
    log = _scan_log(cfg)
    items = _scan_items(cfg, log.collect_schema()[cfg.item_col])

    catalogue = _catalogue(cfg, items)
    seq = _sequences(cfg, log, catalogue)
    n_inter = seq.height
    counts = seq.group_by("iid").agg(pl.len().alias("n_interactions"))
    catalogue = (
        catalogue.join(counts, on="iid", how="left")
        .with_columns(pl.col("n_interactions").fill_null(0).cast(pl.Int64))
        .sort("iid")
    )
    wd.path.mkdir(parents=True, exist_ok=True)
    write_parquet(seq, wd.file(SEQUENCES))

    vectors, n_encoded, n_cached, provider = _semantic_vectors(cfg, wd, catalogue, progress)
    write_parquet(catalogue, wd.file(ITEMS))
    write_parquet(
        catalogue.select(pl.col(cfg.item_col), "text_hash").with_columns(
            pl.Series("vector", vectors, dtype=pl.Array(pl.Float32, vectors.shape[1]))
        ),
        wd.file(SEMANTIC),
    )
    backbone_info = _backbone(cfg, wd, progress)

    manifest: dict[str, Any] = {
        "seqclean_version": __version__,
        "inputs": {
            "interactions": {
                "path": str(cfg.interactions.resolve()),
                "fingerprint": file_fingerprint(cfg.interactions),
            },
            "items": {"path": str(cfg.items.resolve()), "fingerprint": file_fingerprint(cfg.items)},
        },
        "columns": {"user": cfg.user_col, "item": cfg.item_col, "time": cfg.time_col, "text": cfg.text_cols},
        "embed": {
            "text_template": cfg.template,
            "model": str(cfg.model) if cfg.model else DEFAULT_MODEL,
            "device": cfg.device,
            "seed": cfg.seed,
            "n_users": int(seq["uid"].n_unique()),
            "n_items": catalogue.height,
            "n_interactions": n_inter,
            "semantic_dim": int(vectors.shape[1]),
            "semantic_model_id": _model_id(cfg),
            "precision": cfg.precision,
            "provider": provider,
            "n_encoded": n_encoded,
            "n_cached": n_cached,
        },
        "backbone": backbone_info,
    }
    wd.write_manifest(manifest)
    return EmbedResult(
        n_users=manifest["embed"]["n_users"],
        n_items=catalogue.height,
        n_interactions=n_inter,
        n_encoded=n_encoded,
        n_cached=n_cached,
        provider=provider,
    )


def _backbone(cfg: EmbedConfig, wd: Workdir, progress: ProgressFn) -> dict[str, Any]:
    """Train the collaborative backbone on sequences.parquet, or take the user's own item vectors."""
    if cfg.collab_embeddings is not None:
        from seqclean.backbone.byo import write_byo_backbone

        return write_byo_backbone(cfg.collab_embeddings, cfg.backbone, wd.path, cfg.item_col)
    from seqclean.backbone.train import train_backbone

    return train_backbone(cfg.backbone, wd.path, cfg.item_col, progress)


def _scan_log(cfg: EmbedConfig) -> pl.LazyFrame:
    path = cfg.interactions
    lf = scan_table(path, what="interactions")
    schema = require_columns(
        lf, path, {cfg.user_col: "--user-col", cfg.item_col: "--item-col", cfg.time_col: "--time-col"}
    )
    require_id_dtype(schema, path, cfg.user_col, "--user-col")
    require_id_dtype(schema, path, cfg.item_col, "--item-col")
    require_time_dtype(schema, path, cfg.time_col, "--time-col")
    with input_errors(path):
        stats = lf.select(
            pl.len().alias("n"),
            *(pl.col(c).null_count().alias(c) for c in (cfg.user_col, cfg.item_col, cfg.time_col)),
        ).collect()
    if stats["n"][0] == 0:
        raise InputDataError(f"{path}: no interactions (the log is empty); point --interactions at a log with rows")
    for c in (cfg.user_col, cfg.item_col, cfg.time_col):
        if stats[c][0]:
            raise InputDataError(
                f"{path}: column '{c}' has {stats[c][0]} null values; drop or fill those rows before cleaning"
            )
    return lf


def _scan_items(cfg: EmbedConfig, log_item_dtype: pl.DataType) -> pl.LazyFrame:
    path = cfg.items
    lf = scan_table(path, what="items")
    fields = template_fields(cfg.template)
    wanted = {cfg.item_col: "--item-col"} | {c: "--text-cols" for c in fields}
    schema = require_columns(lf, path, wanted)
    require_id_dtype(schema, path, cfg.item_col, "--item-col")
    if schema[cfg.item_col] != log_item_dtype:
        if schema[cfg.item_col] == pl.String or log_item_dtype == pl.String:
            raise InputDataError(
                f"{path}: column '{cfg.item_col}' is {schema[cfg.item_col]} but the log's is {log_item_dtype}; "
                "store item ids with the same type in both files"
            )
        lf = lf.with_columns(pl.col(cfg.item_col).cast(log_item_dtype))
    return lf


def _catalogue(cfg: EmbedConfig, items: pl.LazyFrame) -> pl.DataFrame:
    """Item table with dense `iid` (1-based, by sorted item id) and rendered text."""
    with input_errors(cfg.items):
        cat = items.select(pl.col(cfg.item_col), text_expr(cfg.template).alias("text")).collect()
    if cat.height == 0:
        raise InputDataError(f"{cfg.items}: no items (the file is empty); give one row per item with its text")
    if cat[cfg.item_col].null_count():
        raise InputDataError(f"{cfg.items}: column '{cfg.item_col}' has null ids; drop those rows")
    dup = cat.filter(pl.col(cfg.item_col).is_duplicated())
    if dup.height:
        ex = ", ".join(map(str, dup[cfg.item_col].unique().head(5).to_list()))
        raise InputDataError(
            f"{cfg.items}: column '{cfg.item_col}' has duplicate ids (e.g. {ex}); keep one row per item"
        )
    mid = _model_id(cfg)
    cat = cat.sort(cfg.item_col).with_columns(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int32).alias("iid"),
        pl.col("text")
        .map_elements(lambda t: text_hash(mid, cfg.template, t), return_dtype=pl.String)
        .alias("text_hash"),
    )
    return cat.select("iid", cfg.item_col, "text", "text_hash")


def _sequences(cfg: EmbedConfig, log: pl.LazyFrame, catalogue: pl.DataFrame) -> pl.DataFrame:
    """One row per interaction, sorted by (uid, timestamp, row_index), with its position."""
    u, i, t = cfg.user_col, cfg.item_col, cfg.time_col
    base = log.with_row_index(ROW_INDEX).select(ROW_INDEX, u, i, t)
    users = base.select(u).unique().sort(u).with_row_index("uid").with_columns(pl.col("uid").cast(pl.Int32))
    with input_errors(cfg.interactions):
        seq = (
            base.join(users, on=u)
            .join(catalogue.lazy().select(i, "iid"), on=i, how="left")
            .sort(["uid", t, ROW_INDEX])
            .with_columns(pl.int_range(pl.len(), dtype=pl.Int32).over("uid").alias("position"))
            .select("uid", "position", "iid", ROW_INDEX, u, i, t)
            .collect()
        )
    unknown = seq.filter(pl.col("iid").is_null())
    if unknown.height:
        ex = ", ".join(map(str, unknown[i].unique().sort().head(5).to_list()))
        raise InputDataError(
            f"{cfg.interactions}: {unknown.height} interactions have item ids missing from {cfg.items} "
            f"(column '{i}', e.g. {ex}); add those items with their text, or drop them from the log"
        )
    return seq


def _model_id(cfg: EmbedConfig) -> str:
    """Cache-key part for the model: its name, a fingerprint of its files and the precision."""
    return model_id(resolve_model_dir(cfg.model), cfg.precision)


def _semantic_vectors(
    cfg: EmbedConfig, wd: Workdir, catalogue: pl.DataFrame, progress: ProgressFn
) -> tuple[np.ndarray, int, int, str | None]:
    """Vectors in `iid` order, reusing cached ones whose text hash is unchanged (the hash covers model,
    template and text, so a nightly rerun encodes only new or changed items)."""
    cached: dict[str, np.ndarray] = {}
    cache_file = wd.file(SEMANTIC)
    if cache_file.exists():
        try:
            old = pl.read_parquet(cache_file, columns=["text_hash", "vector"])
            cached = dict(zip(old["text_hash"].to_list(), old["vector"].to_numpy(), strict=True))
        except (pl.exceptions.PolarsError, OSError):
            cached = {}
    hashes = catalogue["text_hash"].to_list()
    texts = catalogue["text"].to_list()
    todo = [k for k, h in enumerate(hashes) if h not in cached]
    new: np.ndarray | None = None
    provider: str | None = None
    if todo:
        encoder = load_encoder(
            cfg.model, device=cfg.device, threads=cfg.threads, batch_size=cfg.batch_size, precision=cfg.precision
        )
        provider = encoder.provider
        new = encoder.encode([texts[k] for k in todo], progress)
    dim = new.shape[1] if new is not None else next(iter(cached.values())).shape[0]
    out = np.zeros((len(hashes), dim), dtype=np.float32)
    new_rows = dict(zip(todo, range(len(todo)), strict=True))
    for k, h in enumerate(hashes):
        if k in new_rows:
            assert new is not None
            out[k] = new[new_rows[k]]
        else:
            out[k] = cached[h]
    return out, len(todo), len(hashes) - len(todo), provider
