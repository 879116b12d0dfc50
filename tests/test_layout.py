"""The layout rules of docs/architecture.md, checked on the source: no import cycles between seqclean
modules (imports inside functions and under TYPE_CHECKING count too), every module short and saying
what it owns, and every workdir file named in `seqclean.workdir` only."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "seqclean"
MAX_LINES = 300


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _imports(path: Path, known: set[str]) -> set[str]:
    """seqclean modules imported anywhere in `path` (a `from pkg import mod` counts as importing mod)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in known:
                out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in known)
    return out


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {m: _imports(p, known) - {m} for m, p in mods.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                return stack[stack.index(d) :] + [d]
            if d not in state and (c := visit(d)):
                return c
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (c := visit(m)):
            return c
    return None


def test_find_cycle_sees_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycles() -> None:
    graph = import_graph()
    assert "seqclean.scorers.iadsr" in graph and "seqclean.score" in graph["seqclean.cli"]
    assert find_cycle(graph) is None


def test_modules_are_short_and_say_what_they_own() -> None:
    for name, path in _modules().items():
        text = path.read_text()
        assert len(text.splitlines()) <= MAX_LINES, f"{name}: over {MAX_LINES} lines; split it"
        assert ast.get_docstring(ast.parse(text)), f"{name}: no module docstring"


def test_workdir_file_names_live_in_one_module() -> None:
    names = "sequences|items|semantic|scores|item_report|cleaned|removed|changes|decoys"
    literal = re.compile(rf"""["']({names})\.parquet["']""")
    offenders = [
        name for name, path in _modules().items() if name != "seqclean.workdir" and literal.search(path.read_text())
    ]
    assert offenders == []
