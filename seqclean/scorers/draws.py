"""Where the detector's examples come from: fresh corruptions of the fit users' sequences, the backbone's
decoys (`seqclean.decoys`), or both in one draw.

Why both: fresh corruptions give every draw new positives (the detector does not memorise them), but the
backbone never saw them, so they are easier to find than the log's own noise, which it has fitted; decoys were
in its training data like the real noise, but they are one fixed set. Training on decoys with fresh
corruptions on top (`stack`) ranked the real noise best of the three on the sparse shop (docs/quality.md,
"Decoys").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from seqclean import seqdetector as sd
from seqclean.align import Alignment
from seqclean.calibration import fit_calibration
from seqclean.decoys import stacked, with_decoys
from seqclean.features import Spaces, compute_features
from seqclean.interests import Segments, shift_back

KINDS = ("fresh", "decoys", "stack")
MIN_DECOYS = 20  # held-out decoys below which the share is not read against them (as the group calibrations)


@dataclass
class DrawSource:
    """The fit users' rows (grouped by user, `rows`: their input row indices), the backbone states over them,
    and what a draw needs to be corrupted and featurised."""

    iid: np.ndarray
    segs: Segments
    rows: np.ndarray
    states: np.ndarray
    decoys: pl.DataFrame | None
    runner: Any
    spaces: Spaces
    align: Alignment
    options: sd.SeqDetectorOptions

    def draw(
        self, mask: np.ndarray, rng: np.random.Generator, kind: str = "fresh"
    ) -> tuple[sd.Corruption, dict[str, np.ndarray]]:
        """One labelled draw of the users' rows in `mask` and its features. `kind` (KINDS) falls back to
        `fresh` when the backbone has no decoys."""
        if kind not in KINDS:
            raise ValueError(f"draw kind {kind!r}: choose one of {', '.join(KINDS)}")
        sub_iid, sub_segs = self.iid[mask], Segments.from_sorted_ids(self.segs.seg[mask])
        base = None
        if self.decoys is not None and kind != "fresh":
            base = with_decoys(sub_iid, sub_segs, self.rows[mask], self.decoys)
        if base is not None and kind == "decoys":
            c = base
        else:
            prev = shift_back(self.states[mask], sub_segs)
            if base is not None:  # no backbone state before a decoy: the backbone-plausible kind reads zeros
                sub_iid, sub_segs, prev = base.iid, base.segs, np.zeros((base.iid.size, prev.shape[1]), prev.dtype)
            o, sp = self.options, self.spaces
            c = sd.corrupt_sequences(
                sub_iid,
                sub_segs,
                rng,
                n_items=sp.sem.shape[0] - 1,
                popularity=sp.count,
                col=sp.col,
                sem=sp.sem,
                prev_state=prev,
                replace_rate=o.replace_rate,
                insert_rate=o.insert_rate,
                mix=o.mix,
            )
            c = c if base is None else stacked(base, c)
        c_states = self.runner.states_for_sequences(np.split(c.iid, c.segs.start[1:]))
        return c, compute_features(c.iid, c.segs, c_states, self.spaces, self.align)


def share_between(low: float, p_real: np.ndarray, p_decoys: np.ndarray) -> tuple[float, dict[str, float]]:
    """The real log's noise share, halfway between `low`, its read against the stacked draw (the calibration
    already fitted against it), and its read against the decoys alone, and both reads
    (`IadsrOptions.decoys_calibration = "between"`).

    Each read is biased, in opposite directions (docs/quality.md, "Reading the noise share between two
    references"): the stacked draw's fresh half is easier to find than noise the backbone has fitted, so real
    noise looks rarer than it is (low); the decoys are like the real noise but few, and the clean rows' upper
    tail counts as noise against them (high). The midpoint halves the larger error. With fewer than
    `MIN_DECOYS` held-out decoys there is no second read: the stacked one alone.
    """
    if p_decoys.size < MIN_DECOYS:
        return low, {"stack": round(low, 6)}
    high = fit_calibration(p_real, p_decoys).prior
    return 0.5 * (low + high), {"stack": round(low, 6), "decoys": round(high, 6)}
