"""The SeqcleanError hierarchy. Library code raises these; only the CLI turns them into exit codes.

Every message names the file, column or option at fault and says how to fix it, on one line.
"""

from __future__ import annotations


class SeqcleanError(Exception):
    """Base class: an anticipated failure with a message meant for the user."""

    exit_code = 1


class UsageError(SeqcleanError):
    """An option or combination of options is invalid."""

    exit_code = 2


class MissingInputError(SeqcleanError):
    """A file, directory or workdir stage that the command needs does not exist."""

    exit_code = 3


class InputDataError(SeqcleanError):
    """An input exists but its content is wrong: schema, dtype, emptiness, corruption, unknown ids."""

    exit_code = 4


class OutputError(SeqcleanError):
    """An output path cannot be written."""

    exit_code = 5


class RuntimeUnavailableError(SeqcleanError):
    """The runtime lacks something: an optional dependency, a GPU that was asked for, a model file."""

    exit_code = 6


class UnreliableResultError(SeqcleanError):
    """The self-check gate found the scores meaningless (detector, backbone or alignment below its floor)."""

    exit_code = 7


class WorkdirLockedError(SeqcleanError):
    """Another live seqclean process holds the directory's lock."""

    exit_code = 8


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every `atomic_path` and lock cleans up on the way out."""


EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "internal error (a bug: please report it with the traceback from SEQCLEAN_DEBUG=1)",
    2: "usage error: an invalid option or combination of options",
    3: "missing input: a file, directory or earlier pipeline stage does not exist",
    4: "bad input data: wrong schema or dtype, empty, corrupt, or unknown item ids",
    5: "cannot write output",
    6: "environment: a missing optional dependency, model file or requested GPU",
    7: "result unreliable: the self-check gate refused to filter (more data, --scorer baseline-semantic, or --force)",
    8: "workdir locked: another seqclean run is using the workdir or output directory",
    130: "interrupted (SIGINT); no partial files are left, rerun to finish",
    143: "terminated (SIGTERM); no partial files are left, rerun to finish",
}

EXIT_NAMES: dict[int, str] = {
    0: "success",
    1: "internal error",
    2: "usage error",
    3: "missing input",
    4: "bad input data",
    5: "cannot write output",
    6: "environment",
    7: "result unreliable",
    8: "workdir locked",
    130: "interrupted",
    143: "terminated",
}
"""Short names for `seqclean --help`."""
