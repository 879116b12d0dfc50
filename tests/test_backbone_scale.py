"""The backbone's cost bounds: vectorised windows (equal to the per-window loop they replace), the sampled
loss (seeded, deterministic), the user and step budgets, the chunked ranking, and their place in the
stage fingerprint."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from seqclean.backbone import fit, train_backbone
from seqclean.backbone.data import (
    last_windows,
    rank_metrics,
    read_sequences,
    sample_users,
    training_windows,
    user_lengths,
)
from seqclean.backbone.loss import NextItemLoss, popularity_prior, resolve_loss, sampling_distribution
from seqclean.backbone.train import FitResult, build_model
from seqclean.config import AUTO_FULL_MAX_ITEMS, BackboneOptions
from seqclean.embed import backbone_fingerprint
from seqclean.embed_inputs import EmbedConfig
from tests.tiny import tiny_backbone

N_ITEMS = 40


def _loop_training_windows(seqs: Sequence[np.ndarray], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """The per-window loop `training_windows` had before it was vectorised: the reference."""
    xs, ys = [], []
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


def _loop_last_windows(seqs: Sequence[np.ndarray], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    out = np.zeros((len(seqs), max_len), dtype=np.int64)
    lengths = np.zeros(len(seqs), dtype=np.int64)
    for r, s in enumerate(seqs):
        tail = s[-max_len:]
        out[r, : len(tail)] = tail
        lengths[r] = len(tail)
    return out, lengths


def _random_seqs(seed: int, n: int = 60, longest: int = 70) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(1, N_ITEMS + 1, size=int(rng.integers(0, longest))) for _ in range(n)]


@pytest.mark.parametrize("max_len", [1, 3, 10, 50])
def test_vectorised_windows_equal_the_loop(max_len: int) -> None:
    seqs = [*_random_seqs(max_len), np.arange(1, 2 * max_len + 2), np.array([], dtype=np.int64), np.array([7])]
    want_x, want_y = _loop_training_windows(seqs, max_len)
    for dtype, chunk in ((np.int64, 65_536), (np.int32, 7)):
        x, y = training_windows(seqs, max_len, dtype, chunk=chunk)
        assert x.dtype == y.dtype == dtype
        np.testing.assert_array_equal(x, want_x)
        np.testing.assert_array_equal(y, want_y)
    got, want = last_windows(seqs, max_len), _loop_last_windows(seqs, max_len)
    for a, b in zip(got, want, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert training_windows([], max_len)[0].shape == (0, max_len)


def test_user_budget_is_a_seeded_sample() -> None:
    a, b, c = sample_users(1000, 100, 0), sample_users(1000, 100, 0), sample_users(1000, 100, 1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert len(np.unique(a)) == 100 and (np.diff(a) > 0).all() and a.max() < 1000
    for budget in (0, 1000, 5000):  # no budget, or one the log does not reach: every user, in order
        np.testing.assert_array_equal(sample_users(1000, budget, 0), np.arange(1000))


def test_auto_loss_follows_the_catalogue() -> None:
    assert resolve_loss("auto", AUTO_FULL_MAX_ITEMS) == "full"
    assert resolve_loss("auto", AUTO_FULL_MAX_ITEMS + 1) == "sampled"
    assert resolve_loss("full", 10**7) == "full" and resolve_loss("sampled", 10) == "sampled"
    help_text = next(f.metadata["help"] for f in dataclasses.fields(BackboneOptions) if f.name == "loss")
    assert f"{AUTO_FULL_MAX_ITEMS:,} items" in help_text  # the --help states the threshold in force
    q = sampling_distribution(np.array([[1, 1, 2, 0]]), 4)
    assert q.sum() == pytest.approx(1.0) and q[0] > q[1] > q[2] == q[3] > 0


def _fit(seqs: list[np.ndarray], **kw: object) -> tuple[list[np.ndarray], FitResult]:
    inputs = [s[:-1] for s in seqs]
    r = fit(
        tiny_backbone(**{"threads": 1, "epochs": 2, **kw}), N_ITEMS, inputs, inputs, np.array([s[-1] for s in seqs])
    )
    return [v.detach().numpy().copy() for v in r.model.state_dict().values()], r


def test_sampled_loss_trains_and_is_deterministic() -> None:
    seqs = [s for s in _random_seqs(0, 80) if len(s) >= 3]
    a, ra = _fit(seqs, loss="sampled", negatives=8, seed=3)
    b, _ = _fit(seqs, loss="sampled", negatives=8, seed=3)
    c, _ = _fit(seqs, loss="sampled", negatives=8, seed=4)
    full, rf = _fit(seqs, loss="full", seed=3)
    assert ra.loss == "sampled" and rf.loss == "full"
    assert ra.prior is not None and rf.prior is None
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, full, strict=True))
    assert all(np.isfinite(h["loss"]) for h in ra.history)


def test_step_budget_stops_training() -> None:
    seqs = [s for s in _random_seqs(1, 60) if len(s) >= 3]
    _, r = _fit(seqs, epochs=5, batch_size=8, max_steps=3)
    assert r.steps == 3 and r.epochs_run == 1
    _, r = _fit(seqs, epochs=1, batch_size=8, valid_users=7)
    assert r.steps > 3 and r.valid_users == 7


def test_chunked_ranking_equals_the_full_one() -> None:
    import torch

    torch.manual_seed(0)
    model = build_model("sasrec", tiny_backbone().model_args(N_ITEMS)).eval()
    seqs = [s for s in _random_seqs(2) if len(s)]
    x, lengths = last_windows(seqs, 20)
    targets = np.random.default_rng(0).integers(1, N_ITEMS + 1, size=len(seqs))
    whole = rank_metrics(model, x, lengths, targets, "cpu", ks=(1, 5, 10, 20))
    assert rank_metrics(model, x, lengths, targets, "cpu", ks=(1, 5, 10, 20), item_chunk=7) == whole
    # with the sampled loss's popularity prior: chunked still equals whole, and the prior moves the ranks
    prior = torch.from_numpy(popularity_prior(np.repeat(np.arange(1, 6), 50), N_ITEMS)).float()
    with_prior = rank_metrics(model, x, lengths, targets, "cpu", ks=(1, 5, 10, 20), prior=prior)
    assert rank_metrics(model, x, lengths, targets, "cpu", ks=(1, 5, 10, 20), item_chunk=7, prior=prior) == with_prior
    assert with_prior != whole
    only_prior = torch.zeros(N_ITEMS)
    only_prior[targets[0] - 1] = 1e6  # a prior that puts one row's target first: that row is a hit at 1
    assert rank_metrics(model, x[:1], lengths[:1], targets[:1], "cpu", ks=(1,), prior=only_prior)["HR@1"] == 1.0


def test_popularity_prior_is_the_smoothed_log_share_of_the_targets() -> None:
    p = popularity_prior(np.array([[1, 1, 1, 2, 0], [2, 0, 0, 0, 0]]), 4)  # 0 = padding, not counted
    np.testing.assert_allclose(np.exp(p), np.array([4, 3, 1, 1]) / 9.0)
    assert np.exp(p).sum() == pytest.approx(1.0) and np.isfinite(p).all()


def test_sampled_loss_adds_the_prior_to_every_logit() -> None:
    """The sampled loss with the prior equals the one without it on logits shifted by the prior: the embeddings
    then need not carry popularity (at 200,000 items they collapsed onto it: docs/backbone.md)."""
    import torch

    rng = np.random.default_rng(0)
    targets = rng.integers(1, N_ITEMS + 1, size=(30, 5))
    q, prior = sampling_distribution(targets, N_ITEMS), popularity_prior(targets, N_ITEMS)
    h = torch.from_numpy(rng.normal(size=(12, 6)).astype(np.float32))
    table = torch.from_numpy(rng.normal(size=(N_ITEMS + 1, 6)).astype(np.float32))
    t = torch.from_numpy(rng.integers(1, N_ITEMS + 1, size=12))
    with_prior = NextItemLoss("sampled", q, 16, 0, "cpu", prior)
    without = NextItemLoss("sampled", q, 16, 0, "cpu")
    assert without.prior is None and with_prior.prior is not None
    # one extra column holding log p_i turns `<h, e_i>` into `<h, e_i> + log p_i`
    h1 = torch.cat([h, torch.ones(12, 1)], 1)
    table1 = torch.cat([table, torch.cat([torch.zeros(1), torch.from_numpy(prior).float()]).unsqueeze(1)], 1)
    assert float(with_prior(h, t, table)) == pytest.approx(float(without(h1, t, table1)), rel=1e-5)
    assert NextItemLoss("full", None, 16, 0, "cpu", prior).prior is None  # the full softmax has no prior


def test_training_user_budget_in_the_manifest(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    rows = [(u, p, int(i)) for u in range(30) for p, i in enumerate(rng.integers(1, N_ITEMS + 1, size=8))]
    seq = pl.DataFrame(rows, schema=["uid", "position", "iid"], orient="row").with_row_index("row_index")
    seq.write_parquet(tmp_path / "sequences.parquet")
    pl.DataFrame({"iid": range(1, N_ITEMS + 1), "item_id": [f"i{k}" for k in range(N_ITEMS)]}).write_parquet(
        tmp_path / "items.parquet"
    )
    info = train_backbone(tiny_backbone(train_users=10, epochs=1), tmp_path, "item_id")
    assert info["train_users"] == 10 and info["config"]["train_users"] == 10
    trained = pl.read_parquet(tmp_path / "backbone" / "item_embeddings.parquet")["n_trained"].sum()
    assert trained == 10 * 8  # the items' trained counts are the sampled users' interactions


def test_cost_options_are_in_the_backbone_fingerprint() -> None:
    base = EmbedConfig(interactions=Path("a"), items=Path("b"), workdir=Path("w"), backbone=tiny_backbone())
    ref = backbone_fingerprint(base, "e")
    for change in ({"loss": "sampled"}, {"negatives": 64}, {"train_users": 5}, {"max_steps": 9}, {"valid_users": 3}):
        cfg = dataclasses.replace(base, backbone=dataclasses.replace(base.backbone, **change))  # type: ignore[arg-type]
        assert backbone_fingerprint(cfg, "e") != ref, change


def test_a_user_budget_reads_the_same_sequences_as_the_whole_log(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    lengths = rng.integers(1, 9, size=40)  # users of one row are never trained on
    rows = [(u, p, int(rng.integers(1, N_ITEMS + 1))) for u in range(40) for p in range(int(lengths[u]))]
    seq = pl.DataFrame(rows, schema=["uid", "position", "iid"], orient="row").with_row_index("row_index")
    path = tmp_path / "sequences.parquet"
    seq.sample(fraction=1.0, shuffle=True, seed=1).write_parquet(path)  # the reader sorts
    exclude = np.array([0, 5, 17, 40], dtype=np.int64)
    whole = [s for s in read_sequences(path, exclude) if len(s) >= 2]
    pick = sample_users(len(whole), 7, seed=3)
    uid, n = user_lengths(path, exclude)
    assert uid.size == len(read_sequences(path, exclude)) and int(n.sum()) == seq.height - exclude.size
    got = read_sequences(path, exclude, uid[n >= 2][pick])
    assert len(got) == 7 and all(np.array_equal(a, whole[i]) for a, i in zip(got, pick, strict=True))


def test_sampled_loss_gradients_are_the_same_on_two_threads() -> None:
    """Reruns must give the same backbone: on two threads the gradient of indexed rows (many targets share
    popular items) used to be summed in a varying order, so 50M-row embeds differed in the last bits."""
    import torch

    from seqclean.backbone.loop import torch_threads

    rng = np.random.default_rng(0)
    n_items = 20_000
    targets = np.minimum(rng.zipf(1.3, size=12_800), n_items)
    q, prior = sampling_distribution(targets, n_items), popularity_prior(targets, n_items)
    h = torch.from_numpy(rng.normal(size=(targets.size, 64)).astype(np.float32))
    start = rng.normal(size=(n_items + 1, 64)).astype(np.float32)
    grads = []
    with torch_threads(2):
        for _ in range(4):
            table = torch.from_numpy(start.copy()).requires_grad_(True)
            NextItemLoss("sampled", q, 1024, 0, "cpu", prior)(h, torch.from_numpy(targets), table).backward()
            assert table.grad is not None
            grads.append(table.grad.numpy().copy())
    assert all(np.array_equal(grads[0], g) for g in grads[1:])
