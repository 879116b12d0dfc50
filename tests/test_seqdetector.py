"""The sequence-level detector: corruption labels, windows, ONNX vs torch, and no end-of-sequence bias."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from seqclean.backbone.runner import StateRunner
from seqclean.interests import Segments, l2_normalise, shift_back
from seqclean.metrics import roc_auc
from seqclean.seqdetector import (
    Ensemble,
    InputSpec,
    SeqDetector,
    SeqDetectorOptions,
    build_model,
    corrupt_sequences,
    export_onnx_bytes,
    plan_windows,
    torch_member_probs,
    truncation_mask,
)
from seqclean.workdir import Workdir


def _segs(lengths: list[int]) -> Segments:
    return Segments.from_sorted_ids(np.repeat(np.arange(len(lengths)), lengths))


def test_corruption_labels_are_exactly_the_changed_rows() -> None:
    rng = np.random.default_rng(0)
    lengths = [1, 2, 5, 30, 77, 3]
    segs = _segs(lengths)
    n_items = 50
    iid = rng.integers(1, n_items + 1, size=segs.seg.size)
    col = rng.normal(size=(n_items + 1, 8)).astype(np.float32)
    sem = l2_normalise(rng.normal(size=(n_items + 1, 6)).astype(np.float32))
    pop = np.bincount(iid, minlength=n_items + 1)
    states = rng.normal(size=(iid.size, 8)).astype(np.float32)
    c = corrupt_sequences(
        iid,
        segs,
        np.random.default_rng(1),
        n_items=n_items,
        popularity=pop,
        col=col,
        sem=sem,
        prev_state=shift_back(states, segs),
        replace_rate=0.3,
        insert_rate=0.2,
        mix=(0.35, 0.35, 0.15, 0.15),
    )
    orig = c.origin >= 0
    assert (c.origin[orig] == np.arange(iid.size)).all()  # original rows kept, in order, each once
    assert (c.label[~orig]).all() and (c.kind[~orig] == 5).all()  # every inserted row is labelled
    changed = c.iid[orig] != iid
    assert (c.label[orig] == changed).all()  # replaced rows are exactly the labelled original rows
    assert ((c.iid >= 1) & (c.iid <= n_items)).all()
    # every row stays with its user, and users stay contiguous
    user_of = np.repeat(np.arange(len(lengths)), lengths)
    kept_users = np.unique(user_of)
    assert c.segs.start.size == kept_users.size
    assert (c.segs.seg[orig] == user_of).all()
    assert c.label.any() and (~c.label).any()
    assert {1, 2, 3, 4} <= set(np.unique(c.kind[orig & c.label]).tolist())
    # the first and last positions are corrupted too
    pos, from_end = c.segs.position, c.segs.length[c.segs.seg] - 1 - c.segs.position
    assert c.label[pos == 0].any() and c.label[from_end == 0].any()


def test_truncation_keeps_a_prefix_of_each_cut_user() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 40, size=400)
    segs = _segs(lengths.tolist())
    keep = truncation_mask(segs, np.random.default_rng(1), share=0.5, min_len=3)
    kept = np.bincount(segs.seg, weights=keep, minlength=lengths.size).astype(int)
    # a prefix: every kept row comes before every dropped row of its user
    assert (keep == (segs.position < kept[segs.seg])).all()
    assert (kept >= np.minimum(lengths, 3)).all() and (kept <= lengths).all()
    cut = kept < lengths
    assert 0.3 < cut.mean() < 0.5  # half the users drawn, some of them keep everything by chance
    assert truncation_mask(segs, np.random.default_rng(1), share=0.0).all()


def test_every_row_is_answered_by_a_window_holding_it() -> None:
    lengths = np.array([1, 7, 50, 51, 75, 200])
    win, row_win, row_off = plan_windows(lengths, 50, 25)
    segs = _segs(lengths.tolist())
    assert (win[:, 1] <= 50).all()
    assert ((row_off >= 0) & (row_off < win[row_win, 1])).all()
    assert (win[row_win, 0] + row_off == np.arange(segs.seg.size)).all()
    # windows never cross users
    first_row = segs.start[segs.seg[win[:, 0]]]
    assert (win[:, 0] + win[:, 1] <= first_row + lengths[segs.seg[win[:, 0]]]).all()
    # a long user's middle rows see context on both sides
    mid = (segs.seg == 5) & (segs.position == 100)
    assert 12 <= row_off[mid][0] <= 37


def test_onnx_detector_matches_torch() -> None:
    import torch

    o = SeqDetectorOptions(members=2, window=20, stride=10)
    torch.manual_seed(0)
    n_in = 12
    nets = [build_model(n_in, o).eval() for _ in range(o.members)]
    model = Ensemble.wrap(nets)
    segs = _segs([3, 20, 33, 1])
    x = np.random.default_rng(0).normal(size=(segs.seg.size, n_in)).astype(np.float32)
    spec = InputSpec(col_scale=1.0, cold_k=2.0, mean=np.zeros(0), scale=np.ones(0), pop_max=1.0)
    det = SeqDetector(spec=spec, options=o, onnx=export_onnx_bytes(model, n_in), n_in=n_in, device="cpu")
    got = det.member_probs(x, segs)
    want = torch_member_probs(model, x, segs, o)
    np.testing.assert_allclose(got, want, atol=1e-5)  # float32 kernels differ in summation order only


class _DecayRunner(StateRunner):
    """A backbone stand-in: the causal decayed mean of the item vectors (no files, no ONNX)."""

    kind = "stub"
    provider = "numpy"

    def __init__(self, table: np.ndarray) -> None:
        self._table = table
        self.dim = table.shape[1]
        self.max_len = 50

    def hidden_states(self, item_seq: np.ndarray) -> np.ndarray:
        n = item_seq.shape[1]
        lag = np.arange(n)[:, None] - np.arange(n)[None, :]
        w = np.where(lag >= 0, 0.7 ** np.maximum(lag, 0), 0.0)
        w = (w / w.sum(1, keepdims=True)).astype(np.float32)
        out: np.ndarray = np.einsum("jk,bkd->bjd", w, self._table[item_seq])
        return out.astype(np.float32)


def _clustered_log(rng: np.random.Generator, users: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(uid per row, clean iid, noisy iid, is_noise) for users who each stay within one of 8 topics; noise is a
    uniformly drawn item at a uniformly drawn position (so every position is equally likely to be noise)."""
    per, topics = 30, 8
    uid, clean = [], []
    for u in range(users):
        t = rng.integers(topics)
        n = int(rng.integers(6, 25))
        uid.append(np.full(n, u))
        clean.append(t * per + 1 + rng.integers(0, per, size=n))
    u_arr, c_arr = np.concatenate(uid), np.concatenate(clean)
    noise = rng.random(c_arr.size) < 0.1
    noisy = c_arr.copy()
    noisy[noise] = rng.integers(1, per * topics + 1, size=int(noise.sum()))
    noise &= noisy != c_arr
    return u_arr, c_arr, noisy, noise


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_last_two_positions_are_not_flagged_more_than_the_middle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16 on small data: with noise planted uniformly over positions, the flag rate on each user's last two
    rows is within 1.5x of the rate in the middle, and the detector still finds the noise."""
    import seqclean.backbone.runner as runner_mod
    from seqclean.scorers.base import Context
    from seqclean.scorers.iadsr import IadsrOptions, IadsrScorer

    rng = np.random.default_rng(0)
    uid, _, iid, noise = _clustered_log(rng, 400)
    n_items = 240
    topic = (np.arange(n_items + 1) - 1) // 30
    centres = rng.normal(size=(8, 16))
    col = (centres[topic] + 0.5 * rng.normal(size=(n_items + 1, 16))).astype(np.float32)
    sem = l2_normalise((centres[topic] + 0.7 * rng.normal(size=(n_items + 1, 16))).astype(np.float32))
    col[0], sem[0] = 0.0, 0.0
    pos = np.concatenate([np.arange(k) for k in np.bincount(uid)])
    seq_path = tmp_path / "sequences.parquet"
    pl.DataFrame({"uid": uid.astype(np.int32), "position": pos, "iid": iid}).write_parquet(seq_path)
    count = np.bincount(iid, minlength=n_items + 1)
    ctx = Context(semantic=sem, item_count=count, cold=count < 3, item_ids=pl.Series(np.arange(n_items + 1)))
    monkeypatch.setattr(runner_mod, "open_backbone", lambda path, device="auto", threads=None: _DecayRunner(col))
    scorer = IadsrScorer(options=IadsrOptions(fit_users=400, probe_items=64, seed=0, device="cpu"))
    scorer.fit(Workdir(tmp_path), seq_path, ctx, 400)  # the stub runner reads nothing from it
    out = scorer.score_chunk(iid.astype(np.int64), Segments.from_sorted_ids(uid), ctx)
    p = out["noise_score"]
    assert roc_auc(noise, p) > 0.8
    segs = Segments.from_sorted_ids(uid)
    from_end = segs.length[segs.seg] - 1 - segs.position
    last2, middle = from_end < 2, (from_end >= 2) & (segs.position >= 2)
    flagged = p > 0.5
    r_last, r_mid = flagged[last2].mean(), flagged[middle].mean()
    assert r_mid > 0.0
    assert r_last <= 1.5 * r_mid, (r_last, r_mid)


def test_summary_reports_flag_rates_by_position_and_length() -> None:
    from seqclean.report import SummaryAccumulator

    acc = SummaryAccumulator()
    segs = _segs([1, 4, 12])  # streamed in two chunks of whole users
    score = np.linspace(0.0, 1.0, segs.seg.size)
    for users in ([0, 1], [2]):
        m = np.isin(segs.seg, users)
        from_end = (segs.length[segs.seg] - 1 - segs.position)[m]
        acc.update(score[m], score[m] > 0.5, np.zeros(m.sum(), bool), from_end, segs.length[segs.seg][m])
    out = acc.finalize()
    pos = {r["position"]: r for r in out["by_position_from_end"]}
    assert [r["position"] for r in out["by_position_from_end"]] == ["last", "second_last", "third_last", "rest"]
    assert pos["last"]["interactions"] == 3 and pos["rest"]["interactions"] == 17 - 3 - 2 - 2
    last_rows = np.array([0, 4, 16])
    assert pos["last"]["flagged"] == int((score[last_rows] > 0.5).sum())
    assert pos["last"]["mean_noise_score"] == round(float(score[last_rows].mean()), 6)
    by_len = {r["bucket"]: r for r in out["by_sequence_length"]}
    assert by_len["1-5"]["interactions"] == 5 and by_len["11-20"]["interactions"] == 12
    assert by_len["51+"]["interactions"] == 0 and by_len["51+"]["flag_rate"] is None
    assert sum(r["flagged"] for r in out["by_sequence_length"]) == out["flagged"]
