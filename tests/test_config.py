"""One source of truth for every option: the CLI, the TOML job file and the library agree, and `run` takes all."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from seqclean.build import embed_config, filter_config, score_config
from seqclean.cli import app
from seqclean.cli_options import EMBED_FIELDS, FILTER_FIELDS, SCORE_FIELDS, selected
from seqclean.config import DEFAULTS, SECTIONS, Options, base_type, field_specs, flag
from seqclean.jobfile import example_toml, load_toml

runner = CliRunner()
DISPLAY_ONLY = {"log_format", "quiet"}  # options of the display, not of any stage


def _command(name: str) -> Any:
    return typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]


def _changed(f: dataclasses.Field[Any], tp: Any) -> tuple[Any, str]:
    """A valid non-default value of the field (as the library sees it) and its command-line spelling."""
    choices = f.metadata.get("choices") or ()
    special = {
        "threshold": ("0.25", "0.25"),
        "max_edits_per_user": ("3", "3"),
        "text_cols": ("title,genres", "title,genres"),
        "max_fraction": (0.3, "0.3"),
        "max_uncertainty": (0.7, "0.7"),
        "min_confidence": (0.6, "0.6"),
    }
    if f.name in special:
        return special[f.name]
    if choices:
        other = next(c for c in choices if c != f.default)
        return other, other
    t = base_type(tp)
    if t is bool:
        return (not f.default), ""
    if t is int:
        v = (f.default or 1) + 1
        return v, str(v)
    if t is float:
        v = round((f.default or 0.5) / 2, 6)
        return v, str(v)
    if t is Path:
        return Path("/tmp/x").resolve() if f.name in ("model", "collab_embeddings") else Path(f"/tmp/{f.name}"), ""
    return "x_" + f.name, "x_" + f.name


def test_every_option_reachable_from_run_with_the_spec_default() -> None:
    params = {p.name: p for p in _command("run").params}
    specs = field_specs()
    assert len(specs) >= 40
    assert len({f.name for _, f, _ in specs}) == len(specs), "field names must be unique across sections"
    for _, f, _ in specs:
        assert f.name in params, f.name
        assert params[f.name].default == f.default, f.name
        assert flag(f.name) in params[f.name].opts, f.name
    # and each stage command takes exactly its sections' options, with the same defaults
    for name, fields in (("embed", EMBED_FIELDS), ("score", SCORE_FIELDS), ("filter", FILTER_FIELDS)):
        cmd = {p.name: p for p in _command(name).params}
        for _, f, _ in selected(fields):
            assert cmd[f.name].default == f.default, (name, f.name)


def test_library_defaults_are_the_spec_defaults() -> None:
    from seqclean.embed import EmbedConfig
    from seqclean.filter import FilterConfig
    from seqclean.score import ScoreConfig
    from seqclean.scorers.iadsr_options import IadsrOptions

    p = Path("/tmp/p")
    opts = Options()
    opts.inputs.interactions = opts.inputs.items = opts.inputs.workdir = p
    opts.inputs.out = Path("/tmp/q")
    assert embed_config(opts) == EmbedConfig(interactions=p, items=p, workdir=p)
    assert score_config(opts) == ScoreConfig(workdir=p)
    assert filter_config(opts) == FilterConfig(workdir=p, out=Path("/tmp/q"))
    iadsr = IadsrOptions()
    assert (iadsr.fit_users, iadsr.cold_k, iadsr.seed, iadsr.device) == (
        DEFAULTS.score.fit_users,
        DEFAULTS.score.cold_k,
        DEFAULTS.general.seed,
        DEFAULTS.general.device,
    )


def test_example_toml_parses_to_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "job.toml"
    path.write_text(example_toml())
    values = load_toml(path)
    for _, f, _ in field_specs():
        if f.name in ("interactions", "items", "workdir", "out"):
            assert values[f.name] == tmp_path / str(values[f.name].relative_to(tmp_path))
        elif f.default is None:
            assert f.name not in values, f.name  # written commented out
        else:
            assert values[f.name] == f.default, f.name


def test_each_option_agrees_on_cli_toml_and_library(tmp_path: Path) -> None:
    """For every option: a non-default value given as a flag and given in the TOML file gives the same
    Options, and it changes the library config it belongs to (so no option is parsed and then dropped)."""
    base = Options()
    base.inputs.interactions = base.inputs.items = base.inputs.workdir = Path("/tmp/p")
    base.inputs.out = Path("/tmp/q")

    def library(o: Options) -> tuple[Any, ...]:
        return embed_config(o), score_config(o), filter_config(o)

    ref = library(base)
    run = _command("run")
    for section, f, tp in field_specs():
        value, text = _changed(f, tp)
        argv = [flag(f.name)] if base_type(tp) is bool else [flag(f.name), text or str(value)]
        ctx = run.make_context("run", argv)
        cli_value = ctx.params[f.name]
        toml_value = value if not isinstance(value, Path) else str(value)
        if isinstance(toml_value, bool):
            line = f"{f.name} = {'true' if toml_value else 'false'}"
        elif isinstance(toml_value, str):
            line = f'{f.name} = "{toml_value}"'
        else:
            line = f"{f.name} = {toml_value}"
        path = tmp_path / f"{f.name}.toml"
        path.write_text(f"[{section}]\n{line}\n")
        from_toml = load_toml(path)[f.name]
        assert cli_value == from_toml == value, (f.name, cli_value, from_toml, value)
        if f.name in DISPLAY_ONLY:
            continue
        changed = Options.from_flat({**base.flat(), f.name: value})
        assert library(changed) != ref, f"{f.name} does not reach any library config"


def test_unknown_toml_key_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    job = tmp_path / "job.toml"
    job.write_text("[filter]\nthresold = 0.3\n")
    res = runner.invoke(app, ["run", "--config", str(job), "--log-format", "rich"])
    assert res.exit_code == 2, res.output
    assert "thresold" in res.output and str(job) in res.output
    job.write_text("[filtre]\nthreshold = 0.3\n")
    res = runner.invoke(app, ["run", "--config", str(job), "--log-format", "rich"])
    assert res.exit_code == 2 and "filtre" in res.output


def test_cli_flag_overrides_toml(tmp_path: Path) -> None:
    job = tmp_path / "job.toml"
    job.write_text('[filter]\nthreshold = 1.5\n[general]\nlog_format = "rich"\n')
    res = runner.invoke(app, ["run", "--config", str(job)])
    assert res.exit_code == 2 and "--threshold 1.5" in res.output  # from the file
    res = runner.invoke(app, ["run", "--config", str(job), "--threshold", "2", "--interactions", "/nope"])
    assert res.exit_code == 2 and "--threshold 2" in res.output  # the flag wins, and options come before paths


def test_bad_option_fails_before_any_work(tiny_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    inter, items = tiny_inputs
    base = ["run", "--interactions", str(inter), "--items", str(items), "--workdir", str(tmp_path / "wd")]
    t0 = time.perf_counter()
    res = runner.invoke(app, [*base, "--out", str(tmp_path / "out"), "--threshold", "1.5"])
    assert time.perf_counter() - t0 < 1.0
    assert res.exit_code == 2 and "--threshold" in res.output
    for bad in (["--mode", "erase"], ["--max-edits-per-user", "lots"], ["--epochs", "0"], ["--device", "tpu"]):
        res = runner.invoke(app, [*base, "--out", str(tmp_path / "out"), *bad])
        assert res.exit_code == 2 and bad[0] in res.output, (bad, res.output)
    res = runner.invoke(app, [*base, "--out", str(tmp_path / "wd" / "out")])
    assert res.exit_code == 2 and "inside --workdir" in res.output
    res = runner.invoke(app, [*base, "--out", str(tmp_path / "wd")])
    assert res.exit_code == 2 and "inside --workdir" in res.output
    res = runner.invoke(app, [*base[:2], str(tmp_path / "nope.parquet"), *base[3:], "--out", str(tmp_path / "o")])
    assert res.exit_code == 3 and "nope.parquet" in res.output
    assert not (tmp_path / "wd").exists()


def test_init_writes_a_config_run_accepts(tmp_path: Path) -> None:
    out = tmp_path / "job.toml"
    res = runner.invoke(app, ["init", "--out", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    for s in SECTIONS:
        assert f"[{s}]" in text
    for _, f, _ in field_specs():
        assert f.name in text and f.metadata["help"] in text, f.name
    assert runner.invoke(app, ["init", "--out", str(out)]).exit_code == 2  # no silent overwrite
    assert runner.invoke(app, ["init", "--out", str(out), "--force"]).exit_code == 0


def test_version() -> None:
    from seqclean import __version__

    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"seqclean {__version__}"


@pytest.mark.parametrize("args", [["--log-format", "json"], []])
def test_json_log_has_nothing_on_stdout(args: list[str], tiny_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    """JSON events on stderr (the default when stderr is not a terminal, as under cron), nothing on stdout."""
    inter, items = tiny_inputs
    res = runner.invoke(
        app,
        [
            "embed",
            "--interactions",
            str(inter),
            "--items",
            str(items),
            "--workdir",
            str(tmp_path / "wd"),
            "--device",
            "cpu",
            "--epochs",
            "1",
            *args,
        ],
    )
    assert res.exit_code == 0, res.output
    assert res.stdout == ""
    events = [json.loads(line) for line in res.stderr.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "stage_start" and "stage_end" in kinds and kinds[-1] == "result"
    end = next(e for e in events if e["event"] == "stage_end")
    assert end["stage"] == "embed" and end["seconds"] > 0 and end["interactions"] > 0
    assert end["backbone"]["action"] == "retrained"
