"""`--engine ray` (docs/ray.md): the same files as the local engine, and a clear exit 6 without Ray.

The byte-for-byte comparison runs a real local Ray instance (slow: about 40 s on 2 cores); the rest is fast
and needs no Ray: the missing-Ray error, the options, the chunk reordering, and that the fitted scorer
survives pickling (how it reaches the actors) with the same scores.
"""

from __future__ import annotations

import pickle
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from seqclean.cli import app
from seqclean.embed import EmbedConfig, embed
from tests.tiny import TINY_GATE_OFF, tiny_backbone

runner = CliRunner()
SAME_FILES = ("sequences.parquet", "items.parquet", "semantic.parquet")
SCORE_FILES = ("scores.parquet", "item_report.parquet", "summary.json")


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray as if not installed: `import ray` raises ImportError."""
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.data", None)


@pytest.fixture
def plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQCLEAN_LOG_FORMAT", "rich")


def _error_line(output: str) -> str:
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


@pytest.mark.usefixtures("no_ray", "plain_lines")
def test_score_without_ray_exits_6_naming_the_extra(workdir_copy: Path) -> None:
    res = runner.invoke(app, ["score", "--workdir", str(workdir_copy), "--engine", "ray"])
    assert res.exit_code == 6, res.output
    line = _error_line(res.output)
    assert "--engine ray" in line and "pip install 'seqclean[ray]'" in line
    assert not (workdir_copy / "scores.parquet").exists()  # refused before any work


@pytest.mark.usefixtures("no_ray", "plain_lines")
def test_embed_without_ray_exits_6(tiny_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    inter, items = tiny_inputs
    wd = tmp_path / "wd"
    args = ["embed", "--interactions", str(inter), "--items", str(items), "--workdir", str(wd), "--engine", "ray"]
    res = runner.invoke(app, args)
    assert res.exit_code == 6, res.output
    assert "pip install 'seqclean[ray]'" in _error_line(res.output)
    assert not wd.exists()


@pytest.mark.usefixtures("plain_lines")
def test_engine_options_are_checked(workdir_copy: Path) -> None:
    for bad in (["--engine", "spark"], ["--ray-actors", "0"], ["--ray-address", " "]):
        res = runner.invoke(app, ["score", "--workdir", str(workdir_copy), *bad])
        assert res.exit_code == 2, (bad, res.output)
    res = runner.invoke(app, ["score", "--help"])
    for flag in ("--engine", "--ray-address", "--ray-actors"):
        assert flag in res.output


def test_results_come_back_in_chunk_order() -> None:
    from seqclean.ray_engine import _in_order

    rows = [{"chunk": k, "payload": pickle.dumps(f"chunk {k}")} for k in (2, 0, 3, 1)]
    assert list(_in_order(rows, 4, "chunk")) == ["chunk 0", "chunk 1", "chunk 2", "chunk 3"]
    with pytest.raises(RuntimeError, match="2 of 4"):
        list(_in_order(rows[1:2] + rows[3:], 4, "chunk"))


def test_fitted_scorer_pickles_and_scores_the_same(workdir_copy: Path) -> None:
    """What the actors get: the fitted scorer without its ONNX sessions, re-opened on first use."""
    from seqclean.score import load_context, score_chunk
    from seqclean.scorers import SCORERS
    from seqclean.scorers.base import ScorerOptions
    from seqclean.workdir import Workdir

    wd = Workdir(workdir_copy)
    manifest = wd.read_manifest()
    ctx, _ = load_context(wd, 10, 0.5)
    scorer = SCORERS["iadsr"](ScorerOptions(fit_users=40, device="cpu"))
    seq = workdir_copy / "sequences.parquet"
    scorer.fit(wd, seq, ctx, int(manifest["embed"]["n_users"]), lambda *a: None)
    here = score_chunk(seq, 0, 20, scorer, ctx, manifest["columns"])
    copy = pickle.loads(pickle.dumps(scorer))
    assert copy.runner._session is None and copy.seq._session is None  # sessions are not shipped
    there = score_chunk(seq, 0, 20, copy, ctx, manifest["columns"])
    assert there.scores.equals(here.scores)
    np.testing.assert_array_equal(there.iid, here.iid)


@pytest.fixture
def ray_module() -> Iterator[object]:
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    pytest.importorskip("threadpoolctl")
    if ray.is_initialized():
        ray.shutdown()
    yield ray
    if ray.is_initialized():
        ray.shutdown()


@pytest.mark.slow
def test_ray_engine_writes_the_same_files_as_local(
    ray_module: object, embedded_workdir: Path, tiny_inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    ray = ray_module
    inter, items = tiny_inputs
    local = tmp_path / "local"
    shutil.copytree(embedded_workdir, local)  # embedded by the local engine with the same options (conftest)
    remote = tmp_path / "ray"
    # embed: the engine starts its own local Ray instance for the encoding, and shuts it down afterwards
    embed(
        EmbedConfig(
            interactions=inter,
            items=items,
            workdir=remote,
            device="cpu",
            backbone=tiny_backbone(),
            engine="ray",
            ray_actors=2,
        )
    )
    assert not ray.is_initialized()  # type: ignore[attr-defined]
    for name in SAME_FILES:
        assert (remote / name).read_bytes() == (local / name).read_bytes(), name

    # score: a Ray instance started here (as on a cluster the driver joins) is used and left running
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)  # type: ignore[attr-defined]
    common = ["--chunk-users", "7", "--fit-users", "40", "--device", "cpu", *TINY_GATE_OFF]
    res = runner.invoke(app, ["score", "--workdir", str(local), *common])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["score", "--workdir", str(remote), *common, "--engine", "ray", "--ray-actors", "2"])
    assert res.exit_code == 0, res.output
    assert ray.is_initialized()  # type: ignore[attr-defined]
    for name in SCORE_FILES:
        assert (remote / name).read_bytes() == (local / name).read_bytes(), name


def test_an_address_where_nothing_answers_fails_in_seconds_naming_it() -> None:
    import socket

    from seqclean.errors import RuntimeUnavailableError
    from seqclean.ray_engine import check_reachable

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there now
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RuntimeUnavailableError, match=f"ray://127.0.0.1:{port}: nothing answers at 127.0.0.1:{port}"):
        check_reachable(f"ray://127.0.0.1:{port}", timeout=2.0)
    with socket.socket() as s:  # something listening: passes (Ray then speaks to it)
        s.bind(("127.0.0.1", 0))
        s.listen()
        check_reachable(f"127.0.0.1:{s.getsockname()[1]}")
    check_reachable("auto")  # left to Ray
