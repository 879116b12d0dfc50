"""Decoys (`seqclean.decoys`): planted next to real rows, inserted where they were planted, trained into the
backbone, read back by the scorer's fit, and never part of the scored log."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from seqclean.backbone import train_backbone
from seqclean.backbone.byo import write_byo_backbone
from seqclean.backbone.data import read_sequences
from seqclean.decoys import plant_decoys, read_decoys, stacked, with_decoys
from seqclean.interests import Segments
from seqclean.selfclean import resolve_rounds
from seqclean.seqdetector import corrupt_sequences
from seqclean.workdir import BACKBONE_DECOYS
from tests.tiny import tiny_backbone

N_ITEMS = 40


def _decoys(anchor: list[int], after: list[bool], iid: list[int]) -> pl.DataFrame:
    k = len(anchor)
    return pl.DataFrame(
        {"uid": [0] * k, "anchor": anchor, "after": after, "iid": iid, "kind": [1] * k},
        schema={"uid": pl.Int64, "anchor": pl.Int64, "after": pl.Boolean, "iid": pl.Int64, "kind": pl.Int8},
    )


def test_with_decoys_inserts_each_next_to_its_anchor() -> None:
    iid = np.array([1, 2, 3, 4, 5])
    segs = Segments.from_sorted_ids(np.array([0, 0, 0, 1, 1]))
    rows = np.array([10, 11, 12, 20, 21])
    d = _decoys([11, 10, 21, 99, 11], [True, False, True, False, True], [31, 32, 33, 34, 35])
    c = with_decoys(iid, segs, rows, d)
    assert c.iid.tolist() == [32, 1, 2, 31, 35, 3, 4, 5, 33]  # 99 is not among the rows: left out
    assert c.segs.length.tolist() == [6, 3]
    assert c.label.tolist() == [True, False, False, True, True, False, False, False, True]
    assert c.origin.tolist() == [-1, 0, 1, -1, -1, 2, 3, 4, -1]
    assert (c.iid[c.origin >= 0] == iid).all()  # the log's rows, in their order


def test_stacked_keeps_the_decoys_labelled() -> None:
    rng = np.random.default_rng(0)
    iid = rng.integers(1, N_ITEMS + 1, size=60)
    segs = Segments.from_sorted_ids(np.repeat(np.arange(6), 10))
    base = with_decoys(iid, segs, np.arange(60), _decoys([3, 17, 42], [True, False, True], [7, 8, 9]))

    def fresh(rate: float) -> object:
        kw = dict(n_items=N_ITEMS, popularity=np.ones(N_ITEMS + 1), col=np.zeros((N_ITEMS + 1, 4)))
        return corrupt_sequences(
            base.iid,
            base.segs,
            np.random.default_rng(1),
            **kw,
            sem=np.zeros((N_ITEMS + 1, 4)),  # type: ignore[arg-type]
            prev_state=np.zeros((base.iid.size, 4)),
            replace_rate=rate,
            insert_rate=0.0,
        )

    none = stacked(base, fresh(0.0))  # type: ignore[arg-type]
    assert (none.label == base.label).all() and (none.origin == base.origin).all()
    some = stacked(base, fresh(0.3))  # type: ignore[arg-type]
    assert some.label[base.label].all() and some.label.sum() > base.label.sum()
    assert (some.origin == base.origin).all()  # replacements keep each row's input row


def _workdir(tmp_path: Path, users: int = 30, length: int = 8) -> Path:
    rng = np.random.default_rng(5)
    rows = [(u, p, int(i)) for u in range(users) for p, i in enumerate(rng.integers(1, N_ITEMS + 1, size=length))]
    seq = pl.DataFrame(rows, schema=["uid", "position", "iid"], orient="row").with_row_index("row_index")
    seq.write_parquet(tmp_path / "sequences.parquet")
    counts = np.bincount(seq["iid"].to_numpy(), minlength=N_ITEMS + 1)[1:]
    pl.DataFrame(
        {"iid": range(1, N_ITEMS + 1), "item_id": [f"i{k}" for k in range(N_ITEMS)], "n_interactions": counts}
    ).write_parquet(tmp_path / "items.parquet")
    return tmp_path


def test_plant_decoys_is_seeded_and_anchored_on_real_rows(tmp_path: Path) -> None:
    wd = _workdir(tmp_path)
    seq = pl.read_parquet(wd / "sequences.parquet")
    d = plant_decoys(wd / "sequences.parquet", N_ITEMS, 0.1, seed=3)
    assert d.height == round(0.1 * seq.height)
    assert d.equals(plant_decoys(wd / "sequences.parquet", N_ITEMS, 0.1, seed=3))
    assert not d.equals(plant_decoys(wd / "sequences.parquet", N_ITEMS, 0.1, seed=4))
    owner = dict(zip(seq["row_index"].to_list(), seq["uid"].to_list(), strict=True))
    assert all(owner[a] == u for a, u in zip(d["anchor"].to_list(), d["uid"].to_list(), strict=True))
    assert d["iid"].is_between(1, N_ITEMS).all() and set(d["kind"].to_list()) <= {1, 2}
    assert plant_decoys(wd / "sequences.parquet", N_ITEMS, 0.0, seed=3).height == 0


def test_backbone_trains_with_its_decoys_and_keeps_them(tmp_path: Path) -> None:
    wd = _workdir(tmp_path)
    info = train_backbone(tiny_backbone(epochs=1), wd, "item_id")
    d = read_decoys(wd / "backbone")
    assert d is not None and info["decoys"] == d.height == 24  # 10% of 240 rows
    plain = read_sequences(wd / "sequences.parquet")
    with_d = read_sequences(wd / "sequences.parquet", decoys=d)
    per_user = d.group_by("uid").len().sort("uid")
    added = np.zeros(len(plain), np.int64)
    added[per_user["uid"].to_numpy()] = per_user["len"].to_numpy()
    assert [len(s) for s in with_d] == [len(s) + a for s, a in zip(plain, added, strict=True)]
    trained = pl.read_parquet(wd / "backbone" / "item_embeddings.parquet")["n_trained"].sum()
    assert trained == 240  # an item's trained count is its interactions in the log: decoys do not count
    assert read_decoys(wd / "backbone", np.array([0]))["uid"].to_list() == [0] * int(added[0])  # type: ignore[index]

    vectors = tmp_path / "vectors.parquet"  # a BYO backbone trained nothing here: the decoys go with the weights
    ids = [f"i{k}" for k in range(N_ITEMS)]
    pl.DataFrame({"item_id": ids, "vector": [[0.1 * k, 1.0] for k in range(N_ITEMS)]}).write_parquet(vectors)
    write_byo_backbone(vectors, tiny_backbone(), wd, "item_id")
    assert read_decoys(wd / "backbone") is None

    info = train_backbone(tiny_backbone(epochs=1, decoys="0"), wd, "item_id")
    assert info["decoys"] == 0 and not (wd / "backbone" / BACKBONE_DECOYS).exists()
    assert read_decoys(wd / "backbone") is None


def test_auto_rounds_is_one_round_with_decoys() -> None:
    short = {"embed": {"n_interactions": 800, "n_users": 100}, "backbone": {"kind": "sasrec"}}
    assert resolve_rounds("auto", "iadsr", short)[0] == 2
    with_decoys_ = {**short, "backbone": {"kind": "sasrec", "decoys": 80}}
    assert resolve_rounds("auto", "iadsr", with_decoys_)[0] == 1
    assert resolve_rounds("2", "iadsr", with_decoys_)[0] == 2


def test_a_short_log_is_scored_by_a_detector_trained_on_decoys(
    tiny_inputs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """auto plants decoys on a log of short sequences; the detector trains on them, the noise share is read
    against them too, the scores cover the log's own rows only, one round runs, and a rerun gives the same bytes."""
    from seqclean.embed import EmbedConfig, embed
    from seqclean.score import ScoreConfig, score
    from seqclean.scorers import draws

    inter, items = tiny_inputs
    log = pl.read_parquet(inter).sort("user_id", "timestamp")
    short = tmp_path / "short.parquet"
    log.filter(pl.int_range(pl.len()).over("user_id") < 8).write_parquet(short)
    n = pl.read_parquet(short).height
    wd = tmp_path / "wd"
    embed(EmbedConfig(interactions=short, items=items, workdir=wd, device="cpu", backbone=tiny_backbone()))
    planted = read_decoys(wd)
    assert planted is not None and planted.height == round(0.1 * n)
    with monkeypatch.context() as m:  # this tiny log holds out fewer decoys than a read needs; read them anyway
        m.setattr(draws, "MIN_DECOYS", 1)
        score(ScoreConfig(workdir=wd))
    summary = json.loads((wd / "summary.json").read_text())
    ex = summary["detector"]["examples"]
    assert ex["train"] == "stack" and ex["held_out"] == "decoys" and 0 < ex["decoys"] <= planted.height
    reads = summary["detector"]["estimated_noise_rate_reads"]  # the share is read halfway between two references
    assert set(reads) == {"stack", "decoys"}
    assert summary["estimated_noise_rate"] == pytest.approx(0.5 * (reads["stack"] + reads["decoys"]), abs=2e-6)
    assert summary["self_clean"]["rounds"] == 1 and "decoys" in summary["self_clean"]["why"]
    s = pl.read_parquet(wd / "scores.parquet")
    assert s.height == n and s["row_index"].sort().to_list() == list(range(n))  # no decoy is scored
    first = (wd / "scores.parquet").read_bytes()
    with monkeypatch.context() as m:
        m.setattr(draws, "MIN_DECOYS", 1)
        score(ScoreConfig(workdir=wd, rerun=True))
    assert (wd / "scores.parquet").read_bytes() == first
    score(ScoreConfig(workdir=wd, rerun=True))  # too few held-out decoys: the stacked read alone
    few = json.loads((wd / "summary.json").read_text())
    assert few["detector"]["estimated_noise_rate_reads"] == {"stack": reads["stack"]}
    assert few["estimated_noise_rate"] == pytest.approx(reads["stack"], abs=2e-6)

    off = tmp_path / "off"
    embed(EmbedConfig(interactions=short, items=items, workdir=off, device="cpu", backbone=tiny_backbone(decoys="0")))
    assert read_decoys(off) is None
    score(ScoreConfig(workdir=off))
    off_detector = json.loads((off / "summary.json").read_text())["detector"]
    assert off_detector["examples"]["train"] == "fresh" and off_detector["estimated_noise_rate_reads"] == {}


def test_a_training_budget_keeps_only_its_samples_decoys(tmp_path: Path) -> None:
    wd = _workdir(tmp_path)
    info = train_backbone(tiny_backbone(epochs=1, train_users=10), wd, "item_id")
    d = read_decoys(wd)
    assert d is not None and info["decoys"] == d.height and d["uid"].n_unique() <= 10
    trained = pl.read_parquet(wd / "backbone" / "item_embeddings.parquet")["n_trained"].sum()
    assert trained == 10 * 8  # the sample's own interactions, its decoys not counted


def test_a_bad_decoys_share_is_a_usage_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from seqclean.cli import app

    sample = Path(__file__).resolve().parent.parent / "sample_data"
    for bad in ("2", "lots", "-0.1"):
        args = [
            "embed",
            "--interactions",
            str(sample / "interactions.parquet"),
            "--items",
            str(sample / "items.parquet"),
        ]
        res = CliRunner().invoke(app, [*args, "--workdir", str(tmp_path / "wd"), "--decoys", bad])
        assert res.exit_code == 2 and f"--decoys {bad}: give auto or a share between 0 and 0.5" in res.output
    assert not (tmp_path / "wd").exists()


def test_a_job_file_takes_decoys_as_a_number_or_auto(tmp_path: Path) -> None:
    from seqclean.jobfile import load_toml

    for line, want in (("decoys = 0.05", "0.05"), ('decoys = "auto"', "auto"), ("decoys = 0", "0")):
        path = tmp_path / "job.toml"
        path.write_text(f"[backbone]\n{line}\n")
        assert load_toml(path)["decoys"] == want


def test_the_share_is_read_halfway_between_the_stacked_draw_and_the_decoys() -> None:
    """Against an easier reference (the stacked draw's fresh half) the real noise reads rarer than against the
    decoys; the share is the midpoint of the two reads, and both are reported."""
    from seqclean.calibration import fit_calibration
    from seqclean.scorers.draws import share_between

    rng = np.random.default_rng(0)
    clean, noise = rng.beta(2, 8, 9000), rng.beta(5, 3, 1000)  # a real log with 10% noise
    p_real = np.concatenate([clean, noise])
    p_decoys = rng.beta(5, 3, 400)  # noise like the log's own
    p_stack = np.concatenate([rng.beta(5, 3, 400), rng.beta(9, 2, 400)])  # half of it easier to find
    low = fit_calibration(p_real, p_stack).prior  # the calibration's own read against the stacked draw
    share, reads = share_between(low, p_real, p_decoys)
    assert reads["stack"] < reads["decoys"]
    assert reads["stack"] == round(low, 6)
    assert reads["decoys"] == round(fit_calibration(p_real, p_decoys).prior, 6)
    assert share == pytest.approx(0.5 * (reads["stack"] + reads["decoys"]), abs=1e-6)
    assert abs(share - 0.1) < abs(reads["stack"] - 0.1)
    few, few_reads = share_between(low, p_real, p_decoys[:5])  # too few decoys for a read: the stacked one
    assert few == low and set(few_reads) == {"stack"}
