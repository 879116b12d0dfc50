"""bench/scale_memory.py end to end on a tiny synthetic log, this checkout against itself: every phase runs in
its own process, reports a peak, and the two sides' outputs are byte-identical."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.scale_memory import REPO, main
from bench.synthetic import generate


def test_phases_run_and_compare_both_sides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generate(tmp_path / "tiny", 3000, seed=0, items=200)
    main(["--before", str(REPO), "--data", str(tmp_path / "tiny"), "--workdir", str(tmp_path / "w")])
    rows = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("| ") and "tiny" in ln]
    assert [r.split("|")[1].strip() for r in rows] == ["sequences", "filter", "digest"]
    assert all(r.rstrip(" |").endswith("same") and "1.00x" in r for r in rows)
    assert (tmp_path / "w" / "tiny" / "after" / "filter" / "cleaned.parquet").exists()
