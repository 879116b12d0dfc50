"""The full scorer on a small workdir: outputs, the detector's report, and no access to labels."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from seqclean.embed import EmbedConfig, embed
from seqclean.score import ScoreConfig, score
from tests.tiny import tiny_backbone


def test_iadsr_outputs_and_report(workdir_copy: Path) -> None:
    r = score(ScoreConfig(workdir=workdir_copy))
    s = pl.read_parquet(workdir_copy / "scores.parquet")
    assert r.n_interactions == s.height
    for col in ("noise_score", "uncertainty", "suggestion_confidence", "collab_weight"):
        assert s[col].is_between(0.0, 1.0).all(), col
    assert s["iadsr_score"].is_between(-3.0, 3.0).all()
    summary = json.loads((workdir_copy / "summary.json").read_text())
    det = summary["detector"]
    assert summary["scorer"] == "iadsr"
    assert 0.0 <= summary["estimated_noise_rate"] <= 0.5
    assert det["heldout_corruption_auc"] > 0.6  # the corruption task was learned, not guessed
    assert {"cold", "warm", "flag_rate"} <= set(summary)
    # suggestions are real catalogue items that the user does not already have
    sug = s.filter(pl.col("suggested_item").is_not_null())
    assert sug.height > 0
    catalogue = pl.read_parquet(workdir_copy / "items.parquet")["item_id"]
    assert sug["suggested_item"].is_in(catalogue.implode()).all()
    own = s.select("user_id", "item_id").unique()
    assert sug.join(own, left_on=["user_id", "suggested_item"], right_on=["user_id", "item_id"]).height == 0
    # cold items lean on semantics: their weight on collaborative evidence is lower
    cold = s.filter(pl.col("is_cold"))["collab_weight"].mean()
    warm = s.filter(~pl.col("is_cold"))["collab_weight"].mean()
    assert cold is not None and warm is not None and cold < warm


def test_labels_in_the_input_change_nothing(tiny_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    """A ground-truth column riding along in the log must not reach the scorer."""
    inter, items = tiny_inputs
    log = pl.read_parquet(inter)
    rng = np.random.default_rng(0)
    with_labels = tmp_path / "log.parquet"
    log.with_columns(pl.Series("is_noise", rng.random(log.height) < 0.5)).write_parquet(with_labels)
    outs = []
    for name, src in (("plain", inter), ("labelled", with_labels)):
        wd = tmp_path / name
        embed(EmbedConfig(interactions=src, items=items, workdir=wd, device="cpu", backbone=tiny_backbone()))
        score(ScoreConfig(workdir=wd))
        outs.append(pl.read_parquet(wd / "scores.parquet"))
    assert outs[0].equals(outs[1])


def test_baseline_scorer_still_available(workdir_copy: Path) -> None:
    shutil.rmtree(workdir_copy / "backbone")
    score(ScoreConfig(workdir=workdir_copy, scorer="baseline-semantic"))
    s = pl.read_parquet(workdir_copy / "scores.parquet")
    assert {"noise_score", "uncertainty", "suggested_item", "sem_long_sim"} <= set(s.columns)


def test_iadsr_without_backbone_says_what_to_do(workdir_copy: Path) -> None:
    from typer.testing import CliRunner

    from seqclean.cli import app

    shutil.rmtree(workdir_copy / "backbone")
    res = CliRunner().invoke(app, ["score", "--workdir", str(workdir_copy)])
    assert res.exit_code == 3
    assert "backbone" in res.output and "baseline-semantic" in res.output


class _OnlyNoise:
    """A scorer that returns the one required column: noise_score = (iid mod 10) / 10."""

    name = "only-noise"

    def __init__(self, options: object) -> None:
        self.fit_report: dict[str, object] = {}

    def fit(self, *args: object) -> None:
        """Nothing to learn."""

    def score_chunk(self, iid: np.ndarray, segs: object, ctx: object) -> dict[str, np.ndarray]:
        return {"noise_score": (iid % 10) / 10.0}


def test_a_scorer_needs_only_the_required_column(
    workdir_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """scores.parquet leaves out the optional columns it was not given; filter then skips the uncertainty
    guard and refuses replace mode (no suggestions) instead of failing."""
    from seqclean import scorers
    from seqclean.errors import UsageError
    from seqclean.filter import FilterConfig, filter_log

    monkeypatch.setitem(scorers.SCORERS, "only-noise", _OnlyNoise)
    score(ScoreConfig(workdir=workdir_copy, scorer="only-noise"))
    s = pl.read_parquet(workdir_copy / "scores.parquet")
    assert not {"uncertainty", "suggested_item", "suggestion_confidence"} & set(s.columns)
    iid = pl.read_parquet(workdir_copy / "sequences.parquet").sort("uid", "position")["iid"].to_numpy()
    np.testing.assert_array_equal(s["noise_score"].to_numpy(), (iid % 10) / 10.0)
    assert s["is_noisy"].to_list() == ((iid % 10) / 10.0 > 0.5).tolist()
    r = filter_log(FilterConfig(workdir=workdir_copy, out=tmp_path / "out", threshold=0.5))
    assert r.n_removed > 0 and any("uncertainty guard skipped" in n for n in r.summary["notes"])
    with pytest.raises(UsageError, match="--mode replace"):
        filter_log(FilterConfig(workdir=workdir_copy, out=tmp_path / "out2", mode="replace"))


def test_semantic_agreement_reranks_without_moving_the_noise_share(
    workdir_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`noise_score` = calibrated `p * p_sem ** a`; the noise share is the detector's own estimate either way."""
    import seqclean.scorers as scorers_mod
    from seqclean.scorers.base import ScorerOptions
    from seqclean.scorers.iadsr import IadsrOptions, IadsrScorer

    score(ScoreConfig(workdir=workdir_copy))
    default = json.loads((workdir_copy / "summary.json").read_text())
    with_text = pl.read_parquet(workdir_copy / "scores.parquet")["noise_score"].to_numpy()

    def alone(cfg: ScorerOptions) -> IadsrScorer:
        o = IadsrOptions(fit_users=cfg.fit_users, cold_k=cfg.cold_k, seed=cfg.seed, device=cfg.device)
        o.semantic_agreement = 0.0
        return IadsrScorer(options=o, backbone=cfg.backbone)

    monkeypatch.setitem(scorers_mod.SCORERS, "iadsr", alone)
    score(ScoreConfig(workdir=workdir_copy, rerun=True))
    off = json.loads((workdir_copy / "summary.json").read_text())
    detector_only = pl.read_parquet(workdir_copy / "scores.parquet")["noise_score"].to_numpy()
    assert default["detector"]["semantic_agreement"]["exponent"] == 0.5
    assert off["detector"]["semantic_agreement"]["exponent"] == 0.0
    assert default["estimated_noise_rate"] == off["estimated_noise_rate"]
    assert not np.allclose(with_text, detector_only, atol=1e-3)


def test_item_group_calibration_keeps_each_groups_order(workdir_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`IadsrOptions.item_calibration` (off by default) calibrates cold and warm items apart: the same raw scores,
    so within an item group and position group the order of the rows is the default's."""
    import seqclean.scorers as scorers_mod
    from seqclean.interests import END_GROUPS, Segments, end_group
    from seqclean.scorers.base import ScorerOptions
    from seqclean.scorers.iadsr import IadsrOptions, IadsrScorer

    score(ScoreConfig(workdir=workdir_copy, rounds=1))
    default = json.loads((workdir_copy / "summary.json").read_text())["detector"]
    before = pl.read_parquet(workdir_copy / "scores.parquet")

    def split(cfg: ScorerOptions) -> IadsrScorer:
        o = IadsrOptions(fit_users=cfg.fit_users, cold_k=cfg.cold_k, seed=cfg.seed, device=cfg.device)
        o.item_calibration = "odds"  # the held-out corruptions' kinds reach the calibration
        return IadsrScorer(options=o, backbone=cfg.backbone)

    monkeypatch.setitem(scorers_mod.SCORERS, "iadsr", split)
    score(ScoreConfig(workdir=workdir_copy, rounds=1, rerun=True))
    det = json.loads((workdir_copy / "summary.json").read_text())["detector"]
    after = pl.read_parquet(workdir_copy / "scores.parquet")
    assert default["estimated_noise_rate_by_item"] == {} and len(default["calibration_by_position"]) == END_GROUPS
    assert set(det["estimated_noise_rate_by_item"]) == {"warm", "cold"}
    assert len(det["calibration_by_position"]) == 2 * END_GROUPS
    assert any(kind.endswith("+odds") for kind in det["calibration_by_position"]), det["calibration_by_position"]
    assert after["noise_score"].is_between(0.0, 1.0).all()
    group = end_group(Segments.from_sorted_ids(before["user_id"].to_numpy())) + 10 * before["is_cold"].to_numpy()
    for g in np.unique(group):
        a, b = before["noise_score"].to_numpy()[group == g], after["noise_score"].to_numpy()[group == g]
        assert np.array_equal(np.argsort(a, kind="stable"), np.argsort(b, kind="stable")), g
