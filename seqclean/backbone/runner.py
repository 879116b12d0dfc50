"""Per-position hidden states from the backbone, for the scorer: one interface, two implementations.

- `BackboneRunner`: the trained SASRec/GRU4Rec encoder, run through ONNX Runtime
  (`seqclean.runtime.make_session` picks CUDA or CPU).
- `ByoBackboneRunner`: for `--collab-embeddings` (no trained encoder). The state at position j is a
  causal, exponentially decayed mean of the item vectors of the last `max_len` items up to and
  including j: ``h_j = sum_k a^(j-k) e_k / sum_k a^(j-k)`` over k = max(0, j-max_len+1)..j, with
  a = `decay` (default 0.7, a half-life of about two items).

Both take right-padded int64 iid matrices (0 = padding) and return float32 [B, L, d]; states at
padded positions are meaningless. `open_backbone(workdir_or_dir, device)` returns the right one.

Sequences longer than `max_len` (`states_for_sequences`): windows of `max_len` items starting at
0, s, 2s, ... (stride s = max_len // 2 by default). Positions j < max_len take their state from the
first window (their whole prefix); a later position takes it from the earliest window containing
it, so it sees between max_len - s + 1 and max_len items of history (itself included), never more
than max_len. Windows are batched by length to keep padding small.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seqclean.backbone.config import (
    BYO_DECAY,
    ONNX_MODEL,
    find_backbone_dir,
    read_config,
    read_item_table,
    read_trained_counts,
)


def plan_windows(lengths: np.ndarray, max_len: int, stride: int) -> tuple[np.ndarray, ...]:
    """Windows covering every position once (see the module docstring).

    Returns, per window: (start in the concatenated sequence, length, first position it answers for).
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    extra = np.maximum(lengths - max_len, 0)
    n_win = np.where(lengths > 0, 1 + (extra + stride - 1) // stride, 0)
    seq = np.repeat(np.arange(len(lengths)), n_win)
    first = np.repeat(np.cumsum(n_win) - n_win, n_win)
    k = np.arange(len(seq)) - first
    start_local = k * stride
    wlen = np.minimum(max_len, lengths[seq] - start_local)
    take = np.where(k == 0, 0, max_len - stride)
    return offsets[seq] + start_local, wlen, take


class StateRunner:
    """Shared windowing over `hidden_states`; subclasses set `max_len`, `dim`, `_table`."""

    max_len: int
    dim: int
    _table: np.ndarray

    trained_counts: np.ndarray | None = None  # per iid, interactions the backbone trained on (None: unknown)

    def prepare(self) -> None:
        """Open whatever is opened lazily, before several threads share the runner (`scorers.parts`)."""

    def collab_counts(self, count: np.ndarray) -> np.ndarray:
        """`count` capped by what the backbone trained on: 0 for items it never saw (added since it was
        trained, see backbone/incremental.py), so scoring gives them no collaborative evidence."""
        t = self.trained_counts
        return np.minimum(count, t) if t is not None and t.shape == count.shape else count

    @property
    def item_embeddings(self) -> np.ndarray:
        """(n_iid + 1, d) float32; row 0 is padding."""
        return self._table

    def hidden_states(self, item_seq: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def states_for_sequences(
        self, seqs: Sequence[np.ndarray], batch_size: int = 1024, stride: int | None = None
    ) -> np.ndarray:
        """States for every position of every sequence, concatenated in sequence order: (sum of lengths, d)."""
        stride = stride or max(1, self.max_len // 2)
        if not 1 <= stride <= self.max_len:
            raise ValueError(f"stride {stride} must be in 1..max_len ({self.max_len})")
        lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        flat = np.concatenate([np.asarray(s, dtype=np.int64) for s in seqs]) if len(seqs) else np.zeros(0, np.int64)
        out = np.zeros((len(flat), self.dim), dtype=np.float32)
        if len(flat) == 0:
            return out
        starts, wlen, take = plan_windows(lengths, self.max_len, stride)
        order = np.argsort(wlen, kind="stable")
        for b in range(0, len(order), batch_size):
            sel = order[b : b + batch_size]
            n = int(wlen[sel].max())
            pos = np.arange(n)
            valid = pos[None, :] < wlen[sel, None]
            idx = np.where(valid, starts[sel, None] + pos[None, :], 0)
            states = self.hidden_states(np.where(valid, flat[idx], 0))
            keep = valid & (pos[None, :] >= take[sel, None])
            out[idx[keep]] = states[keep]
        return out


class BackboneRunner(StateRunner):
    """The trained encoder's ONNX model under `backbone/onnx/model.onnx`."""

    def __init__(self, path: Path, device: str = "auto", threads: int | None = None) -> None:
        from seqclean.backbone.export import INPUT
        from seqclean.runtime import make_session

        d = find_backbone_dir(Path(path))
        cfg = read_config(d)
        self.kind: str = cfg["kind"]
        self.max_len = int(cfg["options"]["max_len"])
        self._table = read_item_table(d)
        self.trained_counts = read_trained_counts(d, self._table.shape[0])
        self.dim = self._table.shape[1]
        self._model, self._device, self._threads = d / ONNX_MODEL, device, threads
        self._session: Any
        self._session, self.provider = make_session(self._model, device, threads, spin=False)
        self._input = INPUT

    def __getstate__(self) -> dict[str, Any]:
        """Pickles without the ONNX Runtime session (it does not pickle): `--engine ray` ships the fitted
        scorer to its actors, and each re-opens the model by path, on its own device, at first use."""
        state = self.__dict__.copy()
        state["_session"] = None
        return state

    def prepare(self) -> None:
        self._sess()

    def _sess(self) -> Any:
        if self._session is None:
            from seqclean.runtime import make_session

            self._session, self.provider = make_session(self._model, self._device, self._threads, spin=False)
        return self._session

    def hidden_states(self, item_seq: np.ndarray) -> np.ndarray:
        """item_seq int64 [B, L] (L <= max_len, right-padded with 0) -> float32 [B, L, d]."""
        x = np.ascontiguousarray(item_seq, dtype=np.int64)
        if x.ndim != 2 or x.shape[1] > self.max_len:
            raise ValueError(f"item_seq must be [B, L] with L <= {self.max_len}, got {x.shape}")
        out: np.ndarray = self._sess().run(None, {self._input: x})[0]
        return out.astype(np.float32, copy=False)


class ByoBackboneRunner(StateRunner):
    """Brought-your-own item vectors; states are the causal decayed mean described in the module docstring."""

    def __init__(self, path: Path, device: str = "auto", threads: int | None = None) -> None:
        d = find_backbone_dir(Path(path))
        cfg = read_config(d)
        self.kind = "byo"
        self.max_len = int(cfg["options"]["max_len"])
        self.decay = float(cfg.get("decay", BYO_DECAY))
        self._table = read_item_table(d)
        self.dim = self._table.shape[1]
        self.provider = "numpy"

    def hidden_states(self, item_seq: np.ndarray) -> np.ndarray:
        x = np.asarray(item_seq, dtype=np.int64)
        n = x.shape[1]
        if n > self.max_len:
            raise ValueError(f"item_seq must be [B, L] with L <= {self.max_len}, got {x.shape}")
        lag = np.arange(n)[:, None] - np.arange(n)[None, :]
        w = np.where(lag >= 0, self.decay ** np.maximum(lag, 0), 0.0)
        w = (w / w.sum(1, keepdims=True)).astype(np.float32)
        out: np.ndarray = np.einsum("jk,bkd->bjd", w, self._table[x], optimize=True)
        return out.astype(np.float32, copy=False)


def open_backbone(path: Path, device: str = "auto", threads: int | None = None) -> StateRunner:
    """The runner for a workdir (or its backbone dir): `BackboneRunner` or `ByoBackboneRunner`."""
    d = find_backbone_dir(Path(path))
    if read_config(d)["kind"] == "byo":
        return ByoBackboneRunner(d, device, threads)
    return BackboneRunner(d, device, threads)
