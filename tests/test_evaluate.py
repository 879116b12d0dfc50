"""`seqclean evaluate`: the protocol's invariants on small data (planting, arms, labels, determinism, CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from seqclean.cli import app
from seqclean.evaluate.config import EvaluateConfig
from seqclean.evaluate.downstream import DownstreamConfig, train_and_test
from seqclean.evaluate.plant import plant_noise
from seqclean.evaluate.protocol import (
    Arm,
    labelled_rows,
    make_split,
    random_rows,
    rows_before_last_window,
    targets,
    top_k_rows,
    training_sequences,
)

runner = CliRunner()


def _toy_log(n_users: int = 12, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        n = int(rng.integers(2, 12))
        times = np.sort(rng.integers(0, 5, size=n))  # many ties: the row order must break them
        rows += [(u, int(rng.integers(1, 40)), int(t)) for t in times]
    order = rng.permutation(len(rows))  # rows not grouped by user
    return pl.DataFrame([rows[i] for i in order], schema=["user_id", "item_id", "timestamp"], orient="row")


def _catalogue(log: pl.DataFrame) -> pl.DataFrame:
    return log.select("item_id").unique().sort("item_id").with_columns(pl.int_range(1, pl.len() + 1).alias("iid"))


def _seqs(log: pl.DataFrame) -> dict[int, list[int]]:
    s = (
        log.with_row_index("r")
        .sort("user_id", "timestamp", "r")
        .group_by("user_id", maintain_order=True)
        .agg("item_id")
    )
    return dict(zip(s["user_id"].to_list(), s["item_id"].to_list(), strict=True))


@pytest.mark.parametrize("kind", ["uniform", "popularity", "insert"])
def test_planting_touches_training_inputs_only(kind: str) -> None:
    log = _toy_log()
    split = make_split(log, "user_id", "item_id", "timestamp", _catalogue(log))
    eligible = split.training_by_row(log.height)
    noisy, labels = plant_noise(log, 0.3, kind, seed=1, eligible=eligible)
    assert labels.height == noisy.height and labels["is_noise"].sum() > 0
    before, after = _seqs(log), _seqs(noisy)
    is_noise = labels["is_noise"].to_numpy()
    for u, s in before.items():
        t = after[u]
        assert t[-2:] == s[-2:] or len(s) < 3  # validation and test targets unchanged
        if len(s) < 3:
            assert t == s  # users without training inputs are untouched
    if kind == "insert":
        assert noisy.height > log.height
        kept = labels.filter(~pl.col("is_noise"))["source_row"].to_numpy()
        assert np.array_equal(kept, np.arange(log.height))  # every original row, in its order
        for u, s in before.items():  # removing the inserted rows gives the original sequence back
            nl = noisy.with_columns(pl.Series("noise", is_noise)).filter(~pl.col("noise"))
            assert _seqs(nl)[u] == s
    else:
        assert noisy.height == log.height
        assert not (is_noise & ~eligible).any()  # never outside the training inputs
        changed = (noisy["item_id"] != log["item_id"]).to_numpy()
        assert np.array_equal(changed, is_noise)
    new_split = make_split(noisy, "user_id", "item_id", "timestamp", _catalogue(log))
    a, b = targets(split), targets(new_split)
    assert np.array_equal(a.valid, b.valid) and np.array_equal(a.test, b.test)


def test_arms_never_touch_targets() -> None:
    log = _toy_log()
    split = make_split(log, "user_id", "item_id", "timestamp", _catalogue(log))
    n = log.height
    train = split.training_by_row(n)
    score = np.random.default_rng(0).random(n)
    top = top_k_rows(split, score, 10)
    assert train[top].all() and len(top) == 10
    rnd = random_rows(split, n, 10, seed=3)
    assert train[rnd].all() and np.array_equal(rnd, random_rows(split, n, 10, seed=3))
    full = training_sequences(split, Arm("x"))
    cut = training_sequences(split, Arm("x", removed=top))
    assert sum(map(len, full)) - sum(map(len, cut)) == 10
    target_row = int(np.flatnonzero(~train)[0])
    with pytest.raises(AssertionError, match="target"):
        training_sequences(split, Arm("bad", removed=np.array([target_row])))
    with pytest.raises(AssertionError, match="target"):
        training_sequences(split, Arm("bad", replaced={target_row: 1}))


@pytest.mark.parametrize("kind", ["uniform", "insert"])
def test_oracle_arm_removes_exactly_the_planted_training_rows(kind: str) -> None:
    log = _toy_log(n_users=30)
    cat = _catalogue(log)
    split = make_split(log, "user_id", "item_id", "timestamp", cat)
    noisy, labels = plant_noise(log, 0.3, kind, seed=2, eligible=split.training_by_row(log.height))
    nsplit = make_split(noisy, "user_id", "item_id", "timestamp", cat)
    rows = labelled_rows(labels, nsplit, noisy.height)
    assert np.array_equal(rows, np.flatnonzero(labels["is_noise"].to_numpy()))  # planted rows are all training rows
    assert nsplit.training_by_row(noisy.height)[rows].all() and len(rows) > 0
    got = training_sequences(nsplit, Arm("oracle", removed=rows))
    if kind == "insert":  # removing the inserted rows gives the clean training inputs back, item for item
        want = training_sequences(split, Arm("clean"))
        assert [s.tolist() for s in got] == [s.tolist() for s in want]
    else:  # the replaced rows are gone, every other training input is kept in order
        assert sum(map(len, got)) == int(nsplit.training.sum()) - len(rows)
    # a label on a target row never reaches an arm
    target_row = int(np.flatnonzero(~nsplit.training_by_row(noisy.height))[0])
    marked = labels.with_columns(
        pl.when(pl.col("row_index") == target_row).then(True).otherwise(pl.col("is_noise")).alias("is_noise")
    )
    assert target_row not in set(labelled_rows(marked, nsplit, noisy.height).tolist())


def test_rows_before_last_window_counts_what_last_windows_never_train_on() -> None:
    lengths = {0: 2, 1: 7, 2: 20, 3: 13}  # training inputs: 0, 5, 18, 11
    log = pl.DataFrame(
        [(u, i, i) for u, n in lengths.items() for i in range(n)],
        schema=["user_id", "item_id", "timestamp"],
        orient="row",
    )
    split = make_split(log, "user_id", "item_id", "timestamp", _catalogue(log))
    assert rows_before_last_window(split, max_len=10) == (18 - 11) + (11 - 11)
    assert rows_before_last_window(split, max_len=50) == 0


def test_identical_seeds_give_bit_equal_metrics() -> None:
    rng = np.random.default_rng(0)
    seqs = [rng.integers(1, 30, size=int(rng.integers(3, 20))) for _ in range(40)]
    valid, test = rng.integers(1, 30, size=40), rng.integers(1, 30, size=40)
    cfg = DownstreamConfig(hidden=16, epochs=2, patience=1, max_len=10, threads=1)
    a = train_and_test(cfg, 30, seqs, valid, test, seed=5)
    b = train_and_test(cfg, 30, seqs, valid, test, seed=5)
    assert a.test == b.test and a.valid == b.valid
    assert set(a.test) == {"HR@10", "NDCG@10", "HR@20", "NDCG@20"}


def test_early_stopping_waits_for_min_epochs() -> None:
    rng = np.random.default_rng(2)
    seqs = [rng.integers(1, 30, size=12) for _ in range(20)]
    valid, test = rng.integers(1, 30, size=20), rng.integers(1, 30, size=20)
    for min_epochs, want in ((1, 2), (4, 4)):  # lr 0: validation never improves after epoch 1
        cfg = DownstreamConfig(hidden=16, epochs=6, patience=1, min_epochs=min_epochs, max_len=10, threads=1, lr=0.0)
        r = train_and_test(cfg, 30, seqs, valid, test, seed=0)
        assert (r.epochs_run, r.best_epoch) == (want, 1)


def test_sweep_seeds_default_to_two_or_fewer() -> None:
    def count(seeds: int, sweep_seeds: int | None = None) -> int:
        cfg = EvaluateConfig(Path("i"), Path("t"), Path("w"), Path("o"), seeds=seeds, sweep_seeds=sweep_seeds)
        cfg.validate()
        return cfg.sweep_seed_count

    assert (count(3), count(5), count(1), count(3, 3), count(3, 1)) == (2, 2, 1, 3, 1)


def test_train_windows_last_ignores_old_inputs_all_uses_them() -> None:
    rng = np.random.default_rng(1)
    seqs = [rng.integers(1, 30, size=int(rng.integers(15, 30))) for _ in range(40)]
    older = [np.concatenate([rng.integers(1, 30, size=8), s]) for s in seqs]  # 8 more inputs before each history
    valid, test = rng.integers(1, 30, size=40), rng.integers(1, 30, size=40)

    def run(windows: str, data: list[np.ndarray]) -> dict[str, float]:
        cfg = DownstreamConfig(hidden=16, epochs=2, patience=1, max_len=10, threads=1, windows=windows)
        return train_and_test(cfg, 30, data, valid, test, seed=3).valid

    assert run("last", seqs) == run("last", older)  # only the last max_len + 1 inputs are trained on
    assert run("all", seqs) != run("all", older)


def _evaluate_args(inter: Path, items: Path, wd: Path, out: Path, *extra: str) -> list[str]:
    return [
        "evaluate", "--interactions", str(inter), "--items", str(items), "--workdir", str(wd), "--out", str(out),
        "--seeds", "2", "--train-epochs", "1", "--backbone-epochs", "2", "--fit-users", "60", "--sweep", "0,0.05",
        "--train-threads", "1", "--device", "cpu", "--quiet", *extra,
    ]  # fmt: skip


def test_evaluate_cli_end_to_end(
    tiny_inputs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inter, items = tiny_inputs
    wd, out = tmp_path / "wd", tmp_path / "out"
    res = runner.invoke(app, _evaluate_args(inter, items, wd, out, "--export-recbole"))
    assert res.exit_code == 0, res.output
    assert "| seqclean (remove) |" in res.output and "Budget sweep" in res.output
    rep = json.loads((out / "evaluation.json").read_text())
    assert {"config", "data", "detection", "filter", "arms", "sweep", "summary", "timings"} <= set(rep)
    arms = rep["arms"]
    assert set(arms) == {
        "clean", "noisy", "seqclean", "seqclean_replace", "random", "collab_only", "semantic_only", "iadsr_formula",
        "oracle",
    }  # fmt: skip
    planted = pl.read_parquet(out / "planted_labels.parquet")["is_noise"].sum()
    assert arms["oracle"]["removed"] == planted > 0  # every planted row is a training input; nothing else goes
    assert "labelled noise removed (perfect detection)" in res.output
    k = arms["seqclean"]["removed"]
    for name in ("random", "collab_only", "semantic_only", "iadsr_formula"):
        assert arms[name]["removed"] == k  # the same budget
    for a in arms.values():
        assert len(a["per_seed"]) == 2 and 0.0 <= a["test"]["NDCG@10"]["mean"] <= 1.0
    assert rep["detection"]["all"]["roc_auc"] is not None
    assert [len(r["epochs_run"]) for r in rep["sweep"] if r["share"] > 0] == [2, 2]  # seqclean, random
    assert rep["config"]["downstream"]["windows"] == "all"  # the default trains on every training input
    assert rep["data"]["training_rows_not_trained_on"] == 0
    assert (out / "evaluation.md").read_text().startswith("# seqclean evaluate")

    # no arm changed a validation or test target: every exported arm ends each user's sequence the same way
    def ends(arm: str) -> dict[str, list[str]]:
        f = pl.read_csv(out / "recbole" / arm / f"{arm}.inter", separator="\t", infer_schema=False)
        g = f.sort("user_id:token", pl.col("timestamp:float").cast(pl.Float64)).group_by(
            "user_id:token", maintain_order=True
        )
        return {u: s[-2:] for u, s in g.agg("item_id:token").iter_rows()}

    ref = ends("clean")
    clean_log = pl.read_parquet(inter).with_row_index("r").sort("user_id", "timestamp", "r")
    truth = clean_log.group_by("user_id", maintain_order=True).agg(pl.col("item_id").cast(pl.String))
    assert ref == {str(u): s[-2:] for u, s in truth.iter_rows() if len(s) >= 3}
    for arm in arms:
        assert ends(arm) == ref, arm

    # the labels never reach the scorer: nothing the scorer reads holds them ...
    for f in [*wd.rglob("*.parquet"), out / "inputs" / "interactions.parquet"]:
        assert "is_noise" not in pl.read_parquet_schema(f), f
    assert "is_noise" in pl.read_parquet_schema(out / "planted_labels.parquet")
    # ... and scores are the same whether or not the labels file exists
    first = pl.read_parquet(wd / "scores.parquet")
    (out / "planted_labels.parquet").unlink()
    from seqclean.score import ScoreConfig, score

    score(ScoreConfig(workdir=wd, fit_users=60, device="cpu"))
    assert pl.read_parquet(wd / "scores.parquet")["noise_score"].equals(first["noise_score"])

    # identical arms under identical seeds: a rerun (workdir reused, trainings in 2 processes) is bit-equal
    res2 = runner.invoke(app, _evaluate_args(inter, items, wd, out, "--train-jobs", "2"))
    assert res2.exit_code == 0, res2.output
    rep2 = json.loads((out / "evaluation.json").read_text())
    assert rep2["timings"]["embed_and_score_reused"] == "embed+score"
    for name, a in arms.items():
        assert [s["test"] for s in a["per_seed"]] == [s["test"] for s in rep2["arms"][name]["per_seed"]], name

    # changed scoring code (same version): embed is reused, score reruns (its manifest alone would reuse it)
    import seqclean.evaluate.stages as stages
    import seqclean.score as score_mod

    calls: list[bool] = []
    monkeypatch.setattr(stages, "_code_hash", lambda: "other code")
    real_score = score_mod.score
    monkeypatch.setattr(score_mod, "score", lambda c, p: (calls.append(c.rerun), real_score(c, p))[1])
    res3 = runner.invoke(app, _evaluate_args(inter, items, wd, out, "--seeds", "1", "--sweep", ""))
    assert res3.exit_code == 0, res3.output
    assert (
        calls == [True]
        and json.loads((out / "evaluation.json").read_text())["timings"]["embed_and_score_reused"] == "embed"
    )


def test_evaluate_natural_data_with_labels(tiny_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    inter, items = tiny_inputs
    labels = pl.read_parquet(Path(__file__).resolve().parent.parent / "sample_data" / "noise_labels.parquet")
    lab = tmp_path / "labels.parquet"
    labels.join(pl.read_parquet(inter).select("user_id", "timestamp"), on=["user_id", "timestamp"]).write_parquet(lab)
    out = tmp_path / "out"
    args = _evaluate_args(inter, items, tmp_path / "wd", out, "--plant", "none", "--labels", str(lab))
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    rep = json.loads((out / "evaluation.json").read_text())
    assert "raw" in rep["arms"] and "clean" not in rep["arms"]
    y = labels.join(pl.read_parquet(inter).select("user_id", "timestamp"), on=["user_id", "timestamp"])["is_noise"]
    assert 0 < rep["arms"]["oracle"]["removed"] <= y.sum()  # labelled rows, targets excepted
    assert rep["detection"]["all"]["rows"] > 0


def test_evaluate_usage_errors(tiny_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    inter, items = tiny_inputs
    for extra, needle in (
        (["--plant", "bogus"], "--plant"),
        (["--budget", "lots"], "--budget"),
        (["--seeds", "0"], "--seeds"),
        (["--train-windows", "some"], "--train-windows"),
    ):
        res = runner.invoke(app, _evaluate_args(inter, items, tmp_path / "wd", tmp_path / "out", *extra))
        assert res.exit_code == 2, (extra, res.output)
        assert needle in res.output


def test_evaluate_bad_log_names_the_users_file_and_writes_nothing(
    tiny_inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    inter, items = tiny_inputs
    log = pl.read_parquet(inter)
    for name, bad, needle in (
        ("empty", log.clear(), "no interactions"),
        ("string_time", log.with_columns(pl.col("timestamp").cast(pl.String)), "column 'timestamp' has type String"),
        ("missing", log.drop("item_id"), "column 'item_id' not found"),
    ):
        path = tmp_path / f"{name}.parquet"
        bad.write_parquet(path)
        wd, out = tmp_path / f"wd-{name}", tmp_path / f"out-{name}"
        res = runner.invoke(app, _evaluate_args(path, items, wd, out, "--log-format", "rich"))
        assert res.exit_code == 4, (name, res.output)
        assert res.output.strip().splitlines() == [res.output.strip()] and str(path) in res.output, res.output
        assert needle in res.output, res.output
        assert not wd.exists() and not out.exists(), name


def test_evaluate_json_log_format_for_cron(
    tiny_inputs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inter, items = tiny_inputs
    bad = tmp_path / "empty.parquet"
    pl.read_parquet(inter).clear().write_parquet(bad)
    for extra, env in ((["--log-format", "json"], None), ([], "json")):
        if env:
            monkeypatch.setenv("SEQCLEAN_LOG_FORMAT", env)
        res = runner.invoke(app, _evaluate_args(bad, items, tmp_path / "wd", tmp_path / "out", *extra))
        assert res.exit_code == 4, res.output
        events = [json.loads(line) for line in res.output.strip().splitlines()]
        assert [e["event"] for e in events] == ["stage_start", "error"], events
        assert events[-1]["exit_code"] == 4 and str(bad) in events[-1]["message"]
    # the flag beats the environment, as in every other command (cli_options.log_format_choice)
    res = runner.invoke(app, _evaluate_args(bad, items, tmp_path / "wd", tmp_path / "out", "--log-format", "rich"))
    assert res.exit_code == 4 and res.output.startswith("error: ") and '"event"' not in res.output, res.output
    res = runner.invoke(app, _evaluate_args(inter, items, tmp_path / "wd", tmp_path / "out", "--log-format", "xml"))
    assert res.exit_code == 2 and "--log-format xml" in res.output
