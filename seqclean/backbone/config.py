"""The backbone's options and its files under `WORKDIR/backbone/`: names, config reader, item vectors.

Everything that reads or writes `backbone/` goes through here, so the trainer (`train.py`), the BYO
writer (`byo.py`) and the runners (`runner.py`) share one description of the directory and never
import each other for it. File names come from `seqclean.workdir`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from seqclean.config import DEFAULTS, LOSSES
from seqclean.errors import MissingInputError, UsageError
from seqclean.io import write_parquet
from seqclean.option_checks import check_decoys
from seqclean.workdir import (
    BACKBONE_CONFIG,
    BACKBONE_DIR,
    BACKBONE_ITEM_EMBEDDINGS,
    BACKBONE_ONNX,
    BACKBONE_WEIGHTS,
)

MODELS = ("sasrec", "gru4rec")
BYO_DECAY = 0.7
# kept under their historical names: the manifest's "files" section and tests use them
CONFIG_JSON = BACKBONE_CONFIG
MODEL_PT = BACKBONE_WEIGHTS
ITEM_EMBEDDINGS = BACKBONE_ITEM_EMBEDDINGS
ONNX_MODEL = BACKBONE_ONNX
N_TRAINED = "n_trained"


@dataclass
class BackboneConfig:
    """Options of the backbone; `None` means the model's RecBole-like default.

    SASRec: hidden 64, 2 layers, 2 heads, dropout 0.5. GRU4Rec: embedding 64, GRU hidden 128, 1 layer,
    dropout 0.3. Both: Adam, lr 2e-3, max length 50, early stopping after `patience` epochs (docs/backbone.md).
    Bounds on the cost (0 = none): `train_users` (a seeded sample of users), `max_steps` (optimizer steps in
    all), `valid_users` (users ranked after each epoch), and the `loss` (`auto`: sampled on large catalogues).
    """

    model: str = DEFAULTS.backbone.backbone
    epochs: int = DEFAULTS.backbone.epochs
    batch_size: int = DEFAULTS.backbone.batch_size
    lr: float = DEFAULTS.backbone.lr
    max_len: int = DEFAULTS.backbone.max_len
    hidden: int = 64
    layers: int | None = None
    heads: int = 2
    dropout: float | None = None
    gru_hidden: int = 128
    seed: int = DEFAULTS.general.seed
    patience: int = DEFAULTS.backbone.patience
    device: str = DEFAULTS.general.device
    weight_decay: float = 0.0
    threads: int | None = None
    loss: str = DEFAULTS.backbone.loss
    negatives: int = DEFAULTS.backbone.negatives
    train_users: int = DEFAULTS.backbone.train_users
    max_steps: int = DEFAULTS.backbone.max_steps
    valid_users: int = DEFAULTS.backbone.valid_users
    decoys: str = DEFAULTS.backbone.decoys

    def validate(self) -> None:
        if self.model not in MODELS:
            raise UsageError(f"--backbone {self.model}: choose sasrec or gru4rec")
        for name, value in (("--epochs", self.epochs), ("--batch-size", self.batch_size), ("--max-len", self.max_len)):
            if value < 1:
                raise UsageError(f"{name} {value}: must be at least 1")
        if not self.lr > 0:
            raise UsageError(f"--lr {self.lr}: must be positive")
        if self.loss not in LOSSES:
            raise UsageError(f"--loss {self.loss}: choose auto, full or sampled")
        if self.negatives < 1:
            raise UsageError(f"--negatives {self.negatives}: must be at least 1")
        for name, value in (("--train-users", self.train_users), ("--max-steps", self.max_steps)):
            if value < 0:
                raise UsageError(f"{name} {value}: must be 0 (no limit) or more")
        check_decoys(self.decoys)
        if self.valid_users < 1:
            raise UsageError(f"--valid-users {self.valid_users}: must be at least 1")
        if self.patience < 1:
            raise UsageError(f"patience {self.patience}: must be at least 1")
        if self.device not in {"auto", "cpu", "cuda"}:
            raise UsageError(f"--device {self.device}: choose auto, cpu or cuda")
        if self.model == "sasrec" and self.hidden % self.heads:
            raise UsageError(f"hidden {self.hidden} is not divisible by heads {self.heads}; change one of them")

    def model_args(self, n_items: int) -> dict[str, Any]:
        """Keyword arguments of the model class (defaults resolved), also saved in config.json."""
        if self.model == "sasrec":
            return {
                "n_items": n_items,
                "hidden": self.hidden,
                "layers": 2 if self.layers is None else self.layers,
                "heads": self.heads,
                "max_len": self.max_len,
                "dropout": 0.5 if self.dropout is None else self.dropout,
            }
        return {
            "n_items": n_items,
            "hidden": self.hidden,
            "gru_hidden": self.gru_hidden,
            "layers": 1 if self.layers is None else self.layers,
            "dropout": 0.3 if self.dropout is None else self.dropout,
        }


def find_backbone_dir(path: Path) -> Path:
    """Accept a workdir or its `backbone/` directory."""
    for cand in (path, path / BACKBONE_DIR):
        if (cand / CONFIG_JSON).exists():
            return cand
    raise MissingInputError(
        f"{path}: no backbone found ({BACKBONE_DIR}/{CONFIG_JSON} missing); run `seqclean embed --workdir ...` first"
    )


def read_config(backbone_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((backbone_dir / CONFIG_JSON).read_text())
    return data


def write_item_embeddings(
    dest: Path, items: pl.DataFrame, item_col: str, table: np.ndarray, trained: np.ndarray | None = None
) -> None:
    """Rows for iid 1..n (padding row 0 left out): iid, the item id column, vector, and `n_trained` (by iid:
    the item's interactions the vectors were trained on) when given."""
    vec = np.ascontiguousarray(table[1:], dtype=np.float32)
    frame = items.select("iid", item_col).with_columns(
        pl.Series("vector", vec, dtype=pl.Array(pl.Float32, vec.shape[1]))
    )
    if trained is not None:
        frame = frame.with_columns(pl.Series(N_TRAINED, np.asarray(trained[1:], dtype=np.int64)))
    write_parquet(frame, dest)


def read_trained_counts(backbone_dir: Path, n_rows: int) -> np.ndarray | None:
    """Per iid, the interactions the backbone trained on (`n_trained`); None for backbones without it (BYO)."""
    path = backbone_dir / ITEM_EMBEDDINGS
    if N_TRAINED not in pl.read_parquet_schema(path):
        return None
    df = pl.read_parquet(path, columns=["iid", N_TRAINED])
    out = np.zeros(n_rows, dtype=np.int64)
    out[df["iid"].to_numpy()] = df[N_TRAINED].to_numpy()
    return out


def read_item_table(backbone_dir: Path) -> np.ndarray:
    """(n_iid + 1, d) float32, row 0 (padding) zero, from item_embeddings.parquet (iid column)."""
    path = backbone_dir / ITEM_EMBEDDINGS
    if not path.exists():
        raise MissingInputError(f"{path} not found; rerun `seqclean embed` to write the backbone")
    df = pl.read_parquet(path, columns=["iid", "vector"]).sort("iid")
    vec = np.asarray(df["vector"].to_numpy(), dtype=np.float32)
    iids = df["iid"].to_numpy()
    table = np.zeros((int(iids.max()) + 1, vec.shape[1]), dtype=np.float32)
    table[iids] = vec
    return table
