"""The TOML job file (`seqclean run --config job.toml`): read it into option values, and write the commented
example `seqclean init` gives. Both come from the specs in `seqclean.config`, so they cannot drift from the CLI."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any, get_type_hints

from seqclean.config import SECTIONS, base_type
from seqclean.errors import MissingInputError, UsageError


def _coerce(path: Path, section: str, key: str, value: Any, tp: Any) -> Any:
    """A TOML value as the field's type, or a UsageError naming the key and the file."""
    where = f"{path}: [{section}] {key}"
    want = base_type(tp)
    if want is bool:
        if isinstance(value, bool):
            return value
    elif want is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif want is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif want is Path:
        if isinstance(value, str) and value:
            p = Path(value).expanduser()
            return p if p.is_absolute() else (path.parent / p)
    elif want is str:
        if isinstance(value, str):
            return value
        if key == "text_cols" and isinstance(value, list) and all(isinstance(v, str) for v in value):
            return ",".join(value)
        if (
            key in ("threshold", "max_edits_per_user", "rounds", "decoys")
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            return str(value)
    raise UsageError(f"{where} = {value!r}: expected {getattr(want, '__name__', want)}; fix the value in the file")


def load_toml(path: Path) -> dict[str, Any]:
    """{field name: value} from a job file; unknown sections or keys are a UsageError naming them."""
    if not path.exists():
        raise MissingInputError(f"--config {path}: not found; write one with `seqclean init --out {path}`")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"{path}: not valid TOML ({exc}); fix the file or regenerate it with `seqclean init`"
        ) from None
    out: dict[str, Any] = {}
    for section, table in data.items():
        if section not in SECTIONS:
            raise UsageError(f"{path}: unknown section [{section}]; known sections: {', '.join(SECTIONS)}")
        if not isinstance(table, dict):
            raise UsageError(f"{path}: '{section}' must be a [{section}] table of options")
        spec = SECTIONS[section]
        hints = get_type_hints(spec)
        known = {f.name for f in dataclasses.fields(spec)}
        for key, value in table.items():
            if key not in known:
                raise UsageError(f"{path}: unknown key '{key}' in [{section}]; known keys: {', '.join(sorted(known))}")
            out[key] = _coerce(path, section, key, value, hints[key])
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return '"' + str(value) + '"'


def example_toml() -> str:
    """A commented job file with every option and its default (what `seqclean init` writes).

    Options without a default value (None) are written commented out; the input paths are examples."""
    examples = {
        "interactions": "sample_data/interactions.parquet",
        "items": "sample_data/items.parquet",
        "workdir": "work",
        "out": "out",
    }
    lines = [
        "# seqclean job file: `seqclean run --config job.toml`. Flags given on the command line override it.",
        "# Every key is the option of the same name (min_seq_len <-> --min-seq-len); unknown keys are an error.",
        "# Relative paths are relative to this file's directory.",
    ]
    for s, spec in SECTIONS.items():
        lines += ["", f"[{s}]", f"# {(spec.__doc__ or '').split(':', 1)[-1].strip()}"]
        for f in dataclasses.fields(spec):
            meta = f.metadata
            lines.append(f"# {meta['help']}")
            if f.name in examples:
                lines.append(f"{f.name} = {_toml_value(examples[f.name])}")
            elif f.default is None:
                lines.append(f"# {f.name} =")
            else:
                lines.append(f"{f.name} = {_toml_value(f.default)}")
    return "\n".join(lines) + "\n"
