"""bench/feature_ceiling.py: the supervised ceiling is cross-fitted by user and reads only evidence columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from bench.feature_ceiling import ceiling, ease_scores, feature_columns, labelled_scores


def _scores(path: Path, n_users: int = 200, per_user: int = 10, seed: int = 0) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = n_users * per_user
    noise = rng.random(n) < 0.1
    pl.DataFrame(
        {
            "user_id": np.repeat(np.arange(n_users), per_user),
            "item_id": rng.integers(0, 50, n),
            "timestamp": np.tile(np.arange(per_user), n_users),
            "row_index": np.arange(n, dtype=np.uint32),
            "position": np.tile(np.arange(per_user), n_users),
            "noise_score": rng.random(n),  # an uninformative detector
            "uncertainty": noise.astype(np.float32),  # an output that would leak the labels if read as evidence
            "col_next_rank": np.where(noise, 0.2, 0.6) + rng.normal(0, 0.1, n),  # evidence that separates
            "sem_long_sim": rng.normal(0, 1, n),
        }
    ).write_parquet(path)
    return path, noise


def test_ceiling_learns_the_evidence_and_ignores_outputs(tmp_path: Path) -> None:
    scores, noise = _scores(tmp_path / "scores.parquet")
    pl.DataFrame({"row_index": np.arange(noise.size), "is_noise": noise}).write_parquet(tmp_path / "labels.parquet")
    frame = labelled_scores(scores, tmp_path / "labels.parquet", "user_id", "item_id", "timestamp")
    assert feature_columns(frame, "user_id", "item_id") == ["col_next_rank", "sem_long_sim"]
    out = ceiling(frame, "user_id", "item_id", folds=4, seed=0, lam=None, iters=30)
    assert out["rows"] == noise.size and out["features"] == 2
    assert out["auc_supervised_features"] > 0.97  # the separating feature, learnt without seeing a user twice
    assert abs(out["auc_noise_score"] - 0.5) < 0.08


def test_labels_by_user_and_time(tmp_path: Path) -> None:
    scores, noise = _scores(tmp_path / "scores.parquet", n_users=20)
    s = pl.read_parquet(scores)
    lab = s.select("user_id", "timestamp").with_columns(pl.Series("is_noise", noise))
    lab.write_parquet(tmp_path / "labels.parquet")
    frame = labelled_scores(scores, tmp_path / "labels.parquet", "user_id", "item_id", "timestamp")
    assert frame.height == noise.size and frame["is_noise"].sum() == noise.sum()
    pl.DataFrame({"row_index": [10**9], "is_noise": [True]}).write_parquet(tmp_path / "none.parquet")
    with pytest.raises(SystemExit, match="no label joins"):
        labelled_scores(scores, tmp_path / "none.parquet", "user_id", "item_id", "timestamp")


def test_ease_scores_leave_the_row_out() -> None:
    # two taste groups: users 0-9 take items 0-4, users 10-19 items 5-9; user 0 also takes item 9
    user = np.concatenate([np.repeat(np.arange(10), 5), np.repeat(np.arange(10, 20), 5), [0]])
    item = np.concatenate([np.tile(np.arange(5), 10), np.tile(np.arange(5, 10), 10), [9]])
    z = ease_scores(user, item, lam=1.0)
    assert z[-1] < z[:5].min()  # the stray item is the least expected of user 0's items


def test_corruption_gap_on_a_workdir(embedded_workdir: Path) -> None:
    from bench.feature_ceiling import corruption_gap

    seq = pl.read_parquet(embedded_workdir / "sequences.parquet")
    rng = np.random.default_rng(1)
    frame = seq.select(pl.col("row_index").cast(pl.Int64)).with_columns(
        pl.Series("is_noise", rng.random(seq.height) < 0.15)  # real rows called noise: they look like the rest
    )
    rows = {r["feature"]: r for r in corruption_gap(embedded_workdir, frame, seed=0)}
    assert {"col_next_rank", "sem_long_sim", "log_pop"} <= set(rows)
    for name in ("col_next_rank", "sem_long_sim"):
        assert abs(rows[name]["planted_noise_shift"]) < 0.3, rows[name]
        assert rows[name]["corruption_shift"] < -0.3, rows[name]  # random items do not fit: the gap is visible
