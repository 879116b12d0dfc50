"""How every command runs and fails: the click command class that turns usage errors into one line,
`guard` (library errors, Ctrl-C and SIGTERM to the README's exit codes) for the commands not generated
from the option specs (`evaluate`), and the result-line helpers. Fixed choices live in `seqclean.config`.

Why a module of its own: `cli.py` stays a list of thin commands and `cli_options.py` a list of options;
the behaviour shared by all commands (signals, exit codes, one-line errors) lives here once.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand

from seqclean.errors import EXIT_NAMES, SeqcleanError, Terminated
from seqclean.log import EventLog

EXIT_EPILOG = "Exit codes: " + "; ".join(f"{k} {v}" for k, v in EXIT_NAMES.items()) + "."

_USAGE_ERROR: type[Exception] = typer.BadParameter.__mro__[1]  # Typer's (vendored) click UsageError


class Command(TyperCommand):
    """Click's usage errors (bad choice, unknown or missing option) as one `error: ...` line, exit 2,
    like every other seqclean error."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except _USAGE_ERROR as exc:
            message = exc.format_message()  # type: ignore[attr-defined]
            typer.echo(f"error: {message} (see seqclean {self.name} --help)", err=True)
            raise typer.Exit(2) from None


def reused_note(stages: list[str]) -> str:
    return f" (reused: {', '.join(stages)})" if stages else ""


def filter_line(r: Any, out: Path) -> str:
    """The one line `filter` and `run` print."""
    forced = " (forced past the self-check gate)" if r.summary.get("forced") else ""
    return (
        f"{r.summary['rule']['name']}: removed {r.n_removed}, replaced {r.n_replaced} of {r.n_input} "
        f"interactions -> {out}{forced}"
    )


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


def guard(fn: Callable[[], None], log: Callable[[], EventLog] = lambda: EventLog("rich")) -> None:
    """Map library errors to a one-line message (or JSON `error` event) and the documented exit code.

    SIGTERM is turned into an exception (like Ctrl-C) so that every temp file and lock is cleaned up on the way
    out: no partial files, exit 143 (130 for SIGINT). The one error path of every command.
    """

    def fail(message: str, code: int) -> None:
        log().emit("error", message=message, exit_code=code)
        raise typer.Exit(code)

    # SIGTERM as an exception (like Ctrl-C) so that every temp file and lock is cleaned up on the way out
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if main_thread else None
    try:
        fn()
    except SeqcleanError as exc:
        fail(str(exc), exc.exit_code)
    except Terminated:
        fail("terminated (SIGTERM); no partial files were left, rerun to finish", 143)
    except KeyboardInterrupt:
        fail("interrupted; no partial files were left, rerun to finish", 130)
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
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
