"""The sequence-level noise detector: a small bidirectional transformer over each user's sequence,
trained ELECTRA-style on self-supervised corruption (LLM4DSR's task: say for every position whether it
was replaced or inserted). See docs/method.md, "Sequence detector".

Why a sequence model: the per-interaction MLP judged each item from hand-made summaries of a *causal*
collaborative context (H_{j-1} has seen only the past); an item is noise relative to both what came before
and what comes after, and the strongest evidence is how the neighbours fit each other too. The transformer
reads a window of the whole sequence in both directions.

Per-position input (`position_inputs`):
- w * E_col(i) (the backbone's item vector) with the cold gate w = n / (n + k): a cold item's own
  collaborative vector is poorly trained, so it is faded out; during training the gate is also dropped to 0
  on a share of positions, so the model learns to judge from the other parts alone;
- P_s e_sem(i) (the item's text projected by IADSR's short-term alignment) and e_sem(i) itself;
- scalar evidence from `features.py` (standardised), where every feature that cannot be computed at a
  position (no previous item at the start, no next item at the end, no other item for one-item users) is
  set to 0 *and* flagged by a missing-indicator input, so "no evidence" never reads as "mismatch";
  collaborative scalars are gated by w like the vector.

Corruption (`corrupt_sequences`) mixes uniform, popularity-sampled and plausible replacements (the item the
backbone ranks highest for the user, or the one nearest the user's text context, among random candidates),
and inserted bursts of 1-3 items; positions are drawn uniformly, so the first and last positions are covered
as often as real noise would be there.

Inference runs the exported ONNX model (`SeqDetector.session`) on per-user windows: a window depends only on
its own user's rows, so results do not depend on the chunk size.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from seqclean.align import Alignment
from seqclean.interests import Segments, l2_normalise, window_mean

COLLAB_SCALARS = ("col_next_logit", "col_next_rank", "col_after_delta", "col_long_rank", "col_nn_max", "col_nn_top3")
SEMANTIC_SCALARS = (
    "sem_short_sim",
    "sem_long_sim",
    "sem_rank",
    "sem_long_rank",
    "sem_nn_max",
    "x_next_rank",
    "x_long_rank",
    "iadsr_ls_sc",
    "iadsr_lc_ss",
    "iadsr_ss_sc",
)
SCALARS = COLLAB_SCALARS + SEMANTIC_SCALARS
NEEDS_PREV = frozenset({"col_next_logit", "col_next_rank", "x_next_rank"})
NEEDS_NEXT = frozenset({"col_after_delta"})
NEEDS_OTHERS = frozenset(
    {"col_long_rank", "col_nn_max", "col_nn_top3", "sem_short_sim", "sem_long_sim", "sem_rank", "sem_long_rank"}
    | {"sem_nn_max", "x_long_rank"}
)
MISSING_FLAGS = ("has_prev", "has_next", "has_others")


@dataclass
class SeqDetectorOptions:
    d_model: int = 64
    layers: int = 2
    heads: int = 2
    window: int = 50
    stride: int = 25
    members: int = 2
    steps: int = 1500
    """Optimiser steps per member: a fixed count (not a time budget), so fits are reproducible; small logs get
    more passes over their windows, large ones fewer."""
    corruptions: int = 6
    """Distinct corruption draws of the training users, cycled over the passes (each pass also redraws the
    collaborative-gate dropout and the batch order); bounds the cost of re-running the backbone on them."""
    batch: int = 32
    lr: float = 2e-3
    replace_rate: float = 0.12
    insert_rate: float = 0.0
    collab_dropout: float = 0.25
    mix: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    """Replacement kinds: uniform, popularity-sampled, backbone-plausible, text-plausible."""
    seed: int = 0


# ---------------------------------------------------------------------------------------------- corruption


@dataclass
class Corruption:
    iid: np.ndarray  # corrupted iids, rows grouped by user
    segs: Segments
    label: np.ndarray  # True = replaced or inserted
    origin: np.ndarray  # row of the clean input this row came from, -1 for inserted rows
    kind: np.ndarray  # 0 clean, 1 uniform, 2 popularity, 3 backbone-plausible, 4 text-plausible, 5 inserted


def corrupt_sequences(
    iid: np.ndarray,
    segs: Segments,
    rng: np.random.Generator,
    *,
    n_items: int,
    popularity: np.ndarray,
    col: np.ndarray,
    sem: np.ndarray,
    prev_state: np.ndarray,
    replace_rate: float,
    insert_rate: float,
    mix: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0),
    candidates: int = 64,
) -> Corruption:
    """Replace a `replace_rate` share of positions and insert bursts worth `insert_rate` of the rows.

    `prev_state` is the backbone state before each clean row (zero at a user's first row): the
    backbone-plausible replacement is the candidate it scores highest there. The text-plausible one is the
    candidate nearest (cosine) to the mean text of the row's neighbours j-3..j+3.
    """
    n = iid.size
    rows = np.flatnonzero(rng.random(n) < replace_rate)
    k = rows.size
    p = popularity[1 : n_items + 1].astype(np.float64) + 1.0
    p /= p.sum()
    kind = rng.choice(4, size=k, p=np.asarray(mix) / sum(mix)) + 1
    repl = rng.integers(1, n_items + 1, size=k)
    pop = kind == 2
    repl[pop] = rng.choice(np.arange(1, n_items + 1), size=int(pop.sum()), p=p)
    cand = rng.integers(1, n_items + 1, size=(k, candidates))
    for code, vec, query in ((3, col, prev_state[rows]), (4, sem, _text_context(iid, segs, sem)[rows])):
        m = kind == code
        if m.any():
            scores = np.einsum("kd,kcd->kc", query[m], vec[cand[m]])
            repl[m] = cand[m][np.arange(int(m.sum())), scores.argmax(axis=1)]
    same = repl == iid[rows]
    repl[same] = (repl[same] % n_items) + 1  # never "replace" an item by itself
    out = iid.copy()
    out[rows] = repl
    kinds = np.zeros(n, dtype=np.int8)
    kinds[rows] = kind

    # bursts of 1-3 items inserted before or after random anchor rows (so both ends are covered)
    n_burst = int(rng.binomial(n, insert_rate / 2.0)) if n else 0
    anchor = rng.integers(0, n, size=n_burst) if n_burst else np.zeros(0, np.int64)
    blen = rng.integers(1, 4, size=n_burst)
    after = rng.random(n_burst) < 0.5
    b_idx = np.repeat(np.arange(n_burst), blen)
    within = np.arange(b_idx.size) - np.repeat(np.cumsum(blen) - blen, blen)
    ins_key = 2.0 * anchor[b_idx] + np.where(after[b_idx], 0.0, -1.0) + (within + 1) / 8.0
    use_pop = rng.random(b_idx.size) < 0.5
    ins_iid = np.where(
        use_pop, rng.choice(np.arange(1, n_items + 1), size=b_idx.size, p=p), rng.integers(1, n_items + 1, b_idx.size)
    )
    key = np.concatenate([2.0 * np.arange(n), ins_key])
    order = np.argsort(key, kind="stable")
    all_iid = np.concatenate([out, ins_iid])[order]
    all_seg = np.concatenate([segs.seg, segs.seg[anchor[b_idx]]])[order]
    origin = np.concatenate([np.arange(n), np.full(b_idx.size, -1)])[order]
    all_kind = np.concatenate([kinds, np.full(b_idx.size, 5, np.int8)])[order]
    return Corruption(
        iid=all_iid.astype(np.int64),
        segs=Segments.from_sorted_ids(all_seg),
        label=all_kind > 0,
        origin=origin.astype(np.int64),
        kind=all_kind,
    )


def _text_context(iid: np.ndarray, segs: Segments, sem: np.ndarray) -> np.ndarray:
    return l2_normalise(window_mean(sem[iid], segs, 3, 3))


# ---------------------------------------------------------------------------------------------- inputs


@dataclass
class InputSpec:
    """How per-position inputs are built (fitted once on the training rows)."""

    col_scale: float
    cold_k: float
    mean: np.ndarray
    scale: np.ndarray
    pop_max: float

    @property
    def n_scalars(self) -> int:
        return len(SCALARS) + len(MISSING_FLAGS) + 3


def availability(segs: Segments) -> dict[str, np.ndarray]:
    pos = segs.position
    n_len = segs.length[segs.seg]
    return {"has_prev": pos > 0, "has_next": pos < n_len - 1, "has_others": n_len > 1}


def _mask_for(name: str, avail: dict[str, np.ndarray]) -> np.ndarray | None:
    if name in NEEDS_PREV:
        return avail["has_prev"]
    if name in NEEDS_NEXT:
        return avail["has_next"]
    if name in NEEDS_OTHERS:
        return avail["has_others"]
    return None


def fit_input_spec(
    feats: dict[str, np.ndarray], segs: Segments, col: np.ndarray, count: np.ndarray, cold_k: float
) -> InputSpec:
    """Standardisation constants from the rows where each feature is defined."""
    avail = availability(segs)
    mean = np.zeros(len(SCALARS), np.float32)
    scale = np.ones(len(SCALARS), np.float32)
    for c, name in enumerate(SCALARS):
        m = _mask_for(name, avail)
        v = feats[name] if m is None else feats[name][m]
        if v.size:
            mean[c], scale[c] = float(v.mean()), float(max(v.std(), 1e-6))
    rms = float(np.sqrt(np.mean(col[1:] ** 2))) if col.shape[0] > 1 else 1.0
    return InputSpec(
        col_scale=max(rms, 1e-6), cold_k=cold_k, mean=mean, scale=scale, pop_max=float(np.log1p(count.max()) or 1.0)
    )


def collab_weight(count: np.ndarray, cold_k: float) -> np.ndarray:
    c = count.astype(np.float32)
    return c / (c + cold_k) if cold_k > 0 else np.ones_like(c)


def position_inputs(
    iid: np.ndarray,
    segs: Segments,
    feats: dict[str, np.ndarray],
    spec: InputSpec,
    col: np.ndarray,
    sem: np.ndarray,
    align: Alignment,
    count: np.ndarray,
    gate_keep: np.ndarray | None = None,
) -> np.ndarray:
    """(rows, F) float32 inputs; `gate_keep` (training only) zeroes the collaborative gate on some rows."""
    w = collab_weight(count[iid], spec.cold_k)
    if gate_keep is not None:
        w = w * gate_keep
    avail = availability(segs)
    scal = np.empty((iid.size, len(SCALARS)), np.float32)
    for c, name in enumerate(SCALARS):
        v = (feats[name] - spec.mean[c]) / spec.scale[c]
        m = _mask_for(name, avail)
        if m is not None:
            v = np.where(m, v, 0.0)
        if name in COLLAB_SCALARS:
            v = v * w
        scal[:, c] = v
    flags = np.stack([avail[f] for f in MISSING_FLAGS], axis=1).astype(np.float32)
    n_len = segs.length[segs.seg].astype(np.float32)
    ctx = np.stack([w, np.log1p(count[iid]) / spec.pop_max, np.log(n_len) / 5.0], axis=1).astype(np.float32)
    e_sem = sem[iid]
    x = l2_normalise(align.project_short(e_sem)) * np.sqrt(col.shape[1])
    parts = [
        (col[iid] / spec.col_scale) * w[:, None],
        x,
        e_sem * np.sqrt(sem.shape[1]),
        scal,
        flags,
        ctx,
    ]
    return np.concatenate(parts, axis=1).astype(np.float32)


# ---------------------------------------------------------------------------------------------- windows


def plan_windows(lengths: np.ndarray, window: int, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-user windows and, for every row, (window index, offset in it).

    Windows: (global start row, length). A user of n <= `window` rows has one window; a longer one has
    windows starting every `stride` rows (the last one flush with the end), and each row is answered by the
    window it is most central in, so it sees context on both sides wherever the sequence has it.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    extra = np.maximum(lengths - window, 0)
    n_win = np.where(lengths > 0, 1 + (extra + stride - 1) // stride, 0)
    user = np.repeat(np.arange(lengths.size), n_win)
    first = np.repeat(np.cumsum(n_win) - n_win, n_win)
    k = np.arange(user.size) - first
    local = np.minimum(k * stride, np.maximum(lengths[user] - window, 0))
    wstart = offsets[user] + local
    wlen = np.minimum(window, lengths[user])
    # rows
    seg = np.repeat(np.arange(lengths.size), lengths)
    pos = np.arange(seg.size) - offsets[seg]
    half = (window - stride) / 2.0
    kr = np.clip(np.floor((pos - half) / stride).astype(np.int64), 0, n_win[seg] - 1)
    row_win = first_of(n_win)[seg] + kr
    row_off = pos - (wstart[row_win] - offsets[seg])
    return np.stack([wstart, wlen], axis=1), row_win, row_off


def first_of(n_win: np.ndarray) -> np.ndarray:
    return np.cumsum(n_win) - n_win


def gather_windows(x: np.ndarray, win: np.ndarray, pad_to: int) -> tuple[np.ndarray, np.ndarray]:
    """(B, pad_to, F) inputs and (B, pad_to) validity mask for windows `win` (rows of (start, length))."""
    pos = np.arange(pad_to)
    valid = pos[None, :] < win[:, 1:2]
    idx = np.where(valid, win[:, 0:1] + pos[None, :], 0)
    out = x[idx]
    out[~valid] = 0.0
    return out, valid.astype(np.float32)


def _pad_length(n: np.ndarray, window: int) -> np.ndarray:
    """Padding depends only on a window's own length (multiples of 8, at most `window`), never on the batch."""
    return np.minimum(((n + 7) // 8) * 8, window)


# ---------------------------------------------------------------------------------------------- model


def build_model(n_in: int, o: SeqDetectorOptions) -> Any:
    """A pre-LN bidirectional transformer encoder with explicit attention (exports cleanly to ONNX)."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1 = nn.LayerNorm(o.d_model)
            self.qkv = nn.Linear(o.d_model, 3 * o.d_model)
            self.proj = nn.Linear(o.d_model, o.d_model)
            self.ln2 = nn.LayerNorm(o.d_model)
            self.ff = nn.Sequential(nn.Linear(o.d_model, 2 * o.d_model), nn.GELU(), nn.Linear(2 * o.d_model, o.d_model))
            self.drop = nn.Dropout(0.1)

        def forward(self, h: Any, bias: Any) -> Any:
            b, n, d = h.shape
            hd = d // o.heads
            q, k, v = self.qkv(self.ln1(h)).reshape(b, n, 3, o.heads, hd).permute(2, 0, 3, 1, 4)
            att = torch.softmax(q @ k.transpose(-1, -2) / hd**0.5 + bias, dim=-1)
            a = (att @ v).transpose(1, 2).reshape(b, n, d)
            h = h + self.drop(self.proj(a))
            return h + self.drop(self.ff(self.ln2(h)))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = nn.Sequential(nn.Linear(n_in, o.d_model), nn.GELU(), nn.LayerNorm(o.d_model))
            self.pos = nn.Embedding(o.window, o.d_model)
            self.blocks = nn.ModuleList([Block() for _ in range(o.layers)])
            self.out = nn.Sequential(nn.LayerNorm(o.d_model), nn.Linear(o.d_model, 1))

        def forward(self, x: Any, mask: Any) -> Any:
            n = x.shape[1]
            h = self.inp(x) + self.pos(torch.arange(n, device=x.device))[None]
            bias = ((1.0 - mask) * -1e9)[:, None, None, :]
            for blk in self.blocks:
                h = blk(h, bias)
            return self.out(h)[..., 0]

    return Net()


class Ensemble:
    """Stacks member logits: (members, B, L). One ONNX graph, one session."""

    @staticmethod
    def wrap(members: list[Any]) -> Any:
        import torch
        from torch import nn

        class Stack(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.members = nn.ModuleList(members)

            def forward(self, x: Any, mask: Any) -> Any:
                return torch.stack([m(x, mask) for m in self.members], dim=0)

        return Stack().eval()


def export_onnx_bytes(model: Any, n_in: int) -> bytes:
    """The stacked ensemble as ONNX (opset 17, dynamic batch and length)."""
    import warnings

    import torch

    buf = io.BytesIO()
    x = torch.zeros(2, 8, n_in)
    mask = torch.ones(2, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (x, mask),
            cast(Any, buf),
            dynamo=False,
            input_names=["x", "mask"],
            output_names=["logits"],
            dynamic_axes={
                "x": {0: "batch", 1: "length"},
                "mask": {0: "batch", 1: "length"},
                "logits": {1: "batch", 2: "length"},
            },
            opset_version=17,
            do_constant_folding=True,
        )
    return buf.getvalue()


def _window_loss(net: Any, x: np.ndarray, win: np.ndarray, ywin: np.ndarray, o: SeqDetectorOptions) -> float:
    """Mean BCE over the valid positions of all windows (eval mode, no gradient)."""
    import torch

    net.eval()
    plen = _pad_length(win[:, 1], o.window)
    total, count = 0.0, 0.0
    with torch.no_grad():
        for pad in np.unique(plen):
            ids = np.flatnonzero(plen == pad)
            for b in range(0, ids.size, 256):
                sel = ids[b : b + 256]
                xb, mb = gather_windows(x, win[sel], int(pad))
                mt = torch.from_numpy(mb)
                logits = net(torch.from_numpy(xb), mt)
                bce = torch.nn.functional.binary_cross_entropy_with_logits(
                    logits, torch.from_numpy(ywin[sel, : int(pad)]), reduction="none"
                )
                total += float((bce * mt).sum())
                count += float(mt.sum())
    return total / max(count, 1.0)


def train_members(
    epochs_data: Any,
    n_in: int,
    o: SeqDetectorOptions,
    valid: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    patience: int = 3,
) -> tuple[list[Any], dict[str, float]]:
    """Train `o.members` models for `o.steps` steps each; `epochs_data(e)` returns (inputs, windows, row_window,
    row_offset, labels) for pass e over the training users (shared by the members, so its cost is paid once).

    `valid` = (inputs, windows, labels) of corrupted held-out users: after each pass a member's loss there is
    measured, its best weights are kept, and it stops after `patience` passes without improvement (the
    self-supervised task has no real labels, but its own held-out corruptions tell when it starts memorising
    the training draws)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small batches: one thread beats two contending ones
    t0 = time.perf_counter()
    try:
        nets, opts = [], []
        for m in range(o.members):
            torch.manual_seed(o.seed * 1000 + 17 * m + 1)
            net = build_model(n_in, o)
            nets.append(net)
            opts.append(torch.optim.AdamW(net.parameters(), lr=o.lr, weight_decay=1e-4))
        last = 0.0
        prep_s = 0.0
        done = [0] * o.members
        best = [np.inf] * o.members
        best_state: list[Any] = [None] * o.members
        stale = [0] * o.members
        yval = gather_windows(valid[2].astype(np.float32)[:, None], valid[1], o.window)[0][..., 0] if valid else None
        e = 0
        while min(done) < o.steps:
            tp = time.perf_counter()
            x, win, row_win, row_off, y = epochs_data(e)
            prep_s += time.perf_counter() - tp
            # every valid position of every window carries its own row's label (overlaps included)
            ywin = gather_windows(y.astype(np.float32)[:, None], win, o.window)[0][..., 0]
            rng = np.random.default_rng(o.seed * 7919 + e)
            plen = _pad_length(win[:, 1], o.window)
            for m, (net, opt) in enumerate(zip(nets, opts, strict=True)):
                if done[m] >= o.steps:
                    continue
                net.train()
                order = rng.permutation(win.shape[0])
                order = order[np.argsort(plen[order], kind="stable")]  # similar lengths together: less padding
                batches = [order[i : i + o.batch] for i in range(0, order.size, o.batch)]
                total, count = 0.0, 0.0
                for bi in rng.permutation(len(batches)):
                    if done[m] >= o.steps:
                        break
                    done[m] += 1
                    sel = batches[bi]
                    pad = int(plen[sel].max())
                    xb, mb = gather_windows(x, win[sel], pad)
                    yb = torch.from_numpy(ywin[sel, :pad])
                    mt = torch.from_numpy(mb)
                    logits = net(torch.from_numpy(xb), mt)
                    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, yb, reduction="none")
                    loss = (bce * mt).sum()  # padded positions contribute nothing
                    opt.zero_grad()
                    (loss / mt.sum()).backward()
                    torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                    opt.step()
                    total += float(loss.detach())
                    count += float(mt.sum())
                if m == 0:
                    last = total / max(count, 1.0)
                if valid is not None and yval is not None:
                    vl = _window_loss(net, valid[0], valid[1], yval, o)
                    if vl < best[m] - 1e-4:
                        best[m], stale[m] = vl, 0
                        best_state[m] = {k: v.detach().clone() for k, v in net.state_dict().items()}
                    else:
                        stale[m] += 1
                        if stale[m] >= patience:
                            done[m] = o.steps  # stop this member
            e += 1
        for net, state in zip(nets, best_state, strict=True):
            if state is not None:
                net.load_state_dict(state)
        for net in nets:
            net.eval()
        return nets, {
            "train_loss": round(last, 5),
            "train_s": round(time.perf_counter() - t0 - prep_s, 1),
            "prep_s": round(prep_s, 1),
            "passes": e,
            "valid_loss": round(float(np.mean(best)), 5) if valid is not None else -1.0,
        }
    finally:
        torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------------------- inference


@dataclass
class SeqDetector:
    """The fitted detector: input spec and the ONNX ensemble (bytes), with its session opened lazily."""

    spec: InputSpec
    options: SeqDetectorOptions
    onnx: bytes
    n_in: int
    device: str = "auto"
    provider: str = "unknown"
    _session: Any = field(default=None, repr=False)

    def session(self) -> Any:
        if self._session is None:
            from seqclean.runtime import _ort, providers_for

            ort = _ort()
            so = ort.SessionOptions()
            so.log_severity_level = 3
            wanted = providers_for(self.device)
            try:
                self._session = ort.InferenceSession(self.onnx, sess_options=so, providers=wanted)
            except Exception:  # a CUDA provider that cannot start: CPU, as runtime.make_session does for auto
                if self.device == "cuda":
                    raise
                self._session = ort.InferenceSession(self.onnx, sess_options=so, providers=["CPUExecutionProvider"])
            self.provider = self._session.get_providers()[0]
        return self._session

    def member_probs(self, x: np.ndarray, segs: Segments, batch: int = 64) -> np.ndarray:
        """(members, rows) P(replaced or inserted) at the training corruption rate."""
        win, row_win, row_off = plan_windows(segs.length, self.options.window, self.options.stride)
        out = np.zeros((self.options.members, win.shape[0], self.options.window), np.float32)
        if win.shape[0] == 0:
            return np.zeros((self.options.members, 0), np.float32)
        sess = self.session()
        plen = _pad_length(win[:, 1], self.options.window)
        for pad in np.unique(plen):
            ids = np.flatnonzero(plen == pad)
            for b in range(0, ids.size, batch):
                sel = ids[b : b + batch]
                xb, mb = gather_windows(x, win[sel], int(pad))
                if sel.size < batch:  # always full batches: a window's result then never depends on the chunk
                    xb = np.concatenate([xb, np.zeros((batch - sel.size, *xb.shape[1:]), np.float32)])
                    mb = np.concatenate([mb, np.ones((batch - sel.size, mb.shape[1]), np.float32)])
                out[:, sel, :pad] = sess.run(None, {"x": xb, "mask": mb})[0][:, : sel.size]
        logits = out[:, row_win, row_off]
        return (1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))).astype(np.float32)


def torch_member_probs(model: Any, x: np.ndarray, segs: Segments, o: SeqDetectorOptions) -> np.ndarray:
    """The same as `SeqDetector.member_probs`, from the torch model (for the equivalence test)."""
    import torch

    win, row_win, row_off = plan_windows(segs.length, o.window, o.stride)
    xb, mb = gather_windows(x, win, int(win[:, 1].max()))
    with torch.no_grad():
        logits = model(torch.from_numpy(xb), torch.from_numpy(mb)).numpy()
    return (1.0 / (1.0 + np.exp(-np.clip(logits[:, row_win, row_off], -30, 30)))).astype(np.float32)


def n_inputs(col: np.ndarray, sem: np.ndarray) -> int:
    """Width of `position_inputs`' rows."""
    return 2 * col.shape[1] + sem.shape[1] + len(SCALARS) + len(MISSING_FLAGS) + 3
