"""The package's imports form no cycle, and imports made inside functions (which can hide
one) are only the few listed here, each with its reason.

Read from the source with `ast`, so nothing is imported. An edge goes from a module to the
module it names (`from pkg import sub` names `pkg.sub` when that is a module); the
implicit import of a parent package is left out, or every `__init__` that re-exports its
modules would count as a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

PACKAGE: Final = "loyalty_progress"
SOURCE: Final = Path(__file__).resolve().parents[2] / "src" / PACKAGE

_HELP: Final = "`--help` answers in about 0.05 s; this module takes 0.1-0.6 s to import"


def _deferred(importer: str, reason: str, *imported: str) -> dict[tuple[str, str], str]:
    return {(f"{PACKAGE}.{importer}", f"{PACKAGE}.{name}"): reason for name in imported}


# Imports inside functions, by (importing module, imported module), and why each stays;
# each site also says so in a comment with its measured cost.
DEFERRED: Final[dict[tuple[str, str], str]] = {
    **_deferred(
        "cli",
        _HELP,
        "api.auth",
        "definitions.cache",
        "definitions.loader",
        "embedded",
        "store.challenges",
        "store.definitions",
        "store.migrate",
        "worker.app",
        "worker.registry",
        "worker.relay",
        "worker.scheduler",
    ),
    **_deferred(
        "local_services",
        f"imported by every command: {_HELP}",
        "embedded",
        "store.database",
        "store.migrate",
    ),
    **_deferred("demo.command", _HELP, "demo.runner", "demo.scenario"),
    **_deferred("docs_command", _HELP, "apidocs"),
    **_deferred(
        "replay.cli",
        _HELP,
        "replay.job",
        "replay.recompute",
        "replay.source",
        "store.replay_jobs",
        "worker.retry",
    ),
}


@dataclass(frozen=True, slots=True)
class Import:
    importer: str
    imported: str
    deferred: bool  # made inside a function, so only when it runs
    line: int


def _module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    found = {_module_name(p): p for p in SOURCE.rglob("*.py")}
    return {name: path for name, path in found.items() if ".migrations." not in f"{name}."}


def _targets(node: ast.Import | ast.ImportFrom, known: set[str]) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    assert node.level == 0, "the package imports by absolute name"
    base = node.module or ""
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]


def _walk(tree: ast.AST, inside_function: bool = False) -> Iterator[tuple[ast.stmt, bool]]:
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, inside_function
        nested = inside_function or isinstance(
            child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
        )
        yield from _walk(child, nested)


def imports() -> list[Import]:
    known = set(modules())
    found: list[Import] = []
    for name, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node, deferred in _walk(tree):
            assert isinstance(node, ast.Import | ast.ImportFrom)
            for target in _targets(node, known):
                if target in known:
                    found.append(Import(name, target, deferred, node.lineno))
    return found


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph (its modules, the first repeated at the end), or None."""
    state: dict[str, str] = {}  # "open" while on the path, "done" once fully explored
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def _graph(found: list[Import]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for item in found:
        if item.importer != item.imported:
            edges.setdefault(item.importer, set()).add(item.imported)
    return edges


def test_the_cycle_finder_finds_a_cycle_and_only_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_package_imports_form_no_cycle_even_counting_imports_inside_functions() -> None:
    found = imports()
    assert len(found) > 300  # the walk sees the package
    assert find_cycle(_graph(found)) is None


def test_imports_inside_functions_are_only_the_listed_ones() -> None:
    deferred = {(i.importer, i.imported) for i in imports() if i.deferred}
    unlisted = sorted(deferred - DEFERRED.keys())
    stale = sorted(DEFERRED.keys() - deferred)
    assert not unlisted, f"deferred imports without a reason in DEFERRED: {unlisted}"
    assert not stale, f"DEFERRED names imports the code no longer makes: {stale}"
