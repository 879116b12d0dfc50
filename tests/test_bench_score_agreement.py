"""bench/score_agreement.py (the CUDA-vs-CPU check of docs/performance.md): differences, flags and AUC per side."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import bench.score_agreement as agreement


def _scores(path: Path, noise: np.ndarray, collab: np.ndarray) -> Path:
    n = noise.size
    pl.DataFrame(
        {
            "row_index": np.arange(n, dtype=np.uint32),
            "noise_score": noise,
            "collab_only_score": collab,
            "col_nn_max": np.zeros(n),
            "item_id": np.arange(n),
        }
    ).write_parquet(path)
    return path


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    monkeypatch.setattr(sys, "argv", ["score_agreement", *args])
    agreement.main()
    return capsys.readouterr().out


def test_reports_differences_flags_and_auc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    noise = np.array([0.1, 0.2, 0.49, 0.9, 0.95, 0.3])
    other = noise.copy()
    other[2], other[5] = 0.51, 0.25  # row 2 crosses 0.5: one flag differs; the largest difference is 0.05
    a = _scores(tmp_path / "a.parquet", noise, noise)
    b = _scores(tmp_path / "b.parquet", other, noise)
    pl.DataFrame({"row_index": np.arange(6, dtype=np.uint32), "is_noise": [0, 0, 1, 1, 1, 0]}).write_parquet(
        tmp_path / "labels.parquet"
    )
    out = _run(
        monkeypatch,
        capsys,
        "--a",
        str(a),
        "--b",
        str(b),
        "--labels",
        str(tmp_path / "labels.parquet"),
        "--names",
        "cuda,cpu",
    )
    assert "cuda vs cpu: 6 rows, byte-identical files: False" in out
    assert "| noise_score | 5.00e-02 | 1.17e-02 |" in out
    assert "| collab_only_score | 0.00e+00 | 0.00e+00 |" in out
    assert "largest: col_nn_max | 0.00e+00" in out
    assert "flagged at 0.5: cuda 2, cpu 3, flagged by one side only: 1" in out
    assert "ROC-AUC of noise_score: cuda 1.0000, cpu 1.0000" in out


def test_identical_files_and_mismatched_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    noise = np.linspace(0, 1, 5)
    a = _scores(tmp_path / "a.parquet", noise, noise)
    b = _scores(tmp_path / "b.parquet", noise, noise)
    assert "byte-identical files: True" in _run(monkeypatch, capsys, "--a", str(a), "--b", str(b))
    short = _scores(tmp_path / "c.parquet", noise[:4], noise[:4])
    with pytest.raises(SystemExit, match="row_index does not match"):
        _run(monkeypatch, capsys, "--a", str(a), "--b", str(short))
