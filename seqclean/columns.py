"""The column mapping of `embed`, inferred from a MovieLens / RecBole input's layout when the named columns
are absent (the readers in `seqclean.readers` name the columns; this picks them for an `EmbedConfig`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeVar

from seqclean.io import scan_table
from seqclean.readers import detect_format, infer_text_cols, resolve_columns, resolve_item_col

C = TypeVar("C", bound=Any)  # an EmbedConfig (not imported: embed imports this module)


def infer_embed_config(cfg: C) -> C:
    """`cfg` with the column mapping inferred where the named columns are absent from a MovieLens/RecBole input."""
    if detect_format(cfg.interactions) is None and detect_format(cfg.items) is None:
        return cfg
    log = scan_table(cfg.interactions, what="interactions")
    user, item, time = resolve_columns(cfg.interactions, log, cfg.user_col, cfg.item_col, cfg.time_col)
    items = scan_table(cfg.items, what="items")
    item_col_items = resolve_item_col(cfg.items, items, item)
    if item_col_items != item:  # one name for both files: the item table's id column is renamed on read
        return cfg  # different names: leave it to the usual error naming --item-col
    text = cfg.text_cols
    template = cfg.text_template
    if template is None:
        text = infer_text_cols(cfg.items, items, cfg.text_cols, item)
    return replace(cfg, user_col=user, item_col=item, time_col=time, text_cols=text)
