from __future__ import annotations

import polars as pl

from seqclean.text import default_template, template_fields, text_expr, text_hash


def test_template_renders_and_collapses_nulls() -> None:
    df = pl.DataFrame({"title": ["Heat", "Amélie", None], "genres": ["Crime Thriller", None, "Drama"]})
    tpl = default_template(["title", "genres"])
    assert tpl == "{title} | {genres}"
    assert template_fields(tpl) == ["title", "genres"]
    out = df.select(text_expr(tpl).alias("t"))["t"].to_list()
    assert out == ["Heat | Crime Thriller", "Amélie", "Drama"]


def test_hash_changes_with_each_part() -> None:
    base = text_hash("m", "{title}", "Heat")
    assert base != text_hash("m2", "{title}", "Heat")
    assert base != text_hash("m", "{title} | {genres}", "Heat")
    assert base != text_hash("m", "{title}", "Heat 2")
    assert base == text_hash("m", "{title}", "Heat")
