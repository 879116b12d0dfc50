"""`--collab-embeddings PATH`: bring a production model's item vectors instead of training a backbone.

The file is Parquet (CSV cannot hold a list column) with the log's item id
column (same name as `--item-col`) and a `vector` column (list or array of floats, one length).
Every item that occurs in the log must have a vector; catalogue items never interacted with may be
missing and get a zero vector. Extra items are ignored.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from seqclean.backbone.config import (
    BACKBONE_DIR,
    BYO_DECAY,
    CONFIG_JSON,
    ITEM_EMBEDDINGS,
    MODEL_PT,
    ONNX_MODEL,
    BackboneConfig,
    write_item_embeddings,
)
from seqclean.errors import InputDataError
from seqclean.io import input_errors, require_columns, scan_table, write_json
from seqclean.workdir import BACKBONE_DECOYS, ITEMS

VECTOR = "vector"


def load_collab_embeddings(path: Path, items: pl.DataFrame, item_col: str) -> np.ndarray:
    """Vectors aligned to the catalogue: (n_iid + 1, d) float32, row 0 padding.

    `items` has `iid`, `item_col` and `n_interactions` (as items.parquet).
    """
    lf = scan_table(path, what="collab-embeddings")
    schema = require_columns(lf, path, {item_col: "--item-col", VECTOR: "--collab-embeddings (a 'vector' column)"})
    vdt = schema[VECTOR]
    if not isinstance(vdt, pl.List | pl.Array) or not vdt.inner.is_numeric():
        raise InputDataError(
            f"{path}: column '{VECTOR}' has type {vdt}; store each item's embedding as a list of floats"
        )
    id_dtype = items.schema[item_col]
    if schema[item_col] != id_dtype:
        if schema[item_col] == pl.String or id_dtype == pl.String:
            raise InputDataError(
                f"{path}: column '{item_col}' is {schema[item_col]} but the log's is {id_dtype}; "
                "store item ids with the same type in both files"
            )
        lf = lf.with_columns(pl.col(item_col).cast(id_dtype))
    with input_errors(path):
        df = lf.select(item_col, pl.col(VECTOR).cast(pl.List(pl.Float32))).collect()
    if df[item_col].null_count() or df[VECTOR].null_count():
        raise InputDataError(f"{path}: null item ids or vectors; drop those rows or fill them")
    if df[item_col].is_duplicated().any():
        ex = ", ".join(map(str, df.filter(pl.col(item_col).is_duplicated())[item_col].unique().sort().head(5)))
        raise InputDataError(f"{path}: column '{item_col}' has duplicate ids (e.g. {ex}); keep one vector per item")
    lens = df[VECTOR].list.len().to_numpy()
    if df.height == 0 or lens.min() != lens.max() or lens.min() == 0:
        found = f"{lens.min()}..{lens.max()}" if df.height else "no rows"
        raise InputDataError(
            f"{path}: vectors in column '{VECTOR}' must be non-empty and all of one length "
            f"(found lengths {found}); re-export them from one model"
        )
    joined = items.select("iid", item_col, "n_interactions").join(df, on=item_col, how="left").sort("iid")
    missing = joined.filter(pl.col(VECTOR).is_null() & (pl.col("n_interactions") > 0))
    if missing.height:
        ex = ", ".join(map(str, missing[item_col].head(5).to_list()))
        raise InputDataError(
            f"{path}: {missing.height} items of the log have no vector (column '{item_col}', e.g. {ex}); "
            "add them, or drop their interactions"
        )
    dim = int(lens.max())
    table = np.zeros((items.height + 1, dim), dtype=np.float32)
    have = joined.filter(pl.col(VECTOR).is_not_null())
    table[have["iid"].to_numpy()] = np.asarray(have[VECTOR].to_list(), dtype=np.float32)
    if not np.isfinite(table).all():
        raise InputDataError(f"{path}: column '{VECTOR}' holds NaN or infinite values; fix them at the source")
    return table


def write_byo_backbone(path: Path, cfg: BackboneConfig, workdir: Path, item_col: str) -> dict[str, Any]:
    """Validate the BYO file against the workdir's catalogue, write `backbone/`; returns the manifest section."""
    items = pl.read_parquet(workdir / ITEMS, columns=["iid", item_col, "n_interactions"])
    table = load_collab_embeddings(path, items, item_col)
    out = workdir / BACKBONE_DIR
    out.mkdir(parents=True, exist_ok=True)
    for stale in (out / MODEL_PT, out / ONNX_MODEL, out / BACKBONE_DECOYS):  # no decoys: nothing trained here
        stale.unlink(missing_ok=True)
    write_item_embeddings(out / ITEM_EMBEDDINGS, items.sort("iid"), item_col, table)
    pooling = {"pooling": "causal exponentially decayed mean over the last max_len items", "decay": BYO_DECAY}
    write_json({"kind": "byo", "options": asdict(cfg), "source": str(path.resolve()), **pooling}, out / CONFIG_JSON)
    return {
        "kind": "byo",
        "source": str(path.resolve()),
        "dim": int(table.shape[1]),
        "max_len": cfg.max_len,
        **pooling,
        "files": {"item_embeddings": f"{BACKBONE_DIR}/{ITEM_EMBEDDINGS}"},
    }
