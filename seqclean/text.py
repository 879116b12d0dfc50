"""Item text: the template that turns item columns into the text the encoder sees, and its hash."""

from __future__ import annotations

import hashlib
import re

import polars as pl

from seqclean.errors import UsageError

_FIELD = re.compile(r"\{([^{}]+)\}")


def default_template(text_cols: list[str]) -> str:
    """`title,genres` -> `{title} | {genres}`."""
    return " | ".join("{" + c + "}" for c in text_cols)


def template_fields(template: str) -> list[str]:
    """The column names a template refers to, in order of appearance."""
    fields = _FIELD.findall(template)
    if not fields:
        raise UsageError(f"--text-template '{template}' names no column; write e.g. '{{title}} | {{genres}}'")
    return list(dict.fromkeys(fields))


def text_expr(template: str) -> pl.Expr:
    """A Polars expression that renders `template` per row; null fields render as empty and their
    separators collapse, so `{title} | {genres}` with no genres gives just the title."""
    parts: list[pl.Expr] = []
    pos = 0
    for m in _FIELD.finditer(template):
        if m.start() > pos:
            parts.append(pl.lit(template[pos : m.start()]))
        parts.append(pl.col(m.group(1)).cast(pl.String).fill_null(""))
        pos = m.end()
    if pos < len(template):
        parts.append(pl.lit(template[pos:]))
    joined = pl.concat_str(parts)
    # collapse separators left dangling by empty fields, e.g. "Title |  | " -> "Title"
    return (
        joined.str.replace_all(r"(\s*\|\s*)+(\|\s*)", " | ")
        .str.replace_all(r"^[\s|]+|[\s|]+$", "")
        .str.replace_all(r"\s+", " ")
    )


def text_hash(model_id: str, template: str, text: str) -> str:
    """Cache key of one item's embedding: changes when the model, the template or the text changes."""
    h = hashlib.blake2b(digest_size=16)
    for part in (model_id, template, text):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()
