"""The backbone-spaces, score-memory and scores-AUC benches' plumbing on tiny inputs (not the figures they
measure at 200,000 items)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.backbone_spaces import probe

SAMPLE_LABELS = Path(__file__).resolve().parent.parent / "sample_data" / "noise_labels.parquet"


def test_probe_reports_the_spaces(embedded_workdir: Path) -> None:
    out = probe(embedded_workdir, None, score_users=0)
    assert out["loss"] == "full" and out["prior"] is False  # the tiny catalogue takes the full softmax
    assert -1.0 <= out["state cos"] <= 1.0 and -1.0 <= out["item cos"] <= 1.0
    short, long = (float(x) for x in out["top1"].split(" / "))
    assert 0.0 <= short <= 1.0 and 0.0 <= long <= 1.0
    assert "AUC noise_score" not in out  # no labels: no scoring


@pytest.mark.slow
def test_probe_scores_against_labels(embedded_workdir: Path) -> None:
    out = probe(embedded_workdir, SAMPLE_LABELS, score_users=40)
    assert 0 < out["scored rows"] and 0.5 < out["AUC noise_score"] <= 1.0  # the sample's noise is detectable
    assert " / " in out["precision / recall at 0.5"]


@pytest.mark.slow
def test_score_memory_prints_each_step_and_writes_the_chunks(embedded_workdir: Path, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    import polars as pl

    script = Path(__file__).resolve().parent.parent / "bench" / "score_memory.py"
    args = ["--workdir", str(embedded_workdir), "--chunks", "1", "--out", str(tmp_path / "c")]
    done = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(done.stdout.strip().splitlines()[-1])
    rss, hwm = out["chunk 0 (RSS, HWM)"]
    assert 0 < rss <= hwm and hwm >= out["fit (RSS, HWM)"][1]
    assert pl.read_parquet(tmp_path / "c.0.parquet").height > 0


def test_scores_auc_joins_on_user_and_time(tmp_path: Path) -> None:
    import subprocess
    import sys

    import polars as pl

    pl.DataFrame(
        {"user_id": [1, 1, 2, 2], "timestamp": [10, 11, 10, 12], "noise_score": [0.9, 0.1, 0.2, 0.6]}
    ).write_parquet(tmp_path / "scores.parquet")
    (tmp_path / "labels").mkdir()
    pl.DataFrame(
        {"user_id": [1, 1, 2, 2], "timestamp": [10, 11, 10, 12], "is_noise": [True, False, False, False]}
    ).write_parquet(tmp_path / "labels" / "part-00000.parquet")
    args = ["--scores", str(tmp_path / "scores.parquet"), "--labels", str(tmp_path / "labels")]
    root = Path(__file__).resolve().parent.parent
    cmd = [sys.executable, "-m", "bench.scores_auc", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=root)
    line = done.stdout.strip()
    assert "rows 4 " in line and "ROC-AUC 1.0000" in line and "precision 0.5000" in line and "recall 1.0000" in line
