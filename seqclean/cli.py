"""The `seqclean` command line: one library call per command, displayed through `seqclean.log`.

No computation happens here, and no option is declared here: the commands' options are generated from the
stage specs in `seqclean.config` (see `seqclean.cli_options`), so `run` takes every option of every stage and
a default exists once. Every command also takes `--config job.toml`; flags override the file. Library errors
(`SeqcleanError`) become a one-line message (or a JSON `error` event) and the exit code documented in the
README; anything else is a bug (exit 1).
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from seqclean import __version__
from seqclean.cli_options import (
    EMBED_FIELDS,
    FILTER_FIELDS,
    REPORT_FIELDS,
    RUN_FIELDS,
    SCORE_FIELDS,
    check_paths,
    guard,
    options_command,
)
from seqclean.cli_runtime import EXIT_EPILOG, filter_line, reused_note
from seqclean.config import Options
from seqclean.errors import OutputError, UsageError
from seqclean.evaluate.command import evaluate_cli
from seqclean.log import EventLog, resolve_format

app = typer.Typer(
    name="seqclean",
    help="Find and remove noisy interactions in sequential-recommendation logs before training.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: choices as <a|b>, flags without a <bool> placeholder
    epilog=EXIT_EPILOG,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"seqclean {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Find and remove noisy interactions in sequential-recommendation logs before training."""


@options_command(
    app, "embed", EMBED_FIELDS, "Validate the inputs, build sequences and embed every item (semantic, collaborative)."
)
def embed_cli(opts: Options, log: EventLog) -> None:
    from seqclean.build import embed_config
    from seqclean.embed import embed
    from seqclean.pipeline import embed_info

    check_paths(opts, "interactions", "items")
    cfg = embed_config(opts)
    log.stage_start("embed")
    with log.progress() as progress:
        r = embed(cfg, progress)
    info = embed_info(r)
    log.stage_end("embed", **info)
    for w in r.warnings:
        log.emit("warning", message=w)
    on = f" on {r.provider}" if r.provider else ""
    log.result(
        f"embedded {r.n_items} items ({r.n_encoded} encoded{on}, {r.n_cached} from cache) for "
        f"{r.n_users} users / {r.n_interactions} interactions -> {cfg.workdir}{reused_note(r.reused)}",
        **info,
    )


@options_command(
    app, "score", SCORE_FIELDS, "Score every interaction's noise probability (writes scores, item report, summary)."
)
def score_cli(opts: Options, log: EventLog) -> None:
    from seqclean.build import score_config
    from seqclean.score import score

    cfg = score_config(opts)
    log.stage_start("score")
    with log.progress() as progress:
        r = score(cfg, progress)
    log.stage_end("score", interactions=r.n_interactions, flagged=r.n_flagged, reused=r.reused)
    if not r.summary.get("reliable", True):
        reasons = "; ".join(r.summary["unreliable_reasons"])
        log.emit("warning", message=f"{cfg.workdir}/summary.json: scores unreliable: {reasons}")
    log.result(
        f"scored {r.n_interactions} interactions; {r.n_flagged} flagged at threshold "
        f"{r.summary['threshold']} -> {cfg.workdir}{reused_note(['score'] if r.reused else [])}",
        interactions=r.n_interactions,
        flagged=r.n_flagged,
    )


@options_command(
    app, "filter", FILTER_FIELDS, "Write the cleaned log (input schema), an audit of every change and a summary."
)
def filter_cli(opts: Options, log: EventLog) -> None:
    from seqclean.build import filter_config
    from seqclean.filter import filter_log

    cfg = filter_config(opts)
    log.stage_start("filter")
    r = filter_log(cfg)
    log.stage_end("filter", removed=r.n_removed, replaced=r.n_replaced, input=r.n_input, reused=r.reused)
    log.result(
        filter_line(r, cfg.out) + reused_note(["filter"] if r.reused else []),
        removed=r.n_removed,
        replaced=r.n_replaced,
        input=r.n_input,
    )


@options_command(
    app, "run", RUN_FIELDS, "embed + score + filter in one go (the nightly job); takes every stage's options."
)
def run_cli(opts: Options, log: EventLog) -> None:
    from seqclean.build import embed_config, filter_config, score_config
    from seqclean.pipeline import run

    # every check that needs no data comes first: a bad option fails in well under a second
    check_paths(opts, "interactions", "items")
    ecfg, scfg, fcfg = embed_config(opts), score_config(opts), filter_config(opts)
    with log.progress() as progress:
        r = run(ecfg, scfg, fcfg, progress, log.on_event)
    bb = r.stages["embed"].get("backbone", {})
    tv = r.stages["embed"]["text_vectors"]
    table = [
        ("interactions / users / items", f"{r.embed.n_interactions} / {r.embed.n_users} / {r.embed.n_items}"),
        ("text vectors", f"{tv['encoded']} encoded, {tv['reused']} from cache"),
        ("backbone", f"{bb.get('action', 'n/a')} ({bb.get('reason', '')})"),
        ("flagged", f"{r.score.n_flagged}"),
        ("rule", r.filter.summary["rule"]["name"]),
        ("removed / replaced", f"{r.filter.n_removed} / {r.filter.n_replaced}"),
        *((f"{k} seconds", f"{v['seconds']:.1f}") for k, v in r.stages.items()),
        ("output", str(fcfg.out)),
    ]
    log.result(
        f"{r.embed.n_interactions} interactions, {r.embed.n_users} users, {r.embed.n_items} items; "
        + filter_line(r.filter, fcfg.out)
        + f" (report: {r.report})"
        + reused_note(r.reused),
        table=table,
        stages=r.stages,
    )


@options_command(
    app,
    "report",
    REPORT_FIELDS,
    "Write a self-contained HTML report (charts, most-flagged items, example sequences) for a scored workdir.",
    extra={
        "report_out": (Path | None, typer.Option("--out", help="HTML file to write (default: WORKDIR/report.html).")),
        "filter_out": (
            Path | None,
            typer.Option("--filter-out", help="The filter's output directory, to show what each guard held back."),
        ),
    },
)
def report_cli(opts: Options, log: EventLog, report_out: Path | None = None, filter_out: Path | None = None) -> None:
    from seqclean.build import need
    from seqclean.html_report import ReportConfig, write_report
    from seqclean.stages import locked

    workdir = need(opts.inputs.workdir, "workdir")
    log.stage_start("report")
    with locked(workdir) if workdir.is_dir() else nullcontext():  # exit 8 while a run rewrites it
        page = write_report(ReportConfig(workdir=workdir, out=report_out, filter_out=filter_out))
    log.stage_end("report", path=str(page))
    log.result(f"report -> {page}", path=str(page))


@app.command("init")
def init_cli(
    out: Annotated[Path, typer.Option("--out", help="Where to write the example job file.")] = Path("job.toml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example job file with every option and its default (for `run --config`)."""

    def go() -> None:
        from seqclean.jobfile import example_toml

        if out.exists() and not force:
            raise UsageError(f"--out {out}: already exists; pass --force to overwrite it or choose another path")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(example_toml())
        except OSError as exc:
            raise OutputError(f"--out {out}: cannot write ({exc.strerror}); choose a writable path") from None
        typer.echo(f"wrote {out}; edit it, then: seqclean run --config {out}")

    guard(go, lambda: EventLog(resolve_format("auto")))


app.command("evaluate")(evaluate_cli)  # defined with its options in seqclean/evaluate/command.py


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
