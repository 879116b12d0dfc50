"""The self-cleaning round (`score --rounds 2`, seqclean.selfclean): what it drops, what it retrains on, and
that its outputs are reproducible and cleaned up."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from seqclean.backbone.data import read_sequences
from seqclean.cli import app
from seqclean.errors import UsageError
from seqclean.score import ScoreConfig, score
from seqclean.selfclean import check_rounds, resolve_rounds, self_clean, top_share
from seqclean.workdir import CLEAN_BACKBONE_DIR, Workdir
from tests.tiny import TINY_GATE_OFF


def test_top_share_takes_the_highest_scores_and_breaks_ties_by_row() -> None:
    rows = np.array([10, 11, 12, 13, 14, 15, 16, 17, 18, 19])
    scores = np.array([0.1, 0.9, 0.5, 0.9, 0.2, 0.3, 0.8, 0.0, 0.4, 0.6])
    assert top_share(rows, scores, 0.3).tolist() == [11, 13, 16]
    assert top_share(rows, scores, 0.2).tolist() == [11, 13]  # 0.9 twice: both, before 0.8
    assert top_share(rows, scores, 0.0).size == 0
    assert top_share(rows[::-1], scores[::-1], 0.1).tolist() == [11]  # the tie goes to the earlier row


def test_read_sequences_leaves_out_excluded_rows(embedded_workdir: Path) -> None:
    seq = pl.read_parquet(embedded_workdir / "sequences.parquet").sort("uid", "position")
    drop = seq["row_index"].to_numpy()[::7]
    full = read_sequences(embedded_workdir / "sequences.parquet")
    cut = read_sequences(embedded_workdir / "sequences.parquet", drop)
    assert sum(map(len, cut)) == seq.height - drop.size
    first = seq.filter(pl.col("uid") == 0)
    kept = first.filter(~pl.col("row_index").is_in(pl.Series(drop).implode()))["iid"].to_list()
    assert cut[0].tolist() == kept and full[0].tolist() == first["iid"].to_list()


def test_second_round_retrains_without_likely_noise_and_rescores_everything(workdir_copy: Path) -> None:
    ok = CliRunner().invoke(app, ["score", "--workdir", str(workdir_copy), "--rounds", "2", "-q", *TINY_GATE_OFF])
    assert ok.exit_code == 0, ok.output
    summary = json.loads((workdir_copy / "summary.json").read_text())
    n = pl.read_parquet(workdir_copy / "sequences.parquet").height
    clean = summary["self_clean"]
    first = clean["by_round"][0]
    assert clean["rounds"] == 2 and clean["why"] == "--rounds" and first["round"] == 1
    assert first["dropped"] == int(round(first["estimated_noise_rate"] * n)) > 0
    assert summary["estimated_noise_rate"] == clean["estimated_noise_rate"]
    # the new backbone trained on the log without the dropped rows; every item keeps its row
    emb = pl.read_parquet(workdir_copy / CLEAN_BACKBONE_DIR / "item_embeddings.parquet")
    assert int(emb["n_trained"].sum()) == n - first["dropped"]
    assert emb.height == pl.read_parquet(workdir_copy / "items.parquet").height
    # and every row of the log, dropped ones included, has a score from round 2
    scores = pl.read_parquet(workdir_copy / "scores.parquet")
    assert scores.height == n and scores["noise_score"].is_between(0, 1).all()
    assert any(
        CLEAN_BACKBONE_DIR in f
        for f in json.loads((workdir_copy / "manifest.json").read_text())["stages"]["score"]["files"]
    )

    before = (workdir_copy / "scores.parquet").read_bytes()
    again = score(ScoreConfig(workdir=workdir_copy, rounds=2, floors=_no_gate(), rerun=True))
    assert (workdir_copy / "scores.parquet").read_bytes() == before  # byte-identical rerun
    assert again.summary["self_clean"] == clean

    one = score(ScoreConfig(workdir=workdir_copy, rounds=1, floors=_no_gate()))
    assert one.summary["self_clean"] == {"rounds": 1, "why": "--rounds"}
    assert not (workdir_copy / CLEAN_BACKBONE_DIR).exists()


def test_auto_runs_the_second_round_on_short_sequences_only() -> None:
    def manifest(rows: int, users: int, kind: str = "sasrec") -> dict[str, object]:
        return {"embed": {"n_interactions": rows, "n_users": users}, "backbone": {"kind": kind}}

    assert resolve_rounds("auto", "iadsr", manifest(17_650, 2_000)) == (2, "auto: 8.8 interactions per user (< 20)")
    assert resolve_rounds("auto", "iadsr", manifest(51_302, 2_000))[0] == 1  # the sample: 25.7 a user
    assert resolve_rounds("auto", "iadsr", manifest(8_000, 1_000, "byo")) == (
        1,
        "auto: no backbone trained by seqclean",
    )
    assert resolve_rounds("auto", "baseline-semantic", manifest(8_000, 1_000))[0] == 1
    assert resolve_rounds("2", "iadsr", manifest(51_302, 2_000)) == (2, "--rounds")


def test_rounds_are_checked_before_any_work(workdir_copy: Path) -> None:
    with pytest.raises(UsageError, match="--rounds 4"):
        check_rounds(4, "iadsr")
    with pytest.raises(UsageError, match="baseline"):
        score(ScoreConfig(workdir=workdir_copy, rounds=2, scorer="baseline-semantic"))
    with pytest.raises(UsageError, match="--collab-embeddings"):
        self_clean(Workdir(workdir_copy), {"backbone": {"kind": "byo"}}, None, None, None, [], 2, print)  # type: ignore[arg-type]


def test_cli_rejects_bad_rounds_before_any_work(workdir_copy: Path) -> None:
    bad = CliRunner().invoke(app, ["score", "--workdir", str(workdir_copy), "--rounds", "0"])
    assert bad.exit_code == 2 and "'--rounds'" in bad.output and "'0' is not one of 'auto', '1', '2', '3'" in bad.output
    assert not (workdir_copy / "scores.parquet").exists()


def _no_gate() -> object:
    from seqclean.gate import Floors

    return Floors(detector_auc=0.0, backbone_lift=0.0, alignment_top1=0.0)
