"""Nightly runs on a growing log: the backbone is reused, fine-tuned or retrained as the rules say, item rows
follow item ids (not iids), and a broken or older workdir is exit 4 with 'rerun embed'."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from seqclean.backbone.incremental import UpdatePolicy
from seqclean.backbone.train import BackboneConfig
from seqclean.embed import EmbedConfig, embed

runner = CliRunner()
BB = BackboneConfig(epochs=2, patience=1, device="cpu")


def _embed(inter: Path, items: Path, wd: Path, policy: UpdatePolicy) -> dict:
    r = embed(EmbedConfig(interactions=inter, items=items, workdir=wd, device="cpu", backbone=BB, update=policy))
    assert r.backbone_update is not None
    assert "update" not in json.loads((wd / "manifest.json").read_text())["backbone"]  # reruns stay byte-identical
    return r.backbone_update


def _vectors(wd: Path) -> dict[int, np.ndarray]:
    df = pl.read_parquet(wd / "backbone" / "item_embeddings.parquet")
    return dict(zip(df["item_id"].to_list(), df["vector"].to_numpy(), strict=True))


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory, sample_slice) -> dict[str, tuple[Path, Path]]:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("nights")
    # night 2: more users, and items with smaller ids than night 1's (so every iid shifts)
    return {"n1": sample_slice(root / "n1", 60, 0), "n2": sample_slice(root / "n2", 90, 30)}


def test_reuse_finetune_retrain(nights: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    wd = tmp_path / "wd"
    u1 = _embed(*nights["n1"], wd, UpdatePolicy())
    assert u1["action"] == "retrained" and "no previous backbone" in u1["reason"]
    u_same = _embed(*nights["n1"], wd, UpdatePolicy())
    assert u_same["action"] == "reused"
    before = _vectors(wd)

    # weights kept as they are (0 fine-tune epochs): every old item's row is carried over by item id
    wd0 = tmp_path / "wd0"
    shutil.copytree(wd, wd0)
    u0 = _embed(*nights["n2"], wd0, UpdatePolicy(finetune_epochs=0, max_new_items=1, max_new_interactions=1))
    assert u0["action"] == "fine_tuned" and u0["new_items"] > 0
    assert u0["items_carried_over"] == len(before)
    after = _vectors(wd0)
    ids_old = pl.read_parquet(wd / "items.parquet").sort("iid")["item_id"].to_list()
    ids_new = pl.read_parquet(wd0 / "items.parquet").sort("iid")["item_id"].to_list()
    assert any(ids_new.index(x) != k for k, x in enumerate(ids_old))  # the iids did shift
    for item, vec in before.items():
        np.testing.assert_array_equal(after[item], vec)
    trained = pl.read_parquet(wd0 / "backbone" / "item_embeddings.parquet")
    new_items = set(ids_new) - set(ids_old)
    assert trained.filter(pl.col("item_id").is_in(list(new_items)))["n_trained"].sum() == 0  # -> cold path

    # a real fine-tune on the grown log
    wd1 = tmp_path / "wd1"
    shutil.copytree(wd, wd1)
    u2 = _embed(*nights["n2"], wd1, UpdatePolicy(max_new_items=1, max_new_interactions=1))
    assert u2["action"] == "fine_tuned" and u2["share_new_interactions"] > 0
    n_trained = pl.read_parquet(wd1 / "backbone" / "item_embeddings.parquet")["n_trained"]
    assert n_trained.sum() == pl.read_parquet(nights["n2"][0]).height

    # the rules: too many new items, or --retrain
    wd2 = tmp_path / "wd2"
    shutil.copytree(wd, wd2)
    u3 = _embed(*nights["n2"], wd2, UpdatePolicy(max_new_items=0.0))
    assert u3["action"] == "retrained" and "items are new" in u3["reason"]
    u4 = _embed(*nights["n2"], wd2, UpdatePolicy(retrain=True))
    assert u4["action"] == "retrained" and u4["reason"] == "--retrain"


def test_new_items_never_trained_are_scored_by_the_cold_path(
    nights: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    from seqclean.score import ScoreConfig, score

    wd = tmp_path / "wd"
    _embed(*nights["n1"], wd, UpdatePolicy())
    _embed(*nights["n2"], wd, UpdatePolicy(finetune_epochs=0, max_new_items=1, max_new_interactions=1))
    score(ScoreConfig(workdir=wd, device="cpu", fit_users=60))
    scores = pl.read_parquet(wd / "scores.parquet")
    old = set(pl.read_parquet(nights["n1"][1])["item_id"].to_list())
    new_rows = scores.filter(~pl.col("item_id").is_in(list(old)))
    assert new_rows.height > 0
    assert (new_rows["collab_weight"] == 0).all()  # no collaborative evidence for a row the backbone never saw
    assert (scores.filter(pl.col("item_id").is_in(list(old)))["collab_weight"] > 0).all()


def test_broken_or_older_workdir_is_exit_4(workdir_copy: Path) -> None:
    from seqclean.cli import app

    mf = workdir_copy / "manifest.json"
    data = json.loads(mf.read_text())
    data["workdir_format"] = 1
    mf.write_text(json.dumps(data))
    res = runner.invoke(app, ["score", "--workdir", str(workdir_copy), "--log-format", "rich"])
    assert res.exit_code == 4 and "rerun `seqclean embed`" in res.output, res.output
    del data["workdir_format"]
    data["workdir_format"] = 2
    mf.write_text(json.dumps(data))
    items = workdir_copy / "items.parquet"
    items.write_bytes(items.read_bytes()[:200])
    res = runner.invoke(app, ["score", "--workdir", str(workdir_copy), "--log-format", "rich"])
    assert res.exit_code == 4 and "rerun `seqclean embed`" in res.output, res.output


def test_corrupt_backbone_is_exit_4(workdir_copy: Path) -> None:
    from seqclean.cli import app

    onnx = workdir_copy / "backbone" / "onnx" / "model.onnx"
    onnx.write_bytes(b"not a model")
    res = runner.invoke(app, ["score", "--workdir", str(workdir_copy), "--log-format", "rich"])
    assert res.exit_code == 4 and "rerun `seqclean embed`" in res.output, res.output


@pytest.mark.parametrize("string_ids", [False, True])
def test_sequences_digest_streams_row_groups_and_equals_the_whole_file_digest(tmp_path: Path, string_ids: bool) -> None:
    from seqclean.backbone.incremental import _digest_in_memory, sequences_digest

    lengths = [3, 1, 5, 2, 4] * 20
    df = pl.DataFrame(
        {
            "uid": [u for u, n in enumerate(lengths) for _ in range(n)],
            "position": [p for n in lengths for p in range(n)],
            "user_id": [f"u{u}" if string_ids else u * 7 for u, n in enumerate(lengths) for _ in range(n)],
            "item_id": [f"i{k % 13}" if string_ids else k % 13 for k in range(sum(lengths))],
        }
    )
    df.write_parquet(tmp_path / "sorted.parquet", row_group_size=17)  # row groups cut users
    df.sample(fraction=1.0, shuffle=True, seed=0).write_parquet(tmp_path / "shuffled.parquet")
    want = _digest_in_memory(tmp_path / "sorted.parquet", "item_id", "user_id")
    assert sequences_digest(tmp_path / "sorted.parquet", "item_id", "user_id") == want
    assert sequences_digest(tmp_path / "shuffled.parquet", "item_id", "user_id") == want  # falls back, sorts


def test_a_sampled_loss_backbone_from_before_the_popularity_prior_is_retrained(
    nights: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    """A backbone trained with the sampled loss before its popularity prior may have collapsed (docs/backbone.md):
    the nightly update retrains it instead of reusing or fine-tuning it."""
    from seqclean.backbone.loss import TRAINING

    bb = BackboneConfig(epochs=2, patience=1, device="cpu", loss="sampled", negatives=8)
    wd = tmp_path / "wd"

    def night() -> dict:
        r = embed(EmbedConfig(*nights["n1"], workdir=wd, device="cpu", backbone=bb, update=UpdatePolicy()))
        assert r.backbone_update is not None
        return r.backbone_update

    assert night()["action"] == "retrained"
    conf = wd / "backbone" / "config.json"
    data = json.loads(conf.read_text())
    assert data["training"] == TRAINING
    assert json.loads((wd / "manifest.json").read_text())["backbone"]["popularity_prior"] is True
    del data["training"]  # as an older seqclean wrote it
    conf.write_text(json.dumps(data))
    again = night()
    assert again["action"] == "retrained" and "popularity prior" in again["reason"]
    assert night()["action"] == "reused"
