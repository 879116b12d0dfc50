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

from seqclean.backbone.loss import TRAINING, resolve_loss
from seqclean.config import DEFAULTS
from seqclean.io import write_json
from seqclean.progress import ProgressFn, no_progress
from seqclean.workdir import BACKBONE_DIR, BACKBONE_HISTORY, ITEMS, SEQUENCES

HISTORY_JSON = BACKBONE_HISTORY
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
    before_prior: bool = False  # trained with the sampled loss before its popularity prior (loss.TRAINING)


@dataclass
class Plan:
    action: str  # RETRAINED, FINE_TUNED or REUSED
    reason: str
    stats: dict[str, Any] = field(default_factory=dict)


def sequences_digest(seq_path: Path, item_col: str, user_col: str) -> str:
    """A digest of the sequences' content (user, item, order): equal digests mean the same training data.

    The bytes hashed are every user id in (uid, position) order, then every item id: read one column and one
    row group at a time (no read-ahead) in the file's order, which `embed` writes sorted by (uid, position)
    (checked while reading; an unsorted file is sorted in memory instead), so memory follows a row group."""
    import pyarrow.parquet as pq

    h = hashlib.sha256()
    pf = pq.ParquetFile(seq_path)
    for col in (user_col, item_col):
        last, sep = -1, b""
        for k in range(pf.num_row_groups):  # one at a time: no read-ahead
            df = pl.from_arrow(pf.read_row_group(k, columns=["uid", "position", col]))
            assert isinstance(df, pl.DataFrame)
            key = (df["uid"].to_numpy().astype(np.int64) << 32) | df["position"].to_numpy().astype(np.int64)
            if key.size and (key[0] <= last or (np.diff(key) <= 0).any()):
                return _digest_in_memory(seq_path, item_col, user_col)
            last = int(key[-1]) if key.size else last
            if df.height:
                h.update(sep + _id_bytes(df[col]))
                sep = b"\x1f" if df[col].dtype == pl.String else b""
    return h.hexdigest()


def _id_bytes(s: pl.Series) -> bytes:
    if s.dtype == pl.String:
        return str(s.str.join("\x1f").item()).encode()
    return s.cast(pl.Int64).to_numpy().tobytes()


def _digest_in_memory(seq_path: Path, item_col: str, user_col: str) -> str:
    """`sequences_digest` of a file not in (uid, position) order: the whole columns, sorted."""
    df = pl.read_parquet(seq_path, columns=["uid", "position", user_col, item_col]).sort("uid", "position")
    h = hashlib.sha256()
    for col in (user_col, item_col):
        h.update(_id_bytes(df[col]))
    return h.hexdigest()


def load_previous(backbone_dir: Path, item_col: str) -> Previous | None:
    """The workdir's backbone if one is complete and was trained here (not BYO vectors); else None."""
    from seqclean.backbone.config import CONFIG_JSON, ITEM_EMBEDDINGS, MODEL_PT

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
    options = cfg.get("options", {})
    sampled = resolve_loss(options.get("loss", "auto"), ids.height) == "sampled"
    return Previous(
        kind=cfg["kind"],
        options=options,
        state=state,
        item_ids=ids[item_col],
        history=history,
        before_prior=sampled and cfg.get("training") != TRAINING,
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
    if prev.before_prior:
        return Plan(RETRAINED, "the previous backbone predates the sampled loss's popularity prior")
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


def _previous_counts(prev: Previous, backbone_dir: Path, item_col: str, new_ids: pl.Series) -> np.ndarray:
    """Per new iid, the interactions the previous backbone trained the item's row on (0 for new items)."""
    from seqclean.backbone.config import ITEM_EMBEDDINGS, N_TRAINED

    try:
        df = pl.read_parquet(backbone_dir / ITEM_EMBEDDINGS, columns=[item_col, N_TRAINED])
        old = dict(zip(df[item_col].to_list(), df[N_TRAINED].to_list(), strict=True))
    except Exception:  # no n_trained column: count nothing as trained, the safe side (cold path)
        old = {}
    return np.asarray([0] + [old.get(i, 0) for i in new_ids.to_list()], dtype=np.int64)


def update_backbone(
    cfg: Any,
    workdir: Path,
    item_col: str,
    user_col: str,
    policy: UpdatePolicy,
    previous: dict[str, Any] | None = None,
    progress: ProgressFn = no_progress,
) -> dict[str, Any]:
    """Reuse, fine-tune or retrain the workdir's backbone (`cfg`: a `BackboneConfig`); returns the manifest
    section with `update`: the action, why and the rule statistics (no wall-clock figures: the manifest is
    byte-identical across reruns; the run's events carry the timings). `previous` is the
    last manifest's backbone section (returned as is when the backbone is reused)."""
    from dataclasses import asdict, replace

    from seqclean.backbone.train import train_backbone

    out = workdir / BACKBONE_DIR
    items = pl.read_parquet(workdir / ITEMS, columns=["iid", item_col, "n_interactions"]).sort("iid")
    digest = sequences_digest(workdir / SEQUENCES, item_col, user_col)
    n_inter = int(items["n_interactions"].sum())
    prev = load_previous(out, item_col)
    p = plan(prev, policy, asdict(cfg), digest, items.filter(pl.col("n_interactions") > 0)[item_col], n_inter)
    if p.action == REUSED and not (previous and previous.get("kind") == cfg.model):
        p = Plan(FINE_TUNED, "same sequences, but the manifest has no record of the previous backbone", p.stats)
    update: dict[str, Any] = {"action": p.action, "reason": p.reason, **p.stats}
    if p.action == REUSED:
        assert previous is not None
        return {**previous, "update": update}
    init, trained = None, None
    if p.action == FINE_TUNED:
        assert prev is not None
        carried = [0]

        def init(model: Any) -> None:
            assert prev is not None
            carried[0] = carry_over(model, prev, items[item_col])

        epochs = policy.finetune_epochs
        cfg = replace(cfg, epochs=epochs, patience=min(cfg.patience, max(epochs, 1)))
        if epochs == 0:
            trained = _previous_counts(prev, out, item_col, items[item_col])
    section = train_backbone(cfg, workdir, item_col, progress, init, trained)
    if p.action == FINE_TUNED:
        update["items_carried_over"] = carried[0]
        history = {**prev.history, "fine_tunes": int(prev.history.get("fine_tunes", 0)) + 1}  # type: ignore[union-attr]
    else:
        history = {"trained_at": time.time(), "scratch_interactions": n_inter, "fine_tunes": 0}
    write_json({**history, "digest": digest}, out / HISTORY_JSON)
    section["update"] = update
    return section
