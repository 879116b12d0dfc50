"""bench/scale.py's measurement on a stand-in CLI (a Python one-liner): phases split at the first progress
event of each task, the peak RSS is the child's own, a failing stage raises with its stderr, and the report
prints ratios against the smallest log."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import bench.scale as scale

# a fake `seqclean <stage>`: two tasks as the CLI reports them (first event after a unit of work, done ==
# total at the end), ~150 MiB allocated in the second; exits with the code given as its first argument
FAKE = """
import json, sys, time
def ev(task, done, total):
    sys.stderr.write(json.dumps({"event": "progress", "task": task, "done": done, "total": total}) + "\\n")
    sys.stderr.flush()
time.sleep(0.2); ev("encode items", 1, 2); time.sleep(0.2); ev("encode items", 2, 2)
time.sleep(0.2); ev("train sasrec", 0, 1); block = b"x" * (150 * 1024 * 1024); time.sleep(0.3)
ev("train sasrec | loss 0.5", 1, 1); time.sleep(0.05); ev("train sasrec | best epoch 1", 1, 1); time.sleep(0.05)
sys.stderr.write("not json\\n"); sys.exit(int(sys.argv[2]))
"""


@pytest.fixture
def fake_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scale, "cli", lambda: [sys.executable, "-c", FAKE])


def test_phases_and_peak_rss_of_the_child(fake_cli: None) -> None:
    run = scale.run_stage("embed", ["0"])
    assert [p.name for p in run.phases] == ["start", "encode items", "train sasrec", "after train sasrec"]
    assert run.peak_mib > 150 and run.wall_s > 1.0
    start, encode, train, after = run.phases
    assert train.hwm_mib >= 150 > encode.hwm_mib
    assert start.seconds == pytest.approx(0.2, abs=0.15) and encode.seconds == pytest.approx(0.2, abs=0.15)
    assert train.seconds == pytest.approx(0.7, abs=0.2)  # the gap after encode items + the training
    assert sum(p.seconds for p in run.phases) == pytest.approx(run.wall_s, abs=0.01)


def test_a_failing_stage_raises_with_its_stderr(fake_cli: None) -> None:
    with pytest.raises(RuntimeError, match=r"seqclean score exited 3:[\s\S]*not json"):
        scale.run_stage("score", ["3"])


def test_report_gives_ratios_against_the_smallest_log() -> None:
    small = [scale.StageRun("score", wall_s=10.0, peak_mib=100.0)]
    big = [scale.StageRun("score", wall_s=50.0, peak_mib=150.0)]
    text = scale.report([(Path("/d/big"), 1_000_000, big), (Path("/d/small"), 100_000, small)])
    assert "| big | 1,000,000 | score | 50.0 | 20,000 | 150 |" in text
    assert "Ratios against small (100,000 interactions)" in text
    assert "| big | 10.0x | score | 1.50x | 2.00x |" in text
