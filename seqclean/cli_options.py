"""How the CLI is built from the option specs (`seqclean.config`): which options each command takes, the
Typer parameters generated from the spec fields, `--config` merging (defaults < TOML file < flags), and
`guard`, which turns library errors into the one-line message (or JSON `error` event) and exit code of the
README. No option is declared by hand anywhere, so `run` takes every stage's options and a default exists once."""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Callable
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from seqclean.cli_runtime import Command, guard
from seqclean.config import SECTIONS, Options, field_specs, flag
from seqclean.errors import MissingInputError, UsageError
from seqclean.jobfile import load_toml
from seqclean.log import EventLog

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
    "general": ("log_format", "quiet", "rerun"),
    "filter": ALL,
}
RUN_FIELDS: dict[str, tuple[str, ...] | None] = dict.fromkeys(SECTIONS, ALL)
REPORT_FIELDS: dict[str, tuple[str, ...] | None] = {"inputs": ("workdir",), "general": ("log_format", "quiet")}
LOG_FORMAT_ENV = "SEQCLEAN_LOG_FORMAT"
"""Environment variable that sets `--log-format` when the flag is not given (it still beats the job file)."""
CONFIG_HELP = "TOML job file with any of these options ([section] key = value); flags given here override it."


def selected(fields: dict[str, tuple[str, ...] | None]) -> list[tuple[str, dataclasses.Field[Any], Any]]:
    """(section, field, type) of the options a command takes, in section order."""
    return [
        (s, f, tp) for s, f, tp in field_specs() if s in fields and (fields[s] is None or f.name in (fields[s] or ()))
    ]


def _parameter(f: dataclasses.Field[Any], tp: Any) -> inspect.Parameter:
    """The Typer option of one spec field: `--name` (bools: `--name/--no-name`), its help and default."""
    meta = f.metadata
    help_text = meta["help"]
    default = f.default
    if meta.get("choices"):  # an enum, so that --help shows <a|b> and click rejects other values (exit 2)
        tp = StrEnum(f.name, {c: c for c in meta["choices"]})  # type: ignore[misc,no-redef]
        default = tp(f.default)
    decls = [flag(f.name)]
    if tp is bool:
        decls = [flag(f.name)] if meta.get("short") else [f"{flag(f.name)}/--no-{f.name.replace('_', '-')}"]
    if meta.get("short"):
        decls.append(meta["short"])
    annotation = Annotated[tp, typer.Option(*decls, help=help_text, show_default=f.default is not None)]
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)


def _from_command_line(ctx: typer.Context, name: str) -> bool:
    """Whether option `name` was given (so it overrides the TOML file), not left at its default."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def log_format_choice(ctx: typer.Context, value: str) -> str | None:
    """`--log-format` when given on the command line, else `SEQCLEAN_LOG_FORMAT` when set, else None (the TOML
    file's or the default). One rule for every command, `evaluate` included."""
    if _from_command_line(ctx, "log_format"):
        return value
    return os.environ.get(LOG_FORMAT_ENV) or None


def options_command(
    app: typer.Typer,
    name: str,
    fields: dict[str, tuple[str, ...] | None],
    help: str,
    extra: dict[str, tuple[Any, Any]] | None = None,
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register command `name` with the spec options `fields` plus `--config`; the body gets the merged,
    validated `Options` (defaults < TOML file < command-line flags), the command's `EventLog`, and the
    command's own `extra` options ({name: (type, typer.Option)}, default None) that are not stage options."""
    extra = extra or {}
    specs = selected(fields)
    sections = tuple(s for s in SECTIONS if s in fields)
    names = {f.name for _, f, _ in specs}

    def deco(body: Callable[..., None]) -> Callable[..., None]:
        def command(**kwargs: Any) -> None:
            ctx = kwargs.pop("ctx")
            config: Path | None = kwargs.pop("config")
            own = {k: kwargs.pop(k) for k in extra}
            kwargs = {k: (v.value if isinstance(v, Enum) else v) for k, v in kwargs.items()}
            given = {k: v for k, v in kwargs.items() if _from_command_line(ctx, k)}
            chosen = log_format_choice(ctx, str(kwargs["log_format"])) if "log_format" in kwargs else None
            if chosen is not None:
                kwargs["log_format"] = given["log_format"] = chosen
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
                body(opts, log, **own)

            guard(go, lambda: log)

        params = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)]
        params += [_parameter(f, tp) for _, f, tp in specs]
        params += [
            inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[tp, o], default=None)
            for k, (tp, o) in extra.items()
        ]
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
        app.command(name, cls=Command)(command)
        return command

    return deco


def check_paths(opts: Options, *names: str) -> None:
    """The named input paths exist (cheap: no data is read). Missing ones are exit 3."""
    for n in names:
        p = getattr(opts.inputs, n)
        if p is None:
            raise UsageError(f"{flag(n)} is required: give it on the command line or as {n} in [inputs] of --config")
        if not Path(p).exists():
            raise MissingInputError(f"{flag(n)} {p}: does not exist; check the path")
