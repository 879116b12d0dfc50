"""Train the collaborative backbone on the log itself (next-item prediction) and write it to the workdir.

Protocol in `seqclean embed`: per user, the item sequence in position order; the last item is the
validation target and everything before it is training data. The model is trained with next-item
cross-entropy at every position (SASRec's original objective), over all items or, on large catalogues, a
sampled softmax (`seqclean.backbone.loss`); sequences longer than `max_len` are cut into windows aligned
on their end. Each epoch is followed by a full-ranking validation (HR@10, NDCG@10 over every item);
training stops when NDCG@10 has not improved for `patience` epochs and the best epoch's weights are kept.
The cost is bounded by `train_users` (a seeded user sample), `max_steps` and `valid_users`, so that it
does not follow the log (docs/backbone.md). Nothing here ever looks at a test split.

Workdir outputs (under `backbone/`): `model.pt` (state_dict), `config.json` (everything needed to
rebuild the model), `item_embeddings.parquet` (iid, item id, vector), `onnx/model.onnx`.
"""

from __future__ import annotations

import copy
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from seqclean.allocator import keep_freed_memory
from seqclean.backbone.config import (
    BACKBONE_DIR,
    CONFIG_JSON,
    ITEM_EMBEDDINGS,
    MODEL_PT,
    ONNX_MODEL,
    BackboneConfig,
    write_item_embeddings,
)
from seqclean.backbone.data import (
    BestEpoch,
    last_windows,
    rank_metrics,
    read_sequences,
    sample_users,
    training_windows,
    user_lengths,
)
from seqclean.backbone.loop import length_batches, resolve_device, torch_threads
from seqclean.backbone.loss import TRAINING, NextItemLoss, popularity_prior, resolve_loss, sampling_distribution
from seqclean.backbone.runner import BackboneRunner
from seqclean.decoys import decoy_rate, plant_decoys, read_decoys, write_decoys
from seqclean.errors import InputDataError
from seqclean.io import write_bytes, write_json
from seqclean.progress import ProgressFn, no_progress
from seqclean.workdir import BACKBONE_DECOYS, ITEMS, SEQUENCES

ONNX_TOLERANCE = 1e-4


def build_model(kind: str, args: dict[str, Any]) -> Any:
    """Instantiate SASRec or GRU4Rec from `model_args` (as stored in config.json)."""
    if kind == "sasrec":
        from seqclean.backbone.sasrec import SASRec

        return SASRec(**args)
    from seqclean.backbone.gru4rec import GRU4Rec

    return GRU4Rec(**args)


@dataclass
class FitResult:
    model: Any
    best_epoch: int
    epochs_run: int
    valid: dict[str, float]
    device: str
    history: list[dict[str, float]] = field(default_factory=list)
    loss: str = "full"  # the loss `auto` resolved to
    steps: int = 0  # optimizer steps taken
    valid_users: int = 0  # users ranked in each validation
    prior: Any = None  # the loss's popularity prior (sampled loss), for any later `rank_metrics` of this model


def fit(
    cfg: BackboneConfig,
    n_items: int,
    train_seqs: Sequence[np.ndarray],
    valid_inputs: Sequence[np.ndarray],
    valid_targets: np.ndarray,
    progress: ProgressFn = no_progress,
    init: Callable[[Any], None] | None = None,
) -> FitResult:
    """Train on `train_seqs`, select the epoch on next-item ranking of `valid_targets` after `valid_inputs`.

    `init(model)` sets starting weights (fine-tuning); they then compete as epoch 0, so fine-tuning never
    returns a model that validates worse than the one it started from."""
    import torch

    cfg.validate()
    inputs, targets = training_windows(train_seqs, cfg.max_len, np.int32)
    if len(inputs) == 0:
        raise InputDataError(
            "no user has 3 or more interactions, so the backbone has nothing to train on; "
            "give a longer log or pass --collab-embeddings"
        )
    vi = sample_users(len(valid_inputs), cfg.valid_users, cfg.seed)
    v_in, v_len = last_windows([valid_inputs[i] for i in vi], cfg.max_len)
    v_target = np.asarray(valid_targets)[vi]
    device = resolve_device(cfg.device)
    kind = resolve_loss(cfg.loss, n_items)
    q = sampling_distribution(targets, n_items) if kind == "sampled" else None
    prior = popularity_prior(targets, n_items) if kind == "sampled" else None
    task = f"train {cfg.model}"
    with torch_threads(cfg.threads), keep_freed_memory():
        torch.manual_seed(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        model = build_model(cfg.model, cfg.model_args(n_items))
        if init is not None:
            init(model)
        model = model.to(device)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        loss_fn = NextItemLoss(kind, q, cfg.negatives, cfg.seed, device, prior)
        x_all = torch.from_numpy(inputs)
        y_all = torch.from_numpy(targets)
        real_len = torch.from_numpy((inputs > 0).sum(1))
        sel = BestEpoch(cfg.patience, state=copy.deepcopy(model.state_dict()))
        history: list[dict[str, float]] = []
        if init is not None:
            sel.step(0, rank_metrics(model, v_in, v_len, v_target, device, prior=loss_fn.prior), model)
            history.append({"epoch": 0.0, "loss": float("nan"), **sel.best})
        progress(task, 0, cfg.epochs)
        epoch = steps = 0
        for epoch in range(1, cfg.epochs + 1):
            model.train()
            total, count, t0 = 0.0, 0, time.perf_counter()
            for idx in length_batches(real_len, cfg.batch_size, gen):
                n = int(real_len[idx].max())
                x = x_all[idx, :n].to(device)
                y = y_all[idx, :n].to(device).long()
                real = y > 0
                # states only where there is a target: the loss over the catalogue dominates the cost
                loss = loss_fn(model(x)[real], y[real], model.item_emb.weight)
                opt.zero_grad()
                loss.backward()
                opt.step()
                k = int(real.sum())
                total += float(loss.detach()) * k
                count += k
                steps += 1
                if steps == cfg.max_steps:
                    break
            train_s = time.perf_counter() - t0  # for bench/ only: never written to the workdir
            metrics = rank_metrics(model, v_in, v_len, v_target, device, prior=loss_fn.prior)
            row = {"epoch": float(epoch), "loss": total / max(count, 1), "train_s": train_s, **metrics}
            history.append(row)
            progress(f"{task} | loss {row['loss']:.3f} | val NDCG@10 {metrics['NDCG@10']:.4f}", epoch, cfg.epochs)
            if sel.step(epoch, metrics, model) or steps == cfg.max_steps:
                break
        model.load_state_dict(sel.state)
        model.eval()
    progress(f"{task} | best epoch {sel.epoch} | val NDCG@10 {sel.best['NDCG@10']:.4f}", cfg.epochs, cfg.epochs)
    return FitResult(
        model=model,
        best_epoch=sel.epoch,
        epochs_run=epoch,
        valid=sel.best,
        device=device,
        history=history,
        loss=kind,
        steps=steps,
        valid_users=len(vi),
        prior=loss_fn.prior,
    )


def train_backbone(
    cfg: BackboneConfig,
    workdir: Path,
    item_col: str,
    progress: ProgressFn = no_progress,
    init: Callable[[Any], None] | None = None,
    trained: np.ndarray | None = None,
    exclude_rows: np.ndarray | None = None,
    out_name: str = BACKBONE_DIR,
    decoys: pl.DataFrame | None = None,
) -> dict[str, Any]:
    """Train on `workdir/sequences.parquet`, write the backbone outputs to `workdir/out_name`; returns the
    manifest section.

    Fine-tuning (`seqclean.backbone.incremental`): `init(model)` sets the starting weights, and with
    `cfg.epochs == 0` they are kept as they are. `trained`: per iid, the interactions each item's row was
    trained on (`n_trained`; default: its interactions in the sequences). `exclude_rows`: input row indices
    left out of training (the self-cleaning round, `seqclean.selfclean`); every item keeps its iid. `decoys`:
    the decoys to train with (the self-cleaning round passes the first backbone's); default: `cfg.decoys` of
    the rows, planted afresh (`seqclean.decoys`) and written next to the weights."""
    import torch

    from seqclean.backbone.export import export_onnx, torch_hidden

    keep = cfg.epochs == 0 and init is not None
    if keep:
        cfg = replace(cfg, epochs=1)
    cfg.validate()
    items = pl.read_parquet(workdir / ITEMS, columns=["iid", item_col]).sort("iid")
    n_items = items.height
    uid, length = user_lengths(workdir / SEQUENCES, exclude_rows)
    rate = decoy_rate(cfg.decoys, float(length.sum()) / max(length.size, 1))
    if keep:  # kept weights: the decoys they were trained with, if any
        decoys = read_decoys(workdir / out_name)
    elif decoys is None and rate > 0:
        decoys = plant_decoys(workdir / SEQUENCES, n_items, rate, cfg.seed)
    eligible = uid[length >= 2]
    pick = sample_users(eligible.size, cfg.train_users, cfg.seed)
    if pick.size < eligible.size:  # the training budget: only its sample is read; trained counts are its own
        if decoys is not None:  # only the sample's decoys are trained on, so only they are kept
            decoys = decoys.filter(pl.col("uid").is_in(pl.Series(eligible[pick].astype(np.int64)).implode()))
        users = read_sequences(workdir / SEQUENCES, exclude_rows, eligible[pick], decoys)
        seqs = read_sequences(workdir / SEQUENCES, exclude_rows, uid[:64])  # the ONNX check's probe
        if trained is None:  # the log's interactions only: a decoy does not make an item's vector more reliable
            own = _counts(users, n_items)
            if decoys is not None:
                own -= np.bincount(decoys["iid"].to_numpy(), minlength=n_items + 1)
            trained = own
    else:
        seqs = read_sequences(workdir / SEQUENCES, exclude_rows)
        users = [
            s
            for s in (read_sequences(workdir / SEQUENCES, exclude_rows, None, decoys) if decoys is not None else seqs)
            if len(s) >= 2
        ]
    if keep:
        assert init is not None
        model = build_model(cfg.model, cfg.model_args(n_items))
        init(model)
        result = FitResult(model=model, best_epoch=0, epochs_run=0, valid={}, device="cpu")
    else:
        result = fit(
            cfg,
            n_items,
            [s[:-1] for s in users],
            [s[:-1] for s in users],
            np.asarray([s[-1] for s in users], dtype=np.int64),
            progress,
            init,
        )
    if trained is None:
        trained = _counts(seqs, n_items)
    model = result.model.to("cpu").eval()
    out = workdir / out_name
    out.mkdir(parents=True, exist_ok=True)
    # serialise in memory: torch.save names the zip archive after the file, so saving straight to the
    # temp path would store its random name inside model.pt and break byte-identical reruns
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    write_bytes(buf.getvalue(), out / MODEL_PT)
    config = {"kind": cfg.model, "model_args": cfg.model_args(n_items), "options": asdict(cfg), "training": TRAINING}
    write_json(config, out / CONFIG_JSON)
    write_item_embeddings(out / ITEM_EMBEDDINGS, items, item_col, model.item_emb.weight.detach().numpy(), trained)
    if decoys is not None:
        write_decoys(decoys, out)
    else:
        (out / BACKBONE_DECOYS).unlink(missing_ok=True)
    export_onnx(model, out / ONNX_MODEL, cfg.max_len)

    # the ONNX graph must give torch's numbers on real sequences (windows of the log, right-padded)
    probe, _ = last_windows(seqs[:64], cfg.max_len)
    runner = BackboneRunner(out, device="cpu")
    diff = float(np.abs(runner.hidden_states(probe) - torch_hidden(model, probe))[probe > 0].max())
    if not diff <= ONNX_TOLERANCE:
        raise RuntimeError(f"ONNX export of the {cfg.model} backbone differs from torch by {diff:.2e}")
    return {
        "kind": cfg.model,
        "config": asdict(cfg),
        "model_args": cfg.model_args(n_items),
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "valid": {k: round(v, 6) for k, v in result.valid.items()},
        "device": result.device,
        "loss": result.loss,
        "popularity_prior": result.prior is not None,
        "train_users": len(users),
        "decoys": 0 if decoys is None else decoys.height,
        "steps": result.steps,
        "valid_users": result.valid_users,
        "dim": cfg.hidden,
        "padding": "right",
        "onnx_max_abs_diff": diff,
        "files": {
            "weights": f"{out_name}/{MODEL_PT}",
            "onnx": f"{out_name}/{ONNX_MODEL}",
            "item_embeddings": f"{out_name}/{ITEM_EMBEDDINGS}",
        },
    }


def _counts(seqs: Sequence[np.ndarray], n_items: int) -> np.ndarray:
    """Interactions per iid (0..n_items) in `seqs`."""
    return np.bincount(np.concatenate([np.zeros(0, np.int64), *seqs]), minlength=n_items + 1)
