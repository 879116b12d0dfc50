"""bench/calibration_bins.py: the reliability table counts the planted noise per score bin and group."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from bench.calibration_bins import at_threshold, bin_table, labelled


def _files(tmp_path: Path) -> tuple[Path, Path]:
    """40 users of 5 rows; the score is 0.95 on noise and 0.05 on clean rows, except one clean row at 0.95."""
    n = 200
    noise = np.arange(n) % 10 == 0
    score = np.where(noise, 0.95, 0.05)
    score[1] = 0.95
    scores, labels = tmp_path / "scores.parquet", tmp_path / "labels.parquet"
    pl.DataFrame(
        {
            "user_id": np.repeat(np.arange(40), 5),
            "timestamp": np.tile(np.arange(5), 40),
            "row_index": np.arange(n, dtype=np.uint32),
            "position": np.tile(np.arange(5), 40),
            "noise_score": score,
            "is_cold": np.arange(n) < 100,
        }
    ).write_parquet(scores)
    pl.DataFrame({"row_index": np.arange(n, dtype=np.uint32)[::-1], "is_noise": noise[::-1]}).write_parquet(labels)
    return scores, labels


def test_bins_and_threshold_read_the_labels_by_row(tmp_path: Path) -> None:
    frame = labelled(*_files(tmp_path))
    assert frame.height == 200 and frame.filter(pl.col("from_end") == 0)["position"].unique().to_list() == [4]
    table = bin_table(frame, 10)
    assert table["bin"].to_list() == [0, 9] and table["rows"].to_list() == [179, 21]
    assert table["noise_share"].to_list() == [0.0, 20 / 21]
    n_above, prec, rec = at_threshold(frame, 0.5)
    assert (n_above, rec) == (21, 1.0) and abs(prec - 20 / 21) < 1e-12
    cold = frame.filter(pl.col("is_cold"))
    assert at_threshold(cold, 0.5)[0] == 11  # the clean row at 0.95 is row 1, a cold one
    assert np.isnan(at_threshold(frame.filter(~pl.col("is_noise") & (pl.col("row_index") > 1)), 0.5)[1])
