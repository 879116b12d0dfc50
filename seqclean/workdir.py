"""Every file name in a workdir or an output directory, and the manifest that ties a workdir together.

Stages talk to each other only through these files, so they import names from here rather than from
each other. Layout (docs/architecture.md draws who writes and who reads each):

WORKDIR/ (written by `embed`, then `score`)
  manifest.json          inputs + fingerprints, column mapping, options of every stage that ran
  sequences.parquet      one row per interaction, sorted by user then position (embed)
  items.parquet          the catalogue with dense `iid` (embed)
  semantic.parquet       item text embeddings, keyed by text hash (embed)
  backbone/              the collaborative backbone (embed; `seqclean.backbone.config` reads it)
    config.json, model.pt, item_embeddings.parquet, onnx/model.onnx,
    history.json         when it was last trained from scratch (nightly runs fine-tune it in between)
  scores.parquet         per-interaction scores (score)
  item_report.parquet    per-item flag counts (score)
  summary.json           score summary (score)
OUT/ (written by `filter`)
  cleaned.parquet, removed.parquet | changes.parquet, summary.json, recbole/
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from seqclean.errors import InputDataError, MissingInputError, SeqcleanError
from seqclean.io import file_fingerprint, write_json

MANIFEST = "manifest.json"
WORKDIR_FORMAT = 2
"""Version of this layout, recorded by `embed`; a workdir of another version is refused (rerun embed)."""

# embed
SEQUENCES = "sequences.parquet"
ITEMS = "items.parquet"
SEMANTIC = "semantic.parquet"
BACKBONE_DIR = "backbone"
CLEAN_BACKBONE_DIR = "backbone-clean"  # score --rounds 2: the backbone trained without round 1's likely noise
BACKBONE_CONFIG = "config.json"
BACKBONE_WEIGHTS = "model.pt"
BACKBONE_ITEM_EMBEDDINGS = "item_embeddings.parquet"
BACKBONE_ONNX = "onnx/model.onnx"
BACKBONE_HISTORY = "history.json"
BACKBONE_DECOYS = "decoys.parquet"  # the decoys the backbone trained with (`seqclean.decoys`)

# score
SCORES = "scores.parquet"
ITEM_REPORT = "item_report.parquet"
SCORE_SUMMARY = "summary.json"

# filter (in --out, not in the workdir)
CLEANED = "cleaned.parquet"
REMOVED = "removed.parquet"
CHANGES = "changes.parquet"
FILTER_SUMMARY = "summary.json"
RECBOLE_DIR = "recbole"
SUCCESS = "_SUCCESS"  # OUT: written last by filter, the stage record (seqclean.stages)

# the run lock, in WORKDIR and in OUT (seqclean.stages.locked)
LOCK_NAME = ".seqclean.lock"


@dataclass
class Workdir:
    """The workdir holds every intermediate artefact and the manifest that records how they were made."""

    path: Path

    def file(self, name: str) -> Path:
        return self.path / name

    def read_manifest(self) -> dict[str, Any]:
        mf = self.file(MANIFEST)
        if not mf.exists():
            raise MissingInputError(
                f"{mf} not found: {self.path} is not a seqclean workdir; run `seqclean embed --workdir "
                f"{self.path} ...` first"
            )
        try:
            data: dict[str, Any] = json.loads(mf.read_text())
        except json.JSONDecodeError as exc:
            raise InputDataError(f"{mf}: not valid JSON ({exc.msg}); rerun `seqclean embed`") from exc
        version = data.get("workdir_format", 1) if isinstance(data, dict) else None
        if version != WORKDIR_FORMAT:
            raise InputDataError(
                f"{mf}: workdir format {version} (seqclean {dict(data).get('seqclean_version', '?')}), this seqclean "
                f"reads format {WORKDIR_FORMAT}; rerun `seqclean embed` on this workdir"
            )
        return data

    def write_manifest(self, data: dict[str, Any]) -> None:
        write_json(data, self.file(MANIFEST))

    def require(self, name: str, stage: str) -> Path:
        p = self.file(name)
        if not p.exists():
            raise MissingInputError(f"{p} not found; run `seqclean {stage} --workdir {self.path}` first")
        return p


@contextmanager
def workdir_errors(workdir: Path) -> Iterator[None]:
    """Read failures on the workdir's own files (corrupt, truncated, another version) become an
    `InputDataError` that says to rerun embed, never an internal error."""
    try:
        yield
    except SeqcleanError:
        raise
    except Exception as exc:
        known = (pl.exceptions.PolarsError, OSError, KeyError, json.JSONDecodeError)
        if not isinstance(exc, known) and not type(exc).__module__.startswith(("onnxruntime", "pyarrow")):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputDataError(
            f"{workdir}: a workdir file is corrupt or from another seqclean version ({type(exc).__name__}: "
            f"{first[:200]}); rerun `seqclean embed` on this workdir"
        ) from exc


def check_unchanged(recorded: Sequence[dict[str, Any]], path: Path, what: str) -> None:
    """Refuse to proceed when an input changed after `embed` recorded it (row numbers would not match)."""
    if not path.exists():
        raise MissingInputError(
            f"{what} file {path} recorded in the manifest no longer exists; restore it or rerun embed"
        )
    now = file_fingerprint(path)
    if [(f["path"], f["size"], f["mtime_ns"]) for f in now] != [
        (f["path"], f["size"], f["mtime_ns"]) for f in recorded
    ]:
        raise InputDataError(
            f"{path}: the {what} file changed since `seqclean embed` recorded it; rerun embed and score on it"
        )
