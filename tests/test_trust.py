"""Knowing when the answer is meaningless, and surviving crashes (issues 15 and 11).

- bad inputs: one-line error, documented exit code, input untouched, nothing written;
- suspicious inputs: counted in summary.json and named in one warning line each;
- the self-check gate: `filter` refuses (exit 7) unreliable scores unless --force;
- reruns: complete stages are reused, stale temp files swept, outputs byte-identical, even after a
  SIGKILL at several points; SIGTERM/SIGINT leave no partial files; a lock refuses concurrent runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from seqclean.checks import duplicate_changes, input_checks
from seqclean.cli import app
from seqclean.errors import EXIT_CODES
from seqclean.gate import Floors, self_check
from seqclean.io import ROW_INDEX
from seqclean.stages import is_complete, stage_record, sweep_temp_files
from seqclean.workdir import LOCK_NAME
from tests.tiny import TINY_BACKBONE_ARGS

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="module")
def _plain_lines() -> Iterator[None]:
    """These tests read the human-readable lines (`error: ...`, `warning: ...`, `(reused: ...)`); under the
    test runner stderr is no terminal, which would otherwise select the JSON event log."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEQCLEAN_LOG_FORMAT", "rich")
        yield


runner = CliRunner()
FAST = [*TINY_BACKBONE_ARGS, "--fit-users", "40", "--device", "cpu"]


def _one_line_error(out: str, code: int, expected: int, *needles: str) -> None:
    assert code == expected, out
    assert expected in EXIT_CODES
    lines = [ln for ln in out.strip().splitlines() if ln.strip() and not ln.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), out
    for n in needles:
        assert n in lines[0], lines[0]


def _digest_tree(*roots: Path) -> dict[str, str]:
    """sha256 of every file under the roots, keyed by (root index, relative path)."""
    out = {}
    for k, root in enumerate(roots):
        for p in sorted(root.rglob("*")):
            # backbone/history.json records when the backbone was last trained from scratch (the retrain-by-age
            # rule needs it): the one file that differs between two runs, as the README says
            if p.is_file() and p.name != "history.json":
                out[f"{k}/{p.relative_to(root).as_posix()}"] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


# ---------------------------------------------------------------- bad inputs (fail fast, nothing written)


@pytest.fixture
def small(tiny_inputs: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    inter, items = tiny_inputs
    pl.read_parquet(inter).head(300).write_parquet(tmp_path / "log.parquet")
    pl.read_parquet(items).write_parquet(tmp_path / "items.parquet")
    return tmp_path / "log.parquet", tmp_path / "items.parquet"


def _bad_cases(small: tuple[Path, Path], d: Path) -> dict[str, tuple[Path, Path, list[str], int, list[str]]]:
    """name -> (log, items, extra args, exit code, needles of the one-line message)."""
    inter, items = small
    log, it = pl.read_parquet(inter), pl.read_parquet(items)
    cases: dict[str, tuple[Path, Path, list[str], int, list[str]]] = {}

    def put(name: str, frame: pl.DataFrame, suffix: str = ".parquet") -> Path:
        p = d / f"{name}{suffix}"
        frame.write_csv(p) if suffix == ".csv" else frame.write_parquet(p)
        return p

    cases["missing file"] = (d / "nope.parquet", items, [], 3, ["nope.parquet", "does not exist"])
    cases["renamed column"] = (
        put("renamed", log.rename({"user_id": "uid"})),
        items,
        [],
        4,
        ["'user_id' not found", "uid", "--user-col"],
    )
    cases["missing column option"] = (inter, items, ["--time-col", "ts"], 4, ["'ts' not found", "--time-col"])
    cases["string timestamps"] = (
        put("strtime", log.with_columns(pl.col("timestamp").cast(pl.String))),
        items,
        [],
        4,
        ["'timestamp'", "String", "--time-col"],
    )
    cases["null user ids"] = (
        put(
            "nulls",
            log.with_columns(pl.when(pl.int_range(pl.len()) == 2).then(None).otherwise("user_id").alias("user_id")),
        ),
        items,
        [],
        4,
        ["'user_id'", "null"],
    )
    cases["empty log"] = (put("empty", log.head(0)), items, [], 4, ["empty"])
    zero = d / "zero.csv"
    zero.write_bytes(b"")
    cases["zero-byte file"] = (zero, items, [], 4, ["zero.csv", "empty"])
    trunc = d / "trunc.parquet"
    trunc.write_bytes(inter.read_bytes()[: inter.stat().st_size // 2])
    cases["truncated parquet"] = (trunc, items, [], 4, ["trunc.parquet", "corrupt or truncated"])
    used = log["item_id"].unique().sort()
    cases["items missing"] = (
        inter,
        put("fewer_items", it.filter(pl.col("item_id") != used[0])),
        [],
        4,
        ["missing from", f"e.g. {used[0]}"],
    )
    cases["id type mismatch"] = (
        inter,
        put("str_items", it.with_columns(pl.col("item_id").cast(pl.String))),
        [],
        4,
        ["'item_id' is String", "same type"],
    )
    cases["duplicate item rows"] = (inter, put("dup_items", pl.concat([it, it.head(1)])), [], 4, ["duplicate ids"])
    cases["duplicates error"] = (
        put("dups", pl.concat([log, log.head(5)])),
        items,
        ["--duplicates", "error"],
        4,
        ["5 exact duplicate interactions", "--duplicates drop"],
    )
    cases["bad duplicates option"] = (inter, items, ["--duplicates", "merge"], 2, ["--duplicates"])
    cases["bad choice"] = (inter, items, ["--precision", "int4"], 2, ["--precision"])
    return cases


CASE_NAMES = [
    "missing file",
    "renamed column",
    "missing column option",
    "string timestamps",
    "null user ids",
    "empty log",
    "zero-byte file",
    "truncated parquet",
    "items missing",
    "id type mismatch",
    "duplicate item rows",
    "duplicates error",
    "bad duplicates option",
    "bad choice",
]


@pytest.mark.parametrize("case", CASE_NAMES)
def test_bad_input_matrix(case: str, small: tuple[Path, Path], tmp_path: Path) -> None:
    d = tmp_path / "inputs"
    d.mkdir()
    log, items, extra, code, needles = _bad_cases(small, d)[case]
    before = {p: p.read_bytes() for p in (log, items) if p.exists()}
    wd, out = tmp_path / "wd", tmp_path / "out"
    args = ["--interactions", str(log), "--items", str(items), "--workdir", str(wd), *extra]
    for cmd in (["embed", *args], ["run", *args, "--out", str(out)]):
        res = runner.invoke(app, cmd)
        _one_line_error(res.output, res.exit_code, code, *needles)
        assert not wd.exists() and not out.exists()  # nothing written, not even an empty directory
        assert {p: p.read_bytes() for p in before} == before  # inputs untouched


def test_workdir_or_out_that_is_a_file_is_exit_5(small: tuple[Path, Path], workdir_copy: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    inter, items = small
    res = runner.invoke(app, ["embed", "--interactions", str(inter), "--items", str(items), "--workdir", str(blocker)])
    _one_line_error(res.output, res.exit_code, 5, "--workdir", str(blocker), "is a file")
    res = runner.invoke(app, ["score", "--workdir", str(blocker)])
    _one_line_error(res.output, res.exit_code, 5, "--workdir", str(blocker), "is a file")
    res = runner.invoke(app, ["filter", "--workdir", str(workdir_copy), "--out", str(blocker)])
    _one_line_error(res.output, res.exit_code, 5, "--out", str(blocker), "is a file")
    assert blocker.read_text() == "x"


def test_help_shows_choices_clean_flags_and_exit_codes() -> None:
    top = " ".join(runner.invoke(app, ["--help"], terminal_width=200).output.split())  # unwrapped
    assert "7 result unreliable" in top and "8 workdir locked" in top and "143 terminated" in top
    assert top.count("(") == top.count(")")
    for cmd, choices in (
        ("filter", ["<remove|replace>", "<keep|drop>", "<parquet|recbole>"]),
        ("score", ["<iadsr|baseline-semantic>", "<auto|cpu|cuda>"]),
        ("embed", ["<sasrec|gru4rec>", "<fp32|int8|fp16>", "<drop|keep|error>"]),
    ):
        text = runner.invoke(app, [cmd, "--help"], terminal_width=200).output
        assert "<bool>" not in text
        for c in choices:
            assert c in text, (cmd, c)
    assert "--protect-cold / --no-protect-cold" in runner.invoke(app, ["filter", "--help"], terminal_width=200).output


# ---------------------------------------------------------------- suspicious inputs


def test_input_checks_count_each_pattern() -> None:
    seq = pl.DataFrame({"uid": [0, 0, 0, 1, 1], "timestamp": [5, 5, 5, 5, 5]})
    cat = pl.DataFrame({"text": ["a", "", "  ", "b"], "n_interactions": [3, 2, 0, 0]})
    c = input_checks(seq, cat, "timestamp", n_duplicates=2)
    assert c == {
        "duplicate_interactions": 2,
        "items_empty_text": 2,
        "users_under_3_interactions": 1,
        "items_not_in_log": 2,
        "timestamps_in_future": 0,
        "timestamps_all_equal": True,
    }
    future = dt.datetime.now() + dt.timedelta(days=30)
    seq2 = pl.DataFrame({"uid": [0, 0, 0], "t": [dt.datetime(2020, 1, 1), dt.datetime(2021, 1, 1), future]})
    assert input_checks(seq2, cat, "t", 0)["timestamps_in_future"] == 1
    now_ms = int(dt.datetime.now().timestamp() * 1000)
    seq3 = pl.DataFrame({"uid": [0, 0, 0], "t": [now_ms - 10**9, now_ms - 10**8, now_ms + 10**10]})
    assert input_checks(seq3, cat, "t", 0)["timestamps_in_future"] == 1  # milliseconds recognised


@pytest.fixture(scope="module")
def dup_runs(tmp_path_factory: pytest.TempPathFactory, sample_slice: object) -> dict[str, Path]:
    """The same 40 users scored from a clean log and from the log with 5% of its rows repeated at the end
    (and odd items: one with a null title, some never in the log)."""
    d = tmp_path_factory.mktemp("dups")
    inter, items = sample_slice(d / "src", 40, 8)  # type: ignore[operator]
    log = pl.read_parquet(inter)
    it = pl.read_parquet(items)
    used = log["item_id"].unique().sort()
    it = it.with_columns(pl.when(pl.col("item_id") == used[3]).then(None).otherwise("title").alias("title"))
    unseen = it.head(1).with_columns(pl.lit(int(it["item_id"].max()) + 1).cast(it.schema["item_id"]).alias("item_id"))
    it = pl.concat([it, unseen])
    it.write_parquet(d / "items.parquet")
    n_dup = log.height // 20
    pl.concat([log, log.sample(n_dup, seed=1, shuffle=True)]).write_parquet(d / "dup.parquet")
    out = {"dir": d, "clean": inter, "dup": d / "dup.parquet", "items": d / "items.parquet"}
    for name in ("clean", "dup"):
        wd, o = d / f"wd_{name}", d / f"out_{name}"
        args = ["--interactions", str(out[name]), "--items", str(out["items"]), "--workdir", str(wd)]
        res = runner.invoke(app, ["run", *args, "--out", str(o), *FAST, "--min-backbone-lift", "0", "--force"])
        assert res.exit_code == 0, res.output
        (d / f"{name}.log").write_text(res.output)
    return out


def test_duplicates_are_scored_once_and_warned(dup_runs: dict[str, Path]) -> None:
    d = dup_runs["dir"]
    clean = pl.read_parquet(d / "wd_clean" / "scores.parquet")
    dup = pl.read_parquet(d / "wd_dup" / "scores.parquet")
    assert clean.equals(dup)  # the repeats change no score: they cannot distort the noise estimate
    s_clean = json.loads((d / "wd_clean" / "summary.json").read_text())
    s_dup = json.loads((d / "wd_dup" / "summary.json").read_text())
    assert s_dup.get("estimated_noise_rate") == s_clean.get("estimated_noise_rate")
    n_dup = pl.read_parquet(dup_runs["dup"]).height - pl.read_parquet(dup_runs["clean"]).height
    assert s_dup["input_checks"]["duplicate_interactions"] == n_dup
    assert s_clean["input_checks"]["duplicate_interactions"] == 0
    warn = [ln for ln in (d / "dup.log").read_text().splitlines() if "exact duplicate" in ln]
    assert len(warn) == 1 and warn[0].startswith("warning: ") and f"{n_dup} exact duplicate" in warn[0]
    # --duplicates drop (the default): the repeats leave the cleaned log, audited with their reason
    removed = pl.read_parquet(d / "out_dup" / "removed.parquet")
    dropped = removed.filter(pl.col("reason").str.contains("exact duplicate"))
    assert dropped.height == n_dup and dropped["row_index"].min() >= pl.read_parquet(dup_runs["clean"]).height
    assert pl.read_parquet(d / "out_dup" / "cleaned.parquet").equals(
        pl.read_parquet(d / "out_clean" / "cleaned.parquet")
    )


def test_odd_items_are_counted_and_warned(dup_runs: dict[str, Path]) -> None:
    d = dup_runs["dir"]
    checks = json.loads((d / "wd_clean" / "summary.json").read_text())["input_checks"]
    assert checks["items_empty_text"] == 1
    assert checks["items_not_in_log"] >= 1
    lines = (d / "clean.log").read_text().splitlines()
    assert sum("1 items have empty text" in ln and ln.startswith("warning: ") for ln in lines) == 1
    assert sum("never occur in the log" in ln for ln in lines) == 1


# ---------------------------------------------------------------- the gate


def test_self_check_floors() -> None:
    report = {"heldout_corruption_auc": 0.3, "alignment": {"top1_short": 0.1, "top1_long": float("nan")}}
    backbone = {"valid": {"HR@10": 0.0}}
    v = self_check("iadsr", report, backbone, 100, Floors())
    assert v["reliable"] is False and len(v["unreliable_reasons"]) == 3
    good = {"heldout_corruption_auc": 0.8, "alignment": {"top1_short": 0.1, "top1_long": 0.3}}
    assert self_check("iadsr", good, {"valid": {"HR@10": 0.5}}, 100, Floors())["reliable"] is True
    assert self_check("baseline-semantic", report, backbone, 100, Floors())["reliable"] is True
    relaxed = Floors(detector_auc=0.0, backbone_lift=0.0, alignment_top1=0.0)
    assert self_check("iadsr", {**report, "alignment": {"top1_short": 0.0}}, backbone, 100, relaxed)["reliable"]


def test_three_users_are_refused_then_forced(tiny_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    inter, items = tiny_inputs
    log = pl.read_parquet(inter)
    three = log.filter(pl.col("user_id").is_in(log["user_id"].unique().sort().head(3).implode()))
    three.write_parquet(tmp_path / "three.parquet")
    wd, out = tmp_path / "wd", tmp_path / "out"
    args = ["--interactions", str(tmp_path / "three.parquet"), "--items", str(items), "--workdir", str(wd)]
    res = runner.invoke(app, ["run", *args, "--out", str(out), *FAST])
    _one_line_error(res.output, res.exit_code, 7, "unreliable", "more data", "--scorer baseline-semantic", "--force")
    # nothing filtered, no _SUCCESS: only the report, which says why
    assert sorted(p.name for p in out.iterdir()) == ["report.html"]
    page = (out / "report.html").read_text()
    assert "Unreliable scores" in page and "nothing was filtered" in page
    summary = json.loads((wd / "summary.json").read_text())
    assert summary["reliable"] is False and summary["unreliable_reasons"]
    res = runner.invoke(app, ["filter", "--workdir", str(wd), "--out", str(out), "--force"])
    assert res.exit_code == 0 and "forced past the self-check gate" in res.output, res.output
    s = json.loads((out / "summary.json").read_text())
    assert s["reliable"] is False and s["forced"] is True and s["unreliable_reasons"]
    # the text-only reference has no self-check to fail: the suggested way out works
    res = runner.invoke(app, ["run", *args, "--out", str(tmp_path / "o2"), *FAST, "--scorer", "baseline-semantic"])
    assert res.exit_code == 0, res.output


# ---------------------------------------------------------------- stages, lock, sweep


def test_is_complete_checks_fingerprint_and_hashes(tmp_path: Path) -> None:
    f = tmp_path / "a.bin"
    f.write_bytes(b"abc")
    rec = stage_record(tmp_path, "fp1", [f])
    assert is_complete(tmp_path, rec, "fp1")
    assert not is_complete(tmp_path, rec, "fp2")  # other inputs or options
    f.write_bytes(b"abd")
    assert not is_complete(tmp_path, rec, "fp1")  # file changed
    f.unlink()
    assert not is_complete(tmp_path, rec, "fp1")  # file gone
    assert not is_complete(tmp_path, None, "fp1")


def test_sweep_removes_only_our_temp_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    ours = [tmp_path / ".scores.parquet.ab12_xyz.tmp", tmp_path / "sub" / ".model.pt.k3j4h5g6.tmp"]
    theirs = [tmp_path / "notes.tmp", tmp_path / ".hidden", tmp_path / "scores.parquet"]
    for p in ours + theirs:
        p.write_bytes(b"")
    assert sorted(sweep_temp_files(tmp_path)) == sorted(ours)
    assert all(p.exists() for p in theirs)


def test_live_lock_refuses_and_stale_lock_is_taken_over(workdir_copy: Path, tmp_path: Path) -> None:
    lock = workdir_copy / LOCK_NAME
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock.write_text(json.dumps({"pid": sleeper.pid, "host": socket.gethostname(), "started": "then"}))
        res = runner.invoke(app, ["score", "--workdir", str(workdir_copy), "--scorer", "baseline-semantic"])
        _one_line_error(res.output, res.exit_code, 8, str(workdir_copy), f"pid {sleeper.pid}", "another seqclean run")
        assert lock.exists()
        res = runner.invoke(app, ["report", "--workdir", str(workdir_copy)])  # report honours the lock too
        _one_line_error(res.output, res.exit_code, 8, str(workdir_copy), "another seqclean run")
        assert not (workdir_copy / "report.html").exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    stale = tmp_path / ".scores.parquet.zz99zz99.tmp"  # a killed run's leftover in the workdir
    shutil.copy(workdir_copy / "sequences.parquet", workdir_copy / stale.name)
    res = runner.invoke(app, ["score", "--workdir", str(workdir_copy), "--scorer", "baseline-semantic"])
    assert res.exit_code == 0, res.output  # the lock's process is dead: taken over
    assert not lock.exists() and not (workdir_copy / stale.name).exists()


def test_reuse_and_byte_identical_reruns(tiny_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    inter, items = tiny_inputs
    wd, out = tmp_path / "wd", tmp_path / "out"
    args = ["run", "--interactions", str(inter), "--items", str(items), "--workdir", str(wd), "--out", str(out), *FAST]
    args += ["--scorer", "baseline-semantic"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0 and "reused" not in res.output, res.output
    first = _digest_tree(wd, out)
    assert "0/backbone/model.pt" in first and "1/_SUCCESS" in first
    res = runner.invoke(app, args)
    assert res.exit_code == 0 and "(reused: embed, backbone, score, filter)" in res.output, res.output
    assert _digest_tree(wd, out) == first
    res = runner.invoke(app, [*args, "--rerun"])  # everything recomputed: still the same bytes, weights too
    assert res.exit_code == 0 and "reused" not in res.output, res.output
    assert _digest_tree(wd, out) == first
    res = runner.invoke(app, [*args, "--threshold", "0.3"])  # only filter depends on the threshold
    assert "(reused: embed, backbone, score)" in res.output, res.output


# ---------------------------------------------------------------- kill, terminate, interrupt


def _cli(args: list[str], kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("SEQCLEAN_TEST_KILL_AT", None)
    if kill_at:
        env["SEQCLEAN_TEST_KILL_AT"] = kill_at
    cmd = [sys.executable, "-m", "seqclean.cli", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def kill_inputs(tmp_path_factory: pytest.TempPathFactory, sample_slice: object) -> tuple[list[str], Path]:
    d = tmp_path_factory.mktemp("kill")
    inter, items = sample_slice(d / "in", 30, 0)  # type: ignore[operator]
    args = ["--interactions", str(inter), "--items", str(items), *FAST, "--chunk-users", "8", "--quiet"]
    args += ["--min-backbone-lift", "0", "--force"]
    return args, d


@pytest.mark.slow  # subprocess chains (~30 s together): run by .ci/run with -m slow
def test_sigkill_at_several_points_then_rerun_is_byte_identical(kill_inputs: tuple[list[str], Path]) -> None:
    args, d = kill_inputs
    ref = _cli(["run", *args, "--workdir", str(d / "wd_ref"), "--out", str(d / "out_ref")])
    assert ref.returncode == 0, ref.stderr
    reference = _digest_tree(d / "wd_ref", d / "out_ref")
    wd, out = d / "wd", d / "out"
    run = ["run", *args, "--workdir", str(wd), "--out", str(out)]
    # each killed run resumes the state the previous kill left: mid-embed, mid-score (a partial scores
    # temp file on disk), mid-filter (cleaned written, no _SUCCESS), just before _SUCCESS
    for point in ("sequences", "score-chunk", "filter-cleaned", "filter-summary"):
        r = _cli(run, kill_at=point)
        assert r.returncode == -9, (point, r.returncode, r.stderr)
        assert not (out / "_SUCCESS").exists()
    r = _cli(run)
    assert r.returncode == 0, r.stderr
    # report.html names its workdir and output directory, which differ from the reference run's by design
    got = _digest_tree(wd, out)
    assert {k: v for k, v in got.items() if k != "1/report.html"} == {
        k: v for k, v in reference.items() if k != "1/report.html"
    }
    page = (out / "report.html").read_text().replace(str(wd), "WD").replace(str(out), "OUT")
    ref_page = (d / "out_ref" / "report.html").read_text()
    assert page == ref_page.replace(str(d / "wd_ref"), "WD").replace(str(d / "out_ref"), "OUT")
    assert not [p for p in [*wd.rglob(".*"), *out.rglob(".*")] if p.is_file()]  # no temp files, no lock


@pytest.mark.slow  # subprocess chains (~30 s together): run by .ci/run with -m slow
def test_resume_after_kill_in_score_reuses_embed_and_backbone(kill_inputs: tuple[list[str], Path]) -> None:
    args, d = kill_inputs
    wd, out = d / "wd_resume", d / "out_resume"
    run = ["run", *[a for a in args if a != "--quiet"], "--workdir", str(wd), "--out", str(out)]
    assert _cli(run, kill_at="score-chunk").returncode == -9
    assert [p.name for p in wd.glob(".scores.parquet.*.tmp")]  # the crash left a partial file
    r = _cli(run)
    assert r.returncode == 0, r.stderr
    assert "(reused: embed, backbone)" in r.stdout
    assert not list(wd.glob(".*.tmp"))


@pytest.mark.parametrize(("signame", "code"), [("TERM", 143), ("INT", 130)])
def test_sigterm_sigint_leave_no_partial_files(kill_inputs: tuple[list[str], Path], signame: str, code: int) -> None:
    args, d = kill_inputs
    wd, out = d / f"wd_{signame}", d / f"out_{signame}"
    r = _cli(["run", *args, "--workdir", str(wd), "--out", str(out)], kill_at=f"score-chunk:{signame}")
    assert r.returncode == code, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1 and "no partial files" in lines[0], r.stderr
    assert not (wd / "scores.parquet").exists()
    assert not [p for p in wd.rglob(".*") if p.is_file()]  # temp files removed, lock released


def test_duplicate_rows_follow_their_first_row_or_are_dropped() -> None:
    from seqclean.checks import duplicate_changes

    log = pl.DataFrame({"u": [1, 1, 1, 2, 1], "i": [10, 11, 10, 12, 11], "t": [5, 6, 5, 7, 6]})
    indexed = log.lazy().with_row_index("row_index")
    first_changes = [
        pl.DataFrame(
            {
                "u": [1],
                "i": [10],
                "t": [5],
                "row_index": pl.Series([0], dtype=pl.UInt32),
                "position": [0],
                "noise_score": [0.9],
                "decision": ["drop"],
                "guard": [None],
                "reason": ["noise_score > 0.5"],
            }
        )
    ]
    kept = duplicate_changes(indexed, first_changes, ("u", "i", "t"), "keep")
    assert kept["row_index"].to_list() == [2]  # row 2 repeats row 0, which was dropped; row 4 repeats a kept row
    assert kept["decision"].to_list() == ["drop"] and kept["noise_score"].to_list() == [0.9]
    assert kept["reason"][0].startswith("same as row 0")
    dropped = duplicate_changes(indexed, first_changes, ("u", "i", "t"), "drop")
    assert dropped["row_index"].to_list() == [2, 4] and set(dropped["decision"]) == {"drop"}
    assert dropped["reason"].to_list() == [
        "exact duplicate of row 0 (--duplicates drop)",
        "exact duplicate of row 1 (--duplicates drop)",
    ]


def test_keep_last_protects_a_repeated_last_interaction() -> None:
    """A leave-one-out target that repeats a training row (same user, item and time: planting can make one) is a
    repeat of that earlier row; `--keep-last` must still never change it."""
    log = pl.DataFrame(
        {
            "user_id": [1, 1, 1, 2, 2, 2, 2],
            "item_id": [5, 6, 5, 7, 7, 8, 9],
            "timestamp": [10, 10, 10, 3, 3, 4, 5],
        }
    ).with_row_index(ROW_INDEX)
    cols = ("user_id", "item_id", "timestamp")
    dropped = duplicate_changes(log.lazy(), [], cols, "drop")
    assert dropped[ROW_INDEX].to_list() == [2, 4]
    protected = duplicate_changes(log.lazy(), [], cols, "drop", keep_last=1)
    assert protected[ROW_INDEX].to_list() == [4]  # user 1's repeat is its last row; user 2's is in the middle
    assert duplicate_changes(log.lazy(), [], cols, "drop", keep_last=3)[ROW_INDEX].to_list() == []
