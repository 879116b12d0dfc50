"""Input scanning and validation, and atomic writes (workdir file names live in `seqclean.workdir`).

Inputs are scanned lazily with Polars and never modified. Outputs are written to a temporary
path beside their destination and renamed into place, so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from seqclean.errors import InputDataError, MissingInputError, OutputError

ROW_INDEX = "row_index"
"""Name of the column that carries each interaction's 0-based row number in the input log."""

_INTEGER_OR_STRING = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64, pl.String)


def _format_of(path: Path) -> str:
    from seqclean.readers import detect_format

    special = detect_format(path)
    if special is not None:
        return special
    if path.is_dir():
        return "parquet-dir"
    suffix = path.suffix.lower()
    if suffix in {".parquet", ".pq"}:
        return "parquet"
    if suffix in {".csv", ".tsv"}:
        return "csv"
    raise InputDataError(
        f"{path}: unsupported file type '{suffix or '(none)'}'; give a .parquet file, a directory of "
        "Parquet files, a .csv file, MovieLens u.data/u.item/ratings.dat/movies.dat or RecBole .inter/.item"
    )


def scan_table(path: Path, *, what: str) -> pl.LazyFrame:
    """Lazily scan a Parquet file, a (Hive-partitioned) directory of Parquet files, or a CSV file.

    The schema is resolved here, so a missing, empty or truncated file fails now with a clear message
    rather than deep inside a later stage.
    """
    if not path.exists():
        raise MissingInputError(f"{what} file {path} does not exist; check the path (--{what})")
    fmt = _format_of(path)
    with input_errors(path):
        if fmt == "parquet":
            lf = pl.scan_parquet(path)
        elif fmt not in {"parquet-dir", "csv"}:  # MovieLens and RecBole files (seqclean.readers)
            from seqclean.readers import read_special

            lf = read_special(path, fmt)
        elif fmt == "parquet-dir":
            files = sorted(p for p in path.rglob("*.parquet") if p.is_file())
            if not files:
                raise InputDataError(f"{path}: directory holds no .parquet files; point --{what} at the data")
            lf = pl.scan_parquet(path / "**" / "*.parquet", hive_partitioning=True)
        else:
            if path.stat().st_size == 0:
                raise InputDataError(f"{path}: file is empty; give a CSV with a header row and data")
            sep = "\t" if path.suffix.lower() == ".tsv" else ","
            lf = pl.scan_csv(path, separator=sep, infer_schema_length=10_000)
        lf.collect_schema()
    return lf


@contextmanager
def input_errors(path: Path) -> Iterator[None]:
    """Turn Polars/Arrow read failures on `path` into one-line `InputDataError`s."""
    try:
        yield
    except (InputDataError, MissingInputError):
        raise
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputDataError(
            f"{path}: cannot be read ({first[:200]}); the file is corrupt or truncated: re-export it from its source"
        ) from exc


def require_columns(lf: pl.LazyFrame, path: Path, columns: dict[str, str]) -> pl.Schema:
    """Check that each column exists; `columns` maps column name -> the option that named it."""
    schema = lf.collect_schema()
    for col, option in columns.items():
        if col not in schema:
            have = ", ".join(schema.names())
            raise InputDataError(
                f"{path}: column '{col}' not found (columns are: {have}); pass the right name with {option}"
            )
    return schema


def require_id_dtype(schema: pl.Schema, path: Path, col: str, option: str) -> None:
    """Ids must be integers or strings, so that they join exactly across files."""
    dtype = schema[col]
    if dtype not in _INTEGER_OR_STRING and not isinstance(dtype, pl.Categorical | pl.Enum):
        raise InputDataError(
            f"{path}: column '{col}' has type {dtype}, but ids must be integers or strings; "
            f"cast it or pass another column with {option}"
        )


def require_time_dtype(schema: pl.Schema, path: Path, col: str, option: str) -> None:
    """Timestamps must be orderable numbers or temporal values."""
    dtype = schema[col]
    if not (dtype.is_numeric() or dtype.is_temporal()):
        raise InputDataError(
            f"{path}: column '{col}' has type {dtype}, but timestamps must be numbers, dates or datetimes; "
            f"convert it or pass another column with {option}"
        )


def read_users(seq_path: Path, lo: int, hi: int) -> pl.DataFrame:
    """Users [lo, hi) of `sequences.parquet` (a predicate on `uid`), sorted by (uid, position): one chunk."""
    return pl.scan_parquet(seq_path).filter(pl.col("uid").is_between(lo, hi - 1)).sort(["uid", "position"]).collect()


def file_fingerprint(path: Path) -> list[dict[str, Any]]:
    """Size and modification time of every file behind `path`: cheap, and enough to spot a changed input."""
    path = path.resolve()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    out = []
    for f in files:
        st = f.stat()
        out.append({"path": str(f), "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return out


def _tmp_path_for(dest: Path) -> Path:
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create directory {dest.parent} ({exc.strerror}); choose a writable path") from exc
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)
    return Path(name)


@contextmanager
def atomic_path(dest: Path) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; rename it onto `dest` only if the block succeeds."""
    try:
        tmp = _tmp_path_for(dest)
    except OSError as exc:
        raise OutputError(f"cannot write {dest} ({exc.strerror}); choose a writable path") from exc
    try:
        yield tmp
        os.replace(tmp, dest)
    except OSError as exc:
        raise OutputError(f"cannot write {dest} ({exc.strerror}); choose a writable path with free space") from exc
    finally:
        if tmp.exists():
            tmp.unlink()


def write_parquet(frame: pl.DataFrame | pl.LazyFrame, dest: Path, *, row_group_size: int = 100_000) -> None:
    """Write a frame (eager, or lazy and streamed) to Parquet atomically."""
    with atomic_path(dest) as tmp:
        if isinstance(frame, pl.LazyFrame):
            frame.sink_parquet(tmp, row_group_size=row_group_size, engine="streaming")
        else:
            frame.write_parquet(tmp, row_group_size=row_group_size)


def write_bytes(data: bytes, dest: Path) -> None:
    """Write bytes atomically (e.g. a model serialised in memory, so the temp name never ends up inside it)."""
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def write_json(obj: Any, dest: Path) -> None:
    """Write JSON atomically, keys sorted so that reruns are byte-identical."""
    with atomic_path(dest) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
