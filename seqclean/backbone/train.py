"""Train the collaborative backbone on the log itself (next-item prediction) and write it to the workdir.

Protocol in `seqclean embed`: per user, the item sequence in position order; the last item is the
validation target and everything before it is training data. The model is trained with next-item
cross-entropy over all items at every position (SASRec's original objective), sequences longer than
`max_len` being cut into windows aligned on their end. Each epoch is followed by a full-ranking
validation (HR@10, NDCG@10 over every item); training stops when NDCG@10 has not improved for
`patience` epochs and the best epoch's weights are kept. Nothing here ever looks at a test split.

Workdir outputs (under `backbone/`): `model.pt` (state_dict), `config.json` (everything needed to
rebuild the model), `item_embeddings.parquet` (iid, item id, vector), `onnx/model.onnx`.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from seqclean.config import DEFAULTS
from seqclean.errors import InputDataError, RuntimeUnavailableError, UsageError
from seqclean.io import atomic_path, write_json, write_parquet
from seqclean.progress import ProgressFn, no_progress

BACKBONE_DIR = "backbone"
MODEL_PT = "model.pt"
CONFIG_JSON = "config.json"
ITEM_EMBEDDINGS = "item_embeddings.parquet"
ONNX_MODEL = "onnx/model.onnx"
MODELS = ("sasrec", "gru4rec")
ONNX_TOLERANCE = 1e-4
N_TRAINED = "n_trained"


@dataclass
class BackboneConfig:
    """Options of the backbone; `None` means the model's RecBole-like default.

    SASRec: hidden 64, 2 layers, 2 heads, dropout 0.5. GRU4Rec: embedding 64, GRU hidden 128, 1 layer,
    dropout 0.3. Both: Adam, lr 2e-3, max length 50, early stopping after `patience` epochs (docs/backbone.md).
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

    def validate(self) -> None:
        if self.model not in MODELS:
            raise UsageError(f"--backbone {self.model}: choose sasrec or gru4rec")
        for name, value in (("--epochs", self.epochs), ("--batch-size", self.batch_size), ("--max-len", self.max_len)):
            if value < 1:
                raise UsageError(f"{name} {value}: must be at least 1")
        if not self.lr > 0:
            raise UsageError(f"--lr {self.lr}: must be positive")
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


# ---------------------------------------------------------------- data


def read_sequences(path: Path) -> list[np.ndarray]:
    """Per user (uid order), the iid sequence in position order, from sequences.parquet."""
    df = (
        pl.scan_parquet(path)
        .select("uid", "position", "iid")
        .sort("uid", "position")
        .group_by("uid", maintain_order=True)
        .agg(pl.col("iid"))
        .collect()
    )
    return [np.asarray(s, dtype=np.int64) for s in df["iid"].to_list()]


def training_windows(seqs: Sequence[np.ndarray], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets), both int64 [N, max_len], right-padded with 0: target[j] is the item after input[j].

    A sequence s gives inputs s[:-1] and targets s[1:]; longer than max_len, they are cut into
    consecutive windows aligned on the end, so every target is used exactly once.
    """
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for s in seqs:
        if len(s) < 2:
            continue
        x, y = s[:-1], s[1:]
        for end in range(len(x), 0, -max_len):
            start = max(0, end - max_len)
            xs.append(x[start:end])
            ys.append(y[start:end])
    inputs = np.zeros((len(xs), max_len), dtype=np.int64)
    targets = np.zeros((len(xs), max_len), dtype=np.int64)
    for r, (x, y) in enumerate(zip(xs, ys, strict=True)):
        inputs[r, : len(x)] = x
        targets[r, : len(y)] = y
    return inputs, targets


def last_windows(seqs: Sequence[np.ndarray], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """The last max_len items of each sequence, right-padded, and each one's length (for next-item ranking)."""
    out = np.zeros((len(seqs), max_len), dtype=np.int64)
    lengths = np.zeros(len(seqs), dtype=np.int64)
    for r, s in enumerate(seqs):
        tail = s[-max_len:]
        out[r, : len(tail)] = tail
        lengths[r] = len(tail)
    return out, lengths


# ---------------------------------------------------------------- metrics


def rank_metrics(
    model: Any,
    inputs: np.ndarray,
    lengths: np.ndarray,
    targets: np.ndarray,
    device: str,
    ks: Sequence[int] = (5, 10, 20),
    batch_size: int = 512,
) -> dict[str, float]:
    """HR@K and NDCG@K of the next item, ranked against every item (full ranking, no sampling).

    Rank = number of items scored strictly higher than the target; history items are not masked
    (items may repeat in logs).
    """
    import torch

    model.eval()
    ranks = []
    order = np.argsort(lengths, kind="stable")  # similar lengths together: trim the padding
    with torch.no_grad():
        table = model.item_emb.weight[1:]
        for b in range(0, len(inputs), batch_size):
            sel = order[b : b + batch_size]
            n = int(lengths[sel].max())
            x = torch.from_numpy(inputs[sel, :n]).to(device)
            last = torch.from_numpy(lengths[sel] - 1).to(device)
            h = model(x)[torch.arange(len(x), device=device), last]
            scores = h @ table.T
            t = torch.from_numpy(targets[sel] - 1).to(device)
            tgt = scores.gather(1, t.unsqueeze(1))
            ranks.append((scores > tgt).sum(1).cpu().numpy())
    r = np.concatenate(ranks) if ranks else np.zeros(0)
    out: dict[str, float] = {}
    for k in ks:
        hit = r < k
        out[f"HR@{k}"] = float(hit.mean()) if len(r) else 0.0
        out[f"NDCG@{k}"] = float(np.where(hit, 1.0 / np.log2(r + 2.0), 0.0).mean()) if len(r) else 0.0
    return out


# ---------------------------------------------------------------- training


def resolve_device(device: str) -> str:
    """torch device for training: `auto` takes CUDA when torch sees it."""
    import torch

    if device == "cpu":
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        raise RuntimeUnavailableError(
            "--device cuda: torch sees no CUDA GPU; install a CUDA build of torch on a GPU machine, or use --device cpu"
        )
    return "cpu"


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Use `threads`, or the cores this process may run on (affinity aware), restoring torch's setting after."""
    import torch

    before = torch.get_num_threads()
    n = threads
    if not n:
        try:
            n = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            n = os.cpu_count() or 1
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _length_batches(lengths: Any, batch_size: int, gen: Any, pool: int = 32) -> Iterator[Any]:
    """Shuffled batches of windows of similar length (less padding): shuffle, sort by length within pools
    of `pool` batches, then shuffle the batches. Deterministic given `gen`."""
    import torch

    order = torch.randperm(len(lengths), generator=gen)
    batches: list[Any] = []
    step = batch_size * pool
    for p in range(0, len(order), step):
        chunk = order[p : p + step]
        chunk = chunk[torch.argsort(lengths[chunk], stable=True)]
        batches.extend(chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size))
    for i in torch.randperm(len(batches), generator=gen).tolist():
        yield batches[i]


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

    `init(model)` sets starting weights (fine-tuning); the starting weights then compete as epoch 0, so
    fine-tuning never returns a model that validates worse than the one it started from."""
    import torch
    import torch.nn.functional as F

    cfg.validate()
    inputs, targets = training_windows(train_seqs, cfg.max_len)
    if len(inputs) == 0:
        raise InputDataError(
            "no user has 3 or more interactions, so the backbone has nothing to train on; "
            "give a longer log or pass --collab-embeddings"
        )
    v_in, v_len = last_windows(valid_inputs, cfg.max_len)
    device = resolve_device(cfg.device)
    task = f"train {cfg.model}"
    with _torch_threads(cfg.threads):
        torch.manual_seed(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        model = build_model(cfg.model, cfg.model_args(n_items))
        if init is not None:
            init(model)
        model = model.to(device)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        x_all = torch.from_numpy(inputs)
        y_all = torch.from_numpy(targets)
        real_len = torch.from_numpy((inputs > 0).sum(1))
        best: dict[str, float] = {}
        best_state = copy.deepcopy(model.state_dict())
        best_epoch, bad, history = 0, 0, []
        if init is not None:
            best = rank_metrics(model, v_in, v_len, valid_targets, device)
            history.append({"epoch": 0.0, "loss": float("nan"), **best})
        progress(task, 0, cfg.epochs)
        epoch = 0
        for epoch in range(1, cfg.epochs + 1):
            model.train()
            total, count = 0.0, 0
            for idx in _length_batches(real_len, cfg.batch_size, gen):
                n = int(real_len[idx].max())
                x = x_all[idx, :n].to(device)
                y = y_all[idx, :n].to(device)
                real = y > 0
                # logits only where there is a target: the full-catalogue matmul dominates the cost
                logits = model(x)[real] @ model.item_emb.weight[1:].T
                loss = F.cross_entropy(logits, y[real] - 1)
                opt.zero_grad()
                loss.backward()
                opt.step()
                k = int(real.sum())
                total += float(loss.detach()) * k
                count += k
            metrics = rank_metrics(model, v_in, v_len, valid_targets, device)
            row = {"epoch": float(epoch), "loss": total / max(count, 1), **metrics}
            history.append(row)
            progress(f"{task} | loss {row['loss']:.3f} | val NDCG@10 {metrics['NDCG@10']:.4f}", epoch, cfg.epochs)
            if not best or metrics["NDCG@10"] > best["NDCG@10"]:
                best, best_epoch, bad = metrics, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                bad += 1
                if bad >= cfg.patience:
                    break
        model.load_state_dict(best_state)
        model.eval()
    progress(f"{task} | best epoch {best_epoch} | val NDCG@10 {best['NDCG@10']:.4f}", cfg.epochs, cfg.epochs)
    return FitResult(model=model, best_epoch=best_epoch, epochs_run=epoch, valid=best, device=device, history=history)


def train_backbone(
    cfg: BackboneConfig,
    workdir: Path,
    item_col: str,
    progress: ProgressFn = no_progress,
    policy: Any = None,
    user_col: str = "user_id",
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train (or reuse / fine-tune, see `seqclean.backbone.incremental`) on `workdir/sequences.parquet`,
    write the backbone outputs; returns the manifest section, whose `update` says what was done and why.

    `policy` None always trains from scratch; `previous` is the last manifest's backbone section (reused as is
    when the sequences did not change)."""
    import time

    import torch

    from seqclean.backbone import incremental as inc
    from seqclean.backbone.export import export_onnx, torch_hidden
    from seqclean.backbone.runner import BackboneRunner

    cfg.validate()
    t0 = time.perf_counter()
    seq_path = workdir / "sequences.parquet"
    out = workdir / BACKBONE_DIR
    items = pl.read_parquet(workdir / "items.parquet", columns=["iid", item_col, "n_interactions"]).sort("iid")
    n_items = items.height
    digest = inc.sequences_digest(seq_path, item_col, user_col)
    log_items = items.filter(pl.col("n_interactions") > 0)[item_col]
    n_inter = int(items["n_interactions"].sum())
    prev = inc.load_previous(out, item_col) if policy is not None else None
    plan = inc.plan(prev, policy or inc.UpdatePolicy(retrain=True), asdict(cfg), digest, log_items, n_inter)
    if plan.action == inc.REUSED and previous and previous.get("kind") == cfg.model:
        section = dict(previous)
        section["update"] = {"action": plan.action, "reason": plan.reason, **plan.stats}
        section["update"]["seconds"] = round(time.perf_counter() - t0, 3)
        return section
    if plan.action == inc.REUSED:  # the manifest section is gone: fine-tune (cheap) rather than guess
        plan = inc.Plan(inc.FINE_TUNED, "same sequences, but no manifest record of the previous backbone", plan.stats)

    seqs = read_sequences(seq_path)
    users = [s for s in seqs if len(s) >= 2]
    counts = inc.trained_counts(seq_path, n_items)
    fit_cfg = cfg
    init = None
    carried = 0
    if plan.action == inc.FINE_TUNED:
        assert prev is not None and policy is not None
        fit_cfg = replace(
            cfg, epochs=max(policy.finetune_epochs, 1), patience=min(cfg.patience, max(policy.finetune_epochs, 1))
        )

        def init(model: Any) -> None:
            nonlocal carried
            carried = inc.carry_over(model, prev, items[item_col])

    if plan.action == inc.FINE_TUNED and policy.finetune_epochs == 0:
        model = build_model(cfg.model, cfg.model_args(n_items))
        assert init is not None
        init(model)
        result = FitResult(model=model, best_epoch=0, epochs_run=0, valid={}, device="cpu")
        old_counts = _previous_counts(out, item_col)
        counts = np.asarray([0] + [old_counts.get(i, 0) for i in items[item_col].to_list()], dtype=np.int64)
    else:
        result = fit(
            fit_cfg,
            n_items,
            [s[:-1] for s in users],
            [s[:-1] for s in users],
            np.asarray([s[-1] for s in users], dtype=np.int64),
            progress,
            init,
        )
    model = result.model.to("cpu").eval()
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / MODEL_PT) as tmp:
        torch.save(model.state_dict(), tmp)
    config = {"kind": cfg.model, "model_args": cfg.model_args(n_items), "options": asdict(cfg)}
    write_json(config, out / CONFIG_JSON)
    write_item_embeddings(out / ITEM_EMBEDDINGS, items, item_col, model.item_emb.weight.detach().numpy(), counts)
    export_onnx(model, out / ONNX_MODEL, cfg.max_len)

    # the ONNX graph must give torch's numbers on real sequences (windows of the log, right-padded)
    probe, _ = last_windows(seqs[:64], cfg.max_len)
    runner = BackboneRunner(out, device="cpu")
    diff = float(np.abs(runner.hidden_states(probe) - torch_hidden(model, probe))[probe > 0].max())
    if not diff <= ONNX_TOLERANCE:
        raise RuntimeError(f"ONNX export of the {cfg.model} backbone differs from torch by {diff:.2e}")
    history = dict(prev.history) if (prev is not None and plan.action == inc.FINE_TUNED) else {}
    if plan.action == inc.RETRAINED:
        history = {"trained_at": time.time(), "scratch_interactions": n_inter, "fine_tunes": 0}
    else:
        history["fine_tunes"] = int(history.get("fine_tunes", 0)) + 1
    history["digest"] = digest
    write_json(history, out / inc.HISTORY_JSON)
    update = {"action": plan.action, "reason": plan.reason, **plan.stats}
    if plan.action == inc.FINE_TUNED:
        update["items_carried_over"] = carried
    update["seconds"] = round(time.perf_counter() - t0, 3)
    return {
        "kind": cfg.model,
        "config": asdict(cfg),
        "model_args": cfg.model_args(n_items),
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "valid": {k: round(v, 6) for k, v in result.valid.items()},
        "device": result.device,
        "dim": cfg.hidden,
        "padding": "right",
        "onnx_max_abs_diff": diff,
        "files": {
            "weights": f"{BACKBONE_DIR}/{MODEL_PT}",
            "onnx": f"{BACKBONE_DIR}/{ONNX_MODEL}",
            "item_embeddings": f"{BACKBONE_DIR}/{ITEM_EMBEDDINGS}",
        },
        "update": update,
    }


def _previous_counts(backbone_dir: Path, item_col: str) -> dict[Any, int]:
    """item id -> interactions the previous backbone was trained on (`n_trained`; 0 when unknown)."""
    path = backbone_dir / ITEM_EMBEDDINGS
    try:
        df = pl.read_parquet(path, columns=[item_col, N_TRAINED])
    except Exception:
        return {}
    return dict(zip(df[item_col].to_list(), df[N_TRAINED].to_list(), strict=True))


def write_item_embeddings(
    dest: Path, items: pl.DataFrame, item_col: str, table: np.ndarray, trained: np.ndarray | None = None
) -> None:
    """Rows for iid 1..n (padding row 0 left out): iid, the item id column, vector, and `n_trained` (by iid,
    the item's interactions the vectors were trained on) when given."""
    vec = np.ascontiguousarray(table[1:], dtype=np.float32)
    frame = items.select("iid", item_col).with_columns(
        pl.Series("vector", vec, dtype=pl.Array(pl.Float32, vec.shape[1]))
    )
    if trained is not None:
        frame = frame.with_columns(pl.Series(N_TRAINED, np.asarray(trained[1:], dtype=np.int64)))
    write_parquet(frame, dest)


def read_config(backbone_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((backbone_dir / CONFIG_JSON).read_text())
    return data
