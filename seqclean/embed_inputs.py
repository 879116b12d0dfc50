"""What `embed` reads: its config and result types, and the input tables it builds before encoding
(log and items checked, the catalogue with dense `iid`s); the time-ordered sequences are built bucket by
bucket in `seqclean.embed_sequences`.

Why a module of its own: `embed.py` keeps the stage's flow and reuse; this one the pure table work.
Sequence order: by timestamp; ties are broken by the row's position in the input (earlier row first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from seqclean.backbone.config import BackboneConfig
from seqclean.backbone.incremental import UpdatePolicy
from seqclean.config import DEFAULTS
from seqclean.encoder import model_id, resolve_model_dir
from seqclean.errors import InputDataError
from seqclean.io import input_errors, require_columns, require_id_dtype, require_time_dtype, scan_table
from seqclean.text import default_template, template_fields, text_expr, text_hash


@dataclass
class EmbedConfig:
    """Everything `embed` needs; the CLI builds one from its options."""

    interactions: Path
    items: Path
    workdir: Path
    user_col: str = DEFAULTS.embed.user_col
    item_col: str = DEFAULTS.embed.item_col
    time_col: str = DEFAULTS.embed.time_col
    text_cols: list[str] = field(default_factory=lambda: DEFAULTS.embed.text_col_list)
    text_template: str | None = DEFAULTS.embed.text_template
    model: Path | None = DEFAULTS.embed.model
    device: str = DEFAULTS.general.device
    batch_size: int = DEFAULTS.embed.encoder_batch_size
    seed: int = DEFAULTS.general.seed
    threads: int | None = DEFAULTS.embed.threads  # ONNX Runtime intra-op threads (None: all cores)
    precision: str = DEFAULTS.embed.precision  # text encoder graph: fp32, int8 (dynamic quantisation) or fp16 (GPU)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    collab_embeddings: Path | None = DEFAULTS.embed.collab_embeddings
    duplicates: str = DEFAULTS.embed.duplicates  # exact (user, item, time) repeats: drop, keep or error
    rerun: bool = DEFAULTS.general.rerun  # recompute even when the workdir holds complete outputs for these inputs
    update: UpdatePolicy | None = field(default_factory=UpdatePolicy)  # backbone on a grown log; None: retrain
    engine: str = DEFAULTS.general.engine  # local, or ray: text encoding batches on a Ray actor pool (same vectors)
    ray_address: str | None = DEFAULTS.general.ray_address  # None: RAY_ADDRESS, else a local Ray instance
    ray_actors: int = DEFAULTS.general.ray_actors

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
    reused: list[str] = field(default_factory=list)  # stages taken from the workdir as they were
    warnings: list[str] = field(default_factory=list)  # one line per suspicious-input check that fired
    backbone_update: dict[str, Any] | None = None  # reused / fine_tuned / retrained, and why


def scan_log(cfg: EmbedConfig) -> pl.LazyFrame:
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


def scan_items(cfg: EmbedConfig, log_item_dtype: pl.DataType) -> pl.LazyFrame:
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


def catalogue(cfg: EmbedConfig, items: pl.LazyFrame) -> pl.DataFrame:
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
    mid = embed_model_id(cfg)
    cat = cat.sort(cfg.item_col).with_columns(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int32).alias("iid"),
        pl.col("text")
        .map_elements(lambda t: text_hash(mid, cfg.template, t), return_dtype=pl.String)
        .alias("text_hash"),
    )
    return cat.select("iid", cfg.item_col, "text", "text_hash")


def embed_model_id(cfg: EmbedConfig) -> str:
    """Cache-key part for the model: its name, a fingerprint of its files and the precision."""
    return model_id(resolve_model_dir(cfg.model), cfg.precision)
