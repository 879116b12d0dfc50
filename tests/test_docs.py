"""The README documents every command and exit code, and CI runs the README's own set-up commands."""

from __future__ import annotations

from pathlib import Path

from seqclean.cli import app
from seqclean.errors import EXIT_CODES

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_command_documented() -> None:
    names = [c.name for c in app.registered_commands]
    assert names
    for name in names:
        assert f"### `seqclean {name}`" in README, name


def test_every_exit_code_documented() -> None:
    for code in EXIT_CODES:
        assert f"| {code} |" in README, code


def test_two_setup_commands() -> None:
    assert README.count("<!-- setup-1 -->") == 1 and README.count("<!-- setup-2 -->") == 1
