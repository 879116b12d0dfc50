"""The `seqclean` command line: options from `seqclean.config`, one library call per command, display via
`seqclean.log`.

No computation happens here, and no option is declared here: each command's options are generated from the
stage dataclasses in `seqclean.config` (names, types, defaults, help), so `run` takes every option of every
stage and a default exists once. Every command also takes `--config job.toml`; flags given on the command line
override the file. Library errors (`SeqcleanError`) become a one-line message (or a JSON `error` event) and
the exit code documented in the README; anything else is a bug (exit 1).
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from seqclean import __version__
from seqclean.config import SECTIONS, Options, field_specs, flag, load_toml
from seqclean.errors import EXIT_CODES, OutputError, SeqcleanError, UsageError
from seqclean.log import EventLog, resolve_format

app = typer.Typer(
    name="seqclean",
    help="Find and remove noisy interactions in sequential-recommendation logs before training.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    epilog="Exit codes: " + "; ".join(f"{k} {v.split(':')[0]}" for k, v in EXIT_CODES.items()),
)

ALL = None
"""In a command's field selection: every field of the section."""

# which options each command takes: section -> field names (ALL: the whole section)
EMBED_FIELDS: dict[str, tuple[str, ...] | None] = {
    "inputs": ("interactions", "items", "workdir"),
    "general": ALL,
    "embed": ALL,
    "backbone": ALL,
}
SCORE_FIELDS: dict[str, tuple[str, ...] | None] = {"inputs": ("workdir",), "general": ALL, "score": ALL}
FILTER_FIELDS: dict[str, tuple[str, ...] | None] = {
    "inputs": ("workdir", "out"),
    "general": ("log_format", "quiet"),
    "filter": ALL,
}
RUN_FIELDS: dict[str, tuple[str, ...] | None] = dict.fromkeys(SECTIONS, ALL)
CONFIG_HELP = "TOML job file with any of these options ([section] key = value); flags given here override it."


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


def selected(fields: dict[str, tuple[str, ...] | None]) -> list[tuple[str, dataclasses.Field[Any], Any]]:
    """(section, field, type) of the options a command takes, in section order."""
    return [
        (s, f, tp) for s, f, tp in field_specs() if s in fields and (fields[s] is None or f.name in (fields[s] or ()))
    ]


def _parameter(f: dataclasses.Field[Any], tp: Any) -> inspect.Parameter:
    """The Typer option of one spec field: `--name` (bools: `--name/--no-name`), its help and default."""
    meta = f.metadata
    help_text = meta["help"]
    if meta.get("choices"):
        help_text += f" [one of: {', '.join(meta['choices'])}]"
    decls = [flag(f.name)]
    if tp is bool:
        decls = [flag(f.name)] if meta.get("short") else [f"{flag(f.name)}/--no-{f.name.replace('_', '-')}"]
    if meta.get("short"):
        decls.append(meta["short"])
    annotation = Annotated[tp, typer.Option(*decls, help=help_text, show_default=f.default is not None)]
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=f.default)


def _from_command_line(ctx: typer.Context, name: str) -> bool:
    """Whether option `name` was given (so it overrides the TOML file), not left at its default."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def options_command(
    name: str, fields: dict[str, tuple[str, ...] | None], help: str
) -> Callable[[Callable[[Options, EventLog], None]], Callable[..., None]]:
    """Register command `name` with the spec options `fields` plus `--config`; the body gets the merged,
    validated `Options` (defaults < TOML file < command-line flags) and the command's `EventLog`."""
    specs = selected(fields)
    sections = tuple(s for s in SECTIONS if s in fields)
    names = {f.name for _, f, _ in specs}

    def deco(body: Callable[[Options, EventLog], None]) -> Callable[..., None]:
        def command(**kwargs: Any) -> None:
            ctx = kwargs.pop("ctx")
            config: Path | None = kwargs.pop("config")
            given = {k: v for k, v in kwargs.items() if _from_command_line(ctx, k)}
            log = EventLog(str(kwargs.get("log_format", "auto")), quiet=bool(kwargs.get("quiet", False)))

            def go() -> None:
                nonlocal log
                values: dict[str, Any] = {}
                if config is not None:
                    values.update({k: v for k, v in load_toml(config).items() if k in names})
                values.update(given)
                opts = Options.from_flat(values)
                log = EventLog(opts.general.log_format, quiet=opts.general.quiet)
                opts.validate(sections)
                body(opts, log)

            guard(go, lambda: log)

        params = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)]
        params += [_parameter(f, tp) for _, f, tp in specs]
        params.append(
            inspect.Parameter(
                "config",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)],
                default=None,
            )
        )
        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        command.__doc__ = help
        command.__name__ = f"{name}_cli"
        app.command(name)(command)
        return command

    return deco


def guard(fn: Callable[[], None], log: Callable[[], EventLog]) -> None:
    """Map library errors to a one-line message (or JSON `error` event) and the documented exit code."""

    def fail(message: str, code: int) -> None:
        log().emit("error", message=message, exit_code=code)
        raise typer.Exit(code)

    try:
        fn()
    except SeqcleanError as exc:
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        fail("interrupted; outputs already in place are complete, rerun to finish", 130)
    except typer.Exit:
        raise
    except Exception as exc:
        if os.environ.get("SEQCLEAN_DEBUG"):
            raise
        first = str(exc).splitlines()[0] if str(exc) else ""
        fail(
            f"internal error ({type(exc).__name__}: {first}); rerun with SEQCLEAN_DEBUG=1 for the traceback and "
            "report it",
            1,
        )


def check_paths(opts: Options, *names: str) -> None:
    """The named input paths exist (cheap: no data is read). Missing ones are exit 3."""
    from seqclean.errors import MissingInputError

    for n in names:
        p = getattr(opts.inputs, n)
        if p is None:
            raise UsageError(f"{flag(n)} is required: give it on the command line or as {n} in [inputs] of --config")
        if not Path(p).exists():
            raise MissingInputError(f"{flag(n)} {p}: does not exist; check the path")


@options_command(
    "embed", EMBED_FIELDS, "Validate the inputs, build sequences and embed every item (semantic, collaborative)."
)
def embed_cli(opts: Options, log: EventLog) -> None:
    from seqclean.config import embed_config
    from seqclean.embed import embed
    from seqclean.pipeline import embed_info

    check_paths(opts, "interactions", "items")
    cfg = embed_config(opts)
    log.stage_start("embed")
    with log.progress() as progress:
        r = embed(cfg, progress)
    info = embed_info(r)
    log.stage_end("embed", **info)
    on = f" on {r.provider}" if r.provider else ""
    log.result(
        f"embedded {r.n_items} items ({r.n_encoded} encoded{on}, {r.n_cached} from cache) for "
        f"{r.n_users} users / {r.n_interactions} interactions -> {cfg.workdir}",
        **info,
    )


@options_command(
    "score", SCORE_FIELDS, "Score every interaction's noise probability (writes scores, item report, summary)."
)
def score_cli(opts: Options, log: EventLog) -> None:
    from seqclean.config import score_config
    from seqclean.score import score

    cfg = score_config(opts)
    log.stage_start("score")
    with log.progress() as progress:
        r = score(cfg, progress)
    log.stage_end("score", interactions=r.n_interactions, flagged=r.n_flagged)
    log.result(
        f"scored {r.n_interactions} interactions; {r.n_flagged} flagged at threshold "
        f"{r.summary['threshold']} -> {cfg.workdir}",
        interactions=r.n_interactions,
        flagged=r.n_flagged,
    )


@options_command(
    "filter", FILTER_FIELDS, "Write the cleaned log (input schema), an audit of every change and a summary."
)
def filter_cli(opts: Options, log: EventLog) -> None:
    from seqclean.config import filter_config
    from seqclean.filter import filter_log

    cfg = filter_config(opts)
    log.stage_start("filter")
    r = filter_log(cfg)
    log.stage_end("filter", removed=r.n_removed, replaced=r.n_replaced, input=r.n_input)
    log.result(
        f"{r.summary['rule']['name']}: removed {r.n_removed}, replaced {r.n_replaced} of {r.n_input} "
        f"interactions -> {cfg.out}",
        removed=r.n_removed,
        replaced=r.n_replaced,
        input=r.n_input,
    )


@options_command("run", RUN_FIELDS, "embed + score + filter in one go (the nightly job); takes every stage's options.")
def run_cli(opts: Options, log: EventLog) -> None:
    from seqclean.config import embed_config, filter_config, score_config
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
        ("text vectors", f"{tv['encoded']} encoded, {tv['reused']} reused"),
        ("backbone", f"{bb.get('action', 'n/a')} ({bb.get('reason', '')})"),
        ("flagged", f"{r.score.n_flagged}"),
        ("rule", r.filter.summary["rule"]["name"]),
        ("removed / replaced", f"{r.filter.n_removed} / {r.filter.n_replaced}"),
        *((f"{k} seconds", f"{v['seconds']:.1f}") for k, v in r.stages.items()),
        ("output", str(fcfg.out)),
    ]
    log.result(
        f"{r.embed.n_interactions} interactions, {r.embed.n_users} users, {r.embed.n_items} items; "
        f"{r.filter.summary['rule']['name']}: removed {r.filter.n_removed}, replaced {r.filter.n_replaced} "
        f"-> {fcfg.out}",
        table=table,
        stages=r.stages,
    )


@app.command("init")
def init_cli(
    out: Annotated[Path, typer.Option("--out", help="Where to write the example job file.")] = Path("job.toml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example job file with every option and its default (for `run --config`)."""

    def go() -> None:
        from seqclean.config import example_toml

        if out.exists() and not force:
            raise UsageError(f"--out {out}: already exists; pass --force to overwrite it or choose another path")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(example_toml())
        except OSError as exc:
            raise OutputError(f"--out {out}: cannot write ({exc.strerror}); choose a writable path") from None
        typer.echo(f"wrote {out}; edit it, then: seqclean run --config {out}")

    guard(go, lambda: EventLog(resolve_format("auto")))


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
