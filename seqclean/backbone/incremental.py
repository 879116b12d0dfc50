"""Nightly runs on a growing log: reuse, fine-tune or retrain the backbone already in the workdir.

Retraining the backbone from scratch is most of `embed`'s cost. When the workdir already holds a backbone
trained (with the same architecture) on an earlier version of the log, `embed` instead:

- **reuses** it untouched when the sequences it was trained on are exactly today's;
- **fine-tunes** it from its last weights on the grown log for at most `finetune_epochs` epochs (the epoch
  chosen on the same validation as a full training, the starting weights included as epoch 0). Item rows are
  carried over by item id, never by `iid` (iids are assigned by sorted item id, so they shift when items are
  added); items new to the backbone start from a fresh row. With `finetune_epochs = 0` the weights are kept as
  they are and new items keep an untrained row;
- **retrains** from scratch when asked (`--retrain`), when there is no usable previous backbone (none, BYO
  vectors, other architecture or item column), or when a rule says the previous one is too stale: it was
  trained from scratch more than `max_age_days` ago, more than `max_new_items` of today's items are new to it,
  or more than `max_new_interactions` of today's interactions were not in the log it was trained from scratch
  on (so repeated fine-tunes cannot drift for ever).

Every item's row records how many of its interactions the backbone was trained on (`n_trained` in
`backbone/item_embeddings.parquet`); the scorer weighs an item's collaborative evidence by that count, so an
item the backbone has never trained on is scored through the semantic (cold) path only.
`backbone/history.json` keeps when and on what the backbone was last trained from scratch.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from seqclean.config import DEFAULTS

HISTORY_JSON = "history.json"
ARCH_KEYS = ("hidden", "layers", "heads", "dropout", "gru_hidden", "max_len")
RETRAINED, FINE_TUNED, REUSED = "retrained", "fine_tuned", "reused"


@dataclass
class UpdatePolicy:
    """When `embed` may start from the workdir's previous backbone (see the module docstring)."""

    retrain: bool = DEFAULTS.backbone.retrain
    finetune_epochs: int = DEFAULTS.backbone.finetune_epochs
    max_age_days: float = DEFAULTS.backbone.retrain_after_days
    max_new_items: float = DEFAULTS.backbone.retrain_new_items
    max_new_interactions: float = DEFAULTS.backbone.retrain_new_interactions


@dataclass
class Previous:
    """The backbone found in the workdir."""

    kind: str
    options: dict[str, Any]
    state: dict[str, Any]
    item_ids: pl.Series  # item id per old iid (iid k -> item_ids[k - 1])
    history: dict[str, Any]


@dataclass
class Plan:
    action: str  # RETRAINED, FINE_TUNED or REUSED
    reason: str
    stats: dict[str, Any] = field(default_factory=dict)


def sequences_digest(seq_path: Path, item_col: str, user_col: str) -> str:
    """A digest of the sequences' content (user, item, order): equal digests mean the same training data."""
    df = pl.read_parquet(seq_path, columns=["uid", "position", user_col, item_col]).sort("uid", "position")
    h = hashlib.sha256()
    for col in (user_col, item_col):
        s = df[col]
        h.update(
            s.cast(pl.String).str.join("\x1f").item().encode()
            if s.dtype == pl.String
            else s.cast(pl.Int64).to_numpy().tobytes()
        )
    return h.hexdigest()


def load_previous(backbone_dir: Path, item_col: str) -> Previous | None:
    """The workdir's backbone if one is complete and was trained here (not BYO vectors); else None."""
    from seqclean.backbone.train import CONFIG_JSON, ITEM_EMBEDDINGS, MODEL_PT

    cfg_path, pt, emb = backbone_dir / CONFIG_JSON, backbone_dir / MODEL_PT, backbone_dir / ITEM_EMBEDDINGS
    if not (cfg_path.exists() and pt.exists() and emb.exists()):
        return None
    try:
        import torch

        cfg = json.loads(cfg_path.read_text())
        if cfg.get("kind") not in ("sasrec", "gru4rec"):
            return None
        ids = pl.read_parquet(emb, columns=["iid", item_col]).sort("iid")
        state = torch.load(pt, map_location="cpu", weights_only=True)
        hist_path = backbone_dir / HISTORY_JSON
        history = json.loads(hist_path.read_text()) if hist_path.exists() else {}
    except Exception:  # a corrupt or foreign backbone is simply not reused: the stage retrains
        return None
    if ids["iid"].to_list() != list(range(1, ids.height + 1)):
        return None
    return Previous(
        kind=cfg["kind"], options=cfg.get("options", {}), state=state, item_ids=ids[item_col], history=history
    )


def plan(
    prev: Previous | None,
    policy: UpdatePolicy,
    options: dict[str, Any],
    digest: str,
    log_items: pl.Series,
    n_interactions: int,
    now: float | None = None,
) -> Plan:
    """Decide between reusing, fine-tuning and retraining (see the module docstring)."""
    now = time.time() if now is None else now
    if policy.retrain:
        return Plan(RETRAINED, "--retrain")
    if prev is None:
        return Plan(RETRAINED, "no previous backbone in the workdir")
    if prev.kind != options["model"] or any(prev.options.get(k) != options.get(k) for k in ARCH_KEYS):
        return Plan(RETRAINED, "the backbone's architecture options changed")
    if prev.item_ids.dtype != log_items.dtype:
        return Plan(RETRAINED, "the item id type changed")
    hist = prev.history
    if not hist.get("trained_at"):
        return Plan(RETRAINED, "the previous backbone has no training history")
    known = set(prev.item_ids.to_list())
    items = log_items.unique()
    n_new_items = int((~items.is_in(list(known))).sum()) if known else items.len()
    share_items = n_new_items / max(items.len(), 1)
    base = int(hist.get("scratch_interactions", 0))
    share_inter = max(0.0, 1.0 - base / max(n_interactions, 1))
    age_days = (now - float(hist["trained_at"])) / 86400.0
    stats = {
        "new_items": n_new_items,
        "share_new_items": round(share_items, 6),
        "share_new_interactions": round(share_inter, 6),
        "age_days": round(age_days, 4),
    }
    if hist.get("digest") == digest and prev.options.get("seed") == options.get("seed"):
        return Plan(REUSED, "same sequences as the previous backbone was trained on", stats)
    if age_days > policy.max_age_days:
        return Plan(RETRAINED, f"trained from scratch {age_days:.1f} days ago (> {policy.max_age_days})", stats)
    if share_items > policy.max_new_items:
        return Plan(RETRAINED, f"{share_items:.1%} of the items are new (> {policy.max_new_items:.0%})", stats)
    if share_inter > policy.max_new_interactions:
        return Plan(
            RETRAINED,
            f"{share_inter:.1%} of the interactions are new since the last full training "
            f"(> {policy.max_new_interactions:.0%})",
            stats,
        )
    return Plan(FINE_TUNED, "the log grew within the retrain rules", stats)


def carry_over(model: Any, prev: Previous, new_item_ids: pl.Series) -> int:
    """Load the previous weights into `model` (built for today's catalogue), item rows mapped by item id.

    Returns how many item rows were carried over; the others keep the model's fresh initialisation."""
    import torch

    old_emb = prev.state["item_emb.weight"]
    state = {k: v for k, v in prev.state.items() if k != "item_emb.weight"}
    model.load_state_dict(state, strict=False)
    old_pos = {v: k + 1 for k, v in enumerate(prev.item_ids.to_list())}
    new_rows, old_rows = [], []
    for k, item in enumerate(new_item_ids.to_list()):
        j = old_pos.get(item)
        if j is not None:
            new_rows.append(k + 1)
            old_rows.append(j)
    with torch.no_grad():
        w = model.item_emb.weight
        if new_rows:
            w[torch.tensor(new_rows)] = old_emb[torch.tensor(old_rows)].to(w.dtype)
    return len(new_rows)


def trained_counts(seq_path: Path, n_items: int) -> np.ndarray:
    """Interactions per iid (index 0 = padding) in the sequences the backbone trains on."""
    iid = pl.read_parquet(seq_path, columns=["iid"])["iid"].to_numpy()
    return np.bincount(iid, minlength=n_items + 1).astype(np.int64)
