"""`filter --format recbole`: the cleaned log and the catalogue as RecBole atomic files (`.inter`, `.item`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from seqclean.errors import UsageError
from seqclean.io import atomic_path, input_errors, scan_table
from seqclean.workdir import RECBOLE_DIR


def write_recbole(
    out: Path, dataset_name: str, manifest: dict[str, Any], cleaned: Path, log_cols: pl.Schema
) -> list[str]:
    """RecBole atomic files: `.inter` (user_id, item_id, timestamp + other columns) and `.item` (text)."""
    cols = manifest["columns"]
    user, item, time = cols["user"], cols["item"], cols["time"]
    std = {user: "user_id", item: "item_id", time: "timestamp"}
    clash = [c for c in log_cols.names() if c not in std and c in std.values()]
    if clash:
        raise UsageError(
            f"--format recbole: column '{clash[0]}' would clash with RecBole's standard field of that name; "
            "rename it in the input"
        )
    exprs = []
    for c, t in log_cols.items():
        name = std.get(c, c)
        if c == time or (c not in std and t.is_numeric()):
            e = pl.col(c).dt.epoch("s") if t.is_temporal() else pl.col(c)
            exprs.append(e.cast(pl.Float64).alias(f"{name}:float"))
        else:
            exprs.append(_token(pl.col(c)).alias(f"{name}:token"))
    dest = out / RECBOLE_DIR
    inter = dest / f"{dataset_name}.inter"
    item_file = dest / f"{dataset_name}.item"
    with atomic_path(inter) as tmp:
        pl.scan_parquet(cleaned).select(exprs).sink_csv(tmp, separator="\t", quote_style="never")
    src = manifest["inputs"]["items"]
    items_path = Path(src["path"])
    items = scan_table(items_path, what="items")
    text = [c for c in cols.get("text", []) if c in items.collect_schema() and c != item]
    with input_errors(items_path), atomic_path(item_file) as tmp:
        items.sort(item).select(
            _token(pl.col(item)).alias("item_id:token"),
            *(_token(pl.col(c)).alias(f"{c}:token_seq") for c in text),
        ).sink_csv(tmp, separator="\t", quote_style="never")
    return [f"{RECBOLE_DIR}/{inter.name}", f"{RECBOLE_DIR}/{item_file.name}"]


def _token(e: pl.Expr) -> pl.Expr:
    """As text with tabs and newlines flattened to spaces (RecBole's files are tab-separated lines)."""
    return e.cast(pl.String).str.replace_all(r"[\t\r\n]+", " ").fill_null("")
