"""The fitted detector: ONNX inference over per-user windows (chunk-size independent)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seqclean.interests import Segments
from seqclean.seqdetector.inputs import InputSpec, gather_windows, pad_length, plan_windows
from seqclean.seqdetector.options import SeqDetectorOptions


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

    def __getstate__(self) -> dict[str, Any]:
        """Pickles without the session (it does not pickle): `--engine ray` ships the fitted detector to its
        actors, which re-open it from `onnx` on their own device at first use (`session`)."""
        state = self.__dict__.copy()
        state["_session"] = None
        return state

    def session(self) -> Any:
        if self._session is None:
            from seqclean.runtime import NO_SPIN, _ort, providers_for

            ort = _ort()
            so = ort.SessionOptions()
            so.log_severity_level = 3
            so.add_session_config_entry(NO_SPIN, "0")  # parts of a chunk run on threads at once (`runtime.NO_SPIN`)
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
        plen = pad_length(win[:, 1], self.options.window)
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
