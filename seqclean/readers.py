"""Readers for the formats recommender datasets ship in, so users can run seqclean on their own copies.

- MovieLens-100K: `u.data` (also `u1.base`, `ua.test`, ...: tab-separated, no header ->
  user_id, item_id, rating, timestamp) and `u.item` (pipe-separated, Latin-1 -> item_id, title,
  release_date, video_release_date, imdb_url, genres from the 19 genre flags).
- MovieLens-1M/10M: `ratings.dat` (`::`-separated -> user_id, item_id, rating, timestamp) and
  `movies.dat` (`::`-separated, Latin-1 -> item_id, title, genres, the `|` list written as `A, B`).
- RecBole atomic files: `.inter` / `.item` (tab-separated, header `name:type`): the columns are named
  without the type; `token` and `token_seq` fields are strings (so ids join across both files), `float`
  fields are numbers.

`detect_format` is consulted by `seqclean.io.scan_table` before the generic Parquet/CSV rules, so every
command reads these files. When the user/item/time columns named on the command line are absent, the
mapping is inferred for these formats (`resolve_columns`, `infer_embed_columns`).
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
RATING_COLS = ("user_id", "item_id", "rating", "timestamp")
FORMATS = ("ml-udata", "ml-uitem", "ml-ratings-dat", "ml-movies-dat", "recbole-inter", "recbole-item")


def detect_format(path: Path) -> str | None:
    """The special format of `path` from its name, or None for the generic Parquet/CSV rules."""
    if path.is_dir():
        return None
    name = path.name.lower()
    if name == "u.data" or re.fullmatch(r"u[a-z0-9]*\.(base|test)", name):
        return "ml-udata"
    if name == "u.item":
        return "ml-uitem"
    if name.endswith("ratings.dat"):
        return "ml-ratings-dat"
    if name.endswith("movies.dat"):
        return "ml-movies-dat"
    if path.suffix.lower() == ".inter":
        return "recbole-inter"
    if path.suffix.lower() == ".item":
        return "recbole-item"
    return None


def read_special(path: Path, fmt: str) -> pl.LazyFrame:
    """Scan (or, for Latin-1 and `::` files, read) a file of a `detect_format` format."""
    if fmt == "ml-udata":
        return pl.scan_csv(
            path,
            separator="\t",
            has_header=False,
            new_columns=list(RATING_COLS),
            schema_overrides={"column_1": pl.Int64, "column_2": pl.Int64, "column_3": pl.Float64, "column_4": pl.Int64},
        )
    if fmt == "ml-ratings-dat":
        text = path.read_bytes().decode("latin-1").replace("::", "\t")
        return pl.read_csv(
            text.encode(), separator="\t", has_header=False, new_columns=list(RATING_COLS), quote_char=None
        ).lazy()
    if fmt == "ml-uitem":
        return _ml100k_items(path)
    if fmt == "ml-movies-dat":
        rows = [line.split("::", 2) for line in path.read_bytes().decode("latin-1").splitlines() if line.strip()]
        if any(len(r) != 3 for r in rows):
            raise ValueError("a line does not have the 3 '::'-separated fields MovieID::Title::Genres")
        return pl.DataFrame(
            {
                "item_id": [int(r[0]) for r in rows],
                "title": [r[1] for r in rows],
                "genres": [r[2].replace("|", ", ") for r in rows],
            }
        ).lazy()
    return _recbole(path)


def _ml100k_items(path: Path) -> pl.LazyFrame:
    lines = [line for line in path.read_bytes().decode("latin-1").splitlines() if line.strip()]
    rows = [line.split("|") for line in lines]
    if any(len(r) != 5 + len(ML100K_GENRES) for r in rows):
        raise ValueError(f"a line does not have the {5 + len(ML100K_GENRES)} '|'-separated fields of u.item")
    genres = [", ".join(g for g, f in zip(ML100K_GENRES, r[5:], strict=True) if f.strip() == "1") for r in rows]
    return pl.DataFrame(
        {
            "item_id": [int(r[0]) for r in rows],
            "title": [r[1] for r in rows],
            "release_date": [r[2] or None for r in rows],
            "video_release_date": [r[3] or None for r in rows],
            "imdb_url": [r[4] or None for r in rows],
            "genres": genres,
        },
        schema_overrides={"release_date": pl.String, "video_release_date": pl.String, "imdb_url": pl.String},
    ).lazy()


def recbole_fields(path: Path) -> list[tuple[str, str]]:
    """(name, type) of each field of a RecBole atomic file's header."""
    with path.open(encoding="utf-8", errors="replace") as f:
        header = f.readline().rstrip("\r\n")
    out = []
    for field in header.split("\t"):
        name, _, typ = field.partition(":")
        out.append((name, typ or "token"))
    return out


def _recbole(path: Path) -> pl.LazyFrame:
    fields = recbole_fields(path)
    dtypes = {"float": pl.Float64}
    schema = {f"{n}:{t}" if t else n: dtypes.get(t, pl.String) for n, t in fields}
    lf = pl.scan_csv(path, separator="\t", quote_char=None, schema_overrides=schema, infer_schema=False)
    return lf.rename({old: old.partition(":")[0] for old in lf.collect_schema().names()})


def resolve_columns(path: Path, lf: pl.LazyFrame, user: str, item: str, time: str) -> tuple[str, str, str]:
    """The (user, item, time) columns: as given when present, else inferred for a RecBole `.inter` file
    (the first field whose name contains 'user' (else 'session', else the first field) / 'item' / 'time')."""
    names = lf.collect_schema().names()
    if detect_format(path) != "recbole-inter" or {user, item, time} <= set(names):
        return user, item, time
    return (
        user if user in names else _first(names, "user", _first(names, "session", names[0])),
        item if item in names else _first(names, "item", item),
        time if time in names else _first(names, "time", time),
    )


def resolve_item_col(path: Path, lf: pl.LazyFrame, item: str) -> str:
    """The item id column of an item table: as given, else the first RecBole field naming an item."""
    names = lf.collect_schema().names()
    if item in names or detect_format(path) != "recbole-item":
        return item
    return _first(names, "item", item)


def infer_text_cols(path: Path, lf: pl.LazyFrame, wanted: list[str], item: str) -> list[str]:
    """Text columns: as given when present, else (RecBole `.item`) every `token_seq` field but the id."""
    names = lf.collect_schema().names()
    if all(c in names for c in wanted) or detect_format(path) != "recbole-item":
        return wanted
    seq = [n for n, t in recbole_fields(path) if t == "token_seq" and n != item]
    return seq or wanted


def _first(names: list[str], needle: str, default: str) -> str:
    return next((n for n in names if needle in n.lower()), default)
