"""Training the ensemble members on fresh corruption, with early stopping on held-out users."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from seqclean.allocator import keep_freed_memory
from seqclean.backbone.loop import torch_threads
from seqclean.seqdetector.inputs import gather_windows, pad_length
from seqclean.seqdetector.model import build_model, window_loss
from seqclean.seqdetector.options import SeqDetectorOptions


def train_members(
    epochs_data: Any,
    n_in: int,
    o: SeqDetectorOptions,
    valid: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    patience: int = 3,
) -> tuple[list[Any], dict[str, float]]:
    """Train `o.members` models for `o.steps` steps each; `epochs_data(e)` returns (inputs, windows, row_window,
    row_offset, labels[, row loss weights]) for pass e over the training users (shared by the members, so its
    cost is paid once).

    `valid` = (inputs, windows, labels) of corrupted held-out users: after each pass a member's loss there is
    measured, its best weights are kept, and it stops after `patience` passes without improvement (the
    self-supervised task has no real labels, but its own held-out corruptions tell when it starts memorising
    the training draws)."""
    import torch

    t0 = time.perf_counter()
    with torch_threads(1), keep_freed_memory():  # small batches: one thread beats two contending ones
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
            x, win, _, _, y, *rest = epochs_data(e)
            prep_s += time.perf_counter() - tp
            # every valid position of every window carries its own row's label (overlaps included)
            ywin = gather_windows(y.astype(np.float32)[:, None], win, o.window)[0][..., 0]
            wts = rest[0] if rest else np.ones(y.size, np.float32)
            wwin = gather_windows(wts.astype(np.float32)[:, None], win, o.window)[0][..., 0]
            rng = np.random.default_rng(o.seed * 7919 + e)
            plen = pad_length(win[:, 1], o.window)
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
                    wt = torch.from_numpy(wwin[sel, :pad]) * mt  # padded positions contribute nothing
                    logits = net(torch.from_numpy(xb), mt)
                    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, yb, reduction="none")
                    loss = (bce * wt).sum()
                    opt.zero_grad()
                    (loss / wt.sum()).backward()
                    torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                    opt.step()
                    total += float(loss.detach())
                    count += float(wt.sum())
                if m == 0:
                    last = total / max(count, 1.0)
                if valid is not None and yval is not None:
                    vl = window_loss(net, valid[0], valid[1], yval, o)
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


# ---------------------------------------------------------------------------------------------- inference
