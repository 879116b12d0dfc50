"""The collaborative backbone: torch/ONNX equivalence, windowing, determinism, BYO vectors, embed integration."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from seqclean.backbone import BackboneConfig, fit, open_backbone, train_backbone
from seqclean.backbone.byo import load_collab_embeddings
from seqclean.backbone.config import read_config
from seqclean.backbone.data import read_sequences, training_windows
from seqclean.backbone.export import torch_hidden
from seqclean.backbone.runner import BackboneRunner, ByoBackboneRunner, plan_windows
from seqclean.backbone.train import build_model
from seqclean.errors import InputDataError, MissingInputError

MAX_LEN = 12


def _tiny_config(model: str, **kw: object) -> BackboneConfig:
    base: dict = dict(model=model, epochs=2, max_len=MAX_LEN, hidden=16, gru_hidden=24, batch_size=32, threads=1)
    base.update(kw)
    return BackboneConfig(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def tiny_logs(tmp_path_factory: pytest.TempPathFactory, sample_slice: Any) -> tuple[Path, Path]:
    """50 users of the sample log and the items they touch."""
    result: tuple[Path, Path] = sample_slice(tmp_path_factory.mktemp("bb_inputs"), 50, 3)
    return result


@pytest.fixture(scope="module")
def seq_workdir(tiny_logs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workdir holding only sequences.parquet and items.parquet (as embed writes them), no encoder run."""
    inter, items_path = tiny_logs
    wd = tmp_path_factory.mktemp("bb_wd")
    log = pl.read_parquet(inter).with_row_index("row_index")
    cat = pl.read_parquet(items_path).sort("item_id").with_columns(pl.int_range(1, pl.len() + 1).alias("iid"))
    users = log.select("user_id").unique().sort("user_id").with_row_index("uid")
    seq = (
        log.join(users, on="user_id")
        .join(cat.select("item_id", "iid"), on="item_id")
        .sort("uid", "timestamp", "row_index")
        .with_columns(pl.int_range(pl.len()).over("uid").alias("position"))
    )
    counts = seq.group_by("iid").agg(pl.len().alias("n_interactions"))
    cat = cat.join(counts, on="iid", how="left").with_columns(pl.col("n_interactions").fill_null(0))
    seq.write_parquet(wd / "sequences.parquet")
    cat.write_parquet(wd / "items.parquet")
    return wd


@pytest.fixture(scope="module", params=["sasrec", "gru4rec"])
def trained(request: pytest.FixtureRequest, seq_workdir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    wd = tmp_path_factory.mktemp(f"bb_{request.param}")
    for f in ("sequences.parquet", "items.parquet"):
        shutil.copy(seq_workdir / f, wd / f)
    info = train_backbone(_tiny_config(request.param), wd, "item_id")
    assert info["kind"] == request.param and info["onnx_max_abs_diff"] <= 1e-4
    return wd


def _real_batch(wd: Path) -> np.ndarray:
    """Right-padded windows of real sequences with every length 1..MAX_LEN."""
    seqs = [s for s in read_sequences(wd / "sequences.parquet") if len(s) >= MAX_LEN]
    out = np.zeros((MAX_LEN, MAX_LEN), dtype=np.int64)
    for n in range(1, MAX_LEN + 1):
        s = seqs[n % len(seqs)]
        out[n - 1, :n] = s[len(s) - n :]
    return out


def test_onnx_matches_torch_on_real_sequences(trained: Path) -> None:
    cfg = read_config(trained / "backbone")
    model = build_model(cfg["kind"], cfg["model_args"])
    import torch

    model.load_state_dict(torch.load(trained / "backbone" / "model.pt"))
    batch = _real_batch(trained)
    runner = BackboneRunner(trained, device="cpu")
    got, want = runner.hidden_states(batch), torch_hidden(model, batch)
    assert got.shape == (MAX_LEN, MAX_LEN, 16)
    real = batch > 0
    assert np.abs(got - want)[real].max() <= 1e-4
    # right padding: a sequence's states do not depend on what it is batched with
    alone = runner.hidden_states(batch[2:3, :3])
    np.testing.assert_allclose(alone[0], got[2, :3], atol=1e-5)
    # the item table is the model's, padding row included
    np.testing.assert_allclose(runner.item_embeddings, model.item_emb.weight.detach().numpy(), atol=0)


def test_workdir_outputs(trained: Path) -> None:
    emb = pl.read_parquet(trained / "backbone" / "item_embeddings.parquet")
    items = pl.read_parquet(trained / "items.parquet")
    assert emb.columns == ["iid", "item_id", "vector", "n_trained"]
    assert emb["iid"].to_list() == items.sort("iid")["iid"].to_list()
    # trained from scratch: every item's row was trained on all its interactions
    assert emb["n_trained"].to_list() == items.sort("iid")["n_interactions"].to_list()
    assert (trained / "backbone" / "onnx" / "model.onnx").exists()


def _expected_states(runner: BackboneRunner, s: np.ndarray, stride: int) -> np.ndarray:
    """Position by position: j < L from the prefix window, later j from the earliest window holding it."""
    L = runner.max_len
    rows = []
    for j in range(len(s)):
        start = 0 if j < L else -(-(j - L + 1) // stride) * stride
        w = s[start : min(len(s), start + L)]
        rows.append(runner.hidden_states(w[None, :])[0, j - start])
    return np.stack(rows)


@pytest.mark.parametrize("stride", [None, 1, 5])
def test_states_for_sequences_windows_long_sequences(trained: Path, stride: int | None) -> None:
    runner = open_backbone(trained, device="cpu")
    seqs = read_sequences(trained / "sequences.parquet")
    long = np.concatenate([seqs[0], seqs[1], seqs[2]])[: 3 * MAX_LEN + 5]
    batch = [seqs[3][:1], long, np.zeros(0, dtype=np.int64), seqs[4][:MAX_LEN], seqs[5]]
    got = runner.states_for_sequences(batch, batch_size=3, stride=stride)
    assert got.shape == (sum(len(s) for s in batch), runner.dim)
    expected = np.concatenate([_expected_states(runner, s, stride or MAX_LEN // 2) for s in batch if len(s)])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    if stride == 1:  # every position late in a long sequence sees exactly max_len items
        j = len(long) - 1
        last = runner.hidden_states(long[None, j - MAX_LEN + 1 : j + 1])[0, -1]
        np.testing.assert_allclose(got[1 + j], last, atol=1e-5)


def test_plan_windows_cover_each_position_once() -> None:
    lengths = np.array([0, 1, 7, 8, 9, 30])
    starts, wlen, take = plan_windows(lengths, max_len=8, stride=3)
    covered = np.concatenate([np.arange(s + t, s + w) for s, w, t in zip(starts, wlen, take, strict=True)])
    assert sorted(covered.tolist()) == list(range(lengths.sum()))
    assert (wlen <= 8).all() and (wlen - take > 0).all()


def test_read_sequences_per_user_in_position_order(tmp_path: Path) -> None:
    path = tmp_path / "seq.parquet"
    pl.DataFrame({"uid": [1, 0, 1, 0, 1, 2], "position": [2, 1, 0, 0, 1, 0], "iid": [7, 5, 3, 4, 9, 1]}).with_columns(
        pl.col("uid", "position").cast(pl.Int32), pl.col("iid").cast(pl.Int32)
    ).write_parquet(path)
    seqs = read_sequences(path)
    assert [s.tolist() for s in seqs] == [[4, 5], [3, 9, 7], [1]]
    assert all(s.dtype == np.int64 for s in seqs)
    pl.DataFrame(schema={"uid": pl.Int32, "position": pl.Int32, "iid": pl.Int32}).write_parquet(path)
    assert read_sequences(path) == []


def test_training_windows_use_every_target_once() -> None:
    s = np.arange(1, 24)
    x, y = training_windows([s, np.array([5])], max_len=10)
    assert x.shape == (3, 10)
    assert sorted(y[y > 0].tolist()) == list(range(2, 24))
    np.testing.assert_array_equal(y[x > 0], x[x > 0] + 1)


def test_training_is_deterministic_with_a_seed(seq_workdir: Path) -> None:
    seqs = [s for s in read_sequences(seq_workdir / "sequences.parquet") if len(s) >= 2]
    n_items = pl.read_parquet(seq_workdir / "items.parquet").height
    args = ([s[:-1] for s in seqs], [s[:-1] for s in seqs], np.array([s[-1] for s in seqs]))

    def weights(seed: int) -> list[np.ndarray]:
        r = fit(_tiny_config("sasrec", seed=seed, device="cpu"), n_items, *args)
        return [v.detach().numpy().copy() for v in r.model.state_dict().values()]

    a, b, c = weights(1), weights(1), weights(2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


# ---------------------------------------------------------------- bring your own embeddings


def _items(seq_workdir: Path) -> pl.DataFrame:
    return pl.read_parquet(seq_workdir / "items.parquet", columns=["iid", "item_id", "n_interactions"])


def _byo_frame(items: pl.DataFrame, dim: int = 8) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(items.height, dim)).astype(np.float32)
    return pl.DataFrame({"item_id": items["item_id"], "vector": vecs.tolist()})


def test_byo_vectors_align_to_iids(seq_workdir: Path, tmp_path: Path) -> None:
    items = _items(seq_workdir)
    byo = _byo_frame(items)
    byo.sample(fraction=1.0, shuffle=True, seed=1).write_parquet(tmp_path / "byo.parquet")
    table = load_collab_embeddings(tmp_path / "byo.parquet", items, "item_id")
    assert table.shape == (items.height + 1, 8) and not table[0].any()
    row = items.sort("iid").row(4, named=True)
    want = byo.filter(pl.col("item_id") == row["item_id"])["vector"].to_list()[0]
    np.testing.assert_allclose(table[row["iid"]], want, rtol=1e-6)


@pytest.mark.parametrize(
    "case",
    ["missing_file", "no_vector_col", "no_item_col", "unequal", "missing_items", "duplicates", "not_floats"],
)
def test_byo_errors(seq_workdir: Path, tmp_path: Path, case: str) -> None:
    items = _items(seq_workdir)
    byo = _byo_frame(items)
    path = tmp_path / "byo.parquet"
    if case == "no_vector_col":
        byo = byo.rename({"vector": "emb"})
    elif case == "no_item_col":
        byo = byo.rename({"item_id": "id"})
    elif case == "unequal":
        byo = byo.with_columns(
            pl.when(pl.int_range(pl.len()) == 3)
            .then(pl.col("vector").list.head(5))
            .otherwise(pl.col("vector"))
            .alias("vector")
        )
    elif case == "missing_items":
        used = items.filter(pl.col("n_interactions") > 0)["item_id"].head(2).implode()
        byo = byo.filter(~pl.col("item_id").is_in(used))
    elif case == "duplicates":
        byo = pl.concat([byo, byo.head(1)])
    elif case == "not_floats":
        byo = byo.with_columns(pl.lit("x").alias("vector"))
    if case != "missing_file":
        byo.write_parquet(path)
    err = MissingInputError if case == "missing_file" else InputDataError
    with pytest.raises(err) as exc:
        load_collab_embeddings(path, items, "item_id")
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg
    if case == "missing_items":
        assert "2 items of the log have no vector" in msg


def test_byo_runner_pooling(seq_workdir: Path, tmp_path: Path) -> None:
    from seqclean.backbone import write_byo_backbone

    wd = tmp_path / "wd"
    wd.mkdir()
    shutil.copy(seq_workdir / "items.parquet", wd / "items.parquet")
    items = _items(seq_workdir)
    _byo_frame(items).write_parquet(tmp_path / "byo.parquet")
    info = write_byo_backbone(tmp_path / "byo.parquet", BackboneConfig(max_len=4), wd, "item_id")
    assert info["kind"] == "byo" and info["dim"] == 8
    runner = open_backbone(wd)
    assert isinstance(runner, ByoBackboneRunner)
    s = np.array([3, 1, 4, 1, 5, 9], dtype=np.int64)
    got = runner.states_for_sequences([s], stride=1)
    e, a = runner.item_embeddings, runner.decay
    for j in range(len(s)):  # causal decayed mean of the last max_len (4) items
        ks = range(max(0, j - 3), j + 1)
        w = np.array([a ** (j - k) for k in ks])
        np.testing.assert_allclose(got[j], (w[:, None] * e[s[list(ks)]]).sum(0) / w.sum(), rtol=1e-5)


# ---------------------------------------------------------------- embed integration (CLI)


def test_embed_cli_trains_backbone_then_accepts_byo(tiny_logs: tuple[Path, Path], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from seqclean.cli import app

    inter, items = tiny_logs
    wd = tmp_path / "work"
    base = ["embed", "--interactions", str(inter), "--items", str(items), "--workdir", str(wd), "--device", "cpu"]
    r = CliRunner().invoke(app, [*base, "--backbone", "gru4rec", "--epochs", "2", "--max-len", "10", "-q"])
    assert r.exit_code == 0, r.output
    for f in ("item_embeddings.parquet", "model.pt", "config.json", "onnx/model.onnx"):
        assert (wd / "backbone" / f).exists(), f
    mf = json.loads((wd / "manifest.json").read_text())["backbone"]
    assert mf["kind"] == "gru4rec" and mf["config"]["max_len"] == 10 and 1 <= mf["best_epoch"] <= 2
    assert {"HR@10", "NDCG@10"} <= set(mf["valid"]) and mf["device"] == "cpu"
    emb = pl.read_parquet(wd / "backbone" / "item_embeddings.parquet")
    n_items = pl.read_parquet(wd / "items.parquet").height
    assert emb.height == n_items

    # feed the trained table back as "production" embeddings: no training, a BYO backbone
    r = CliRunner().invoke(app, [*base, "--collab-embeddings", str(wd / "backbone" / "item_embeddings.parquet"), "-q"])
    assert r.exit_code == 0, r.output
    assert json.loads((wd / "manifest.json").read_text())["backbone"]["kind"] == "byo"
    assert not (wd / "backbone" / "onnx" / "model.onnx").exists()
    assert isinstance(open_backbone(wd), ByoBackboneRunner)

    r = CliRunner().invoke(app, [*base, "--collab-embeddings", str(tmp_path / "nope.parquet"), "-q"])
    assert r.exit_code == 3 and "nope.parquet" in r.output
    r = CliRunner().invoke(app, [*base, "--backbone", "caser", "-q"])
    assert r.exit_code == 2 and "--backbone" in r.output and "caser" in r.output
