"""The option specs' shared checks and flag names (`seqclean.config`), apart so that the specs stay one short module.
Stdlib only, like the specs."""

from __future__ import annotations

from seqclean.errors import UsageError


def flag(name: str) -> str:
    """The CLI flag of a field: `min_seq_len` -> `--min-seq-len`."""
    return "--" + name.replace("_", "-")


def positive(name: str, value: int) -> None:
    if value < 1:
        raise UsageError(f"{flag(name)} {value}: must be at least 1")


def nonneg(name: str, value: int) -> None:
    if value < 0:
        raise UsageError(f"{flag(name)} {value}: must be 0 or more")


def unit(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise UsageError(f"{flag(name)} {value}: must be between 0 and 1")


def check_decoys(setting: str) -> None:
    """Usage error (exit 2) unless `setting` is `auto` or a share between 0 and 0.5."""
    text = str(setting).strip().lower()
    try:
        ok = text == "auto" or 0.0 <= float(text) <= 0.5
    except ValueError:
        ok = False
    if not ok:
        raise UsageError(f"--decoys {setting}: give auto or a share between 0 and 0.5 (0: none)")
