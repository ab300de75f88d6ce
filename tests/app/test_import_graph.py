"""The import graph of tui/ and widgets/: no cycles, and the arrows go one way.

Every ``import`` and ``from ... import`` in every module counts, those inside functions
included (a deferred import still forms a cycle at run time); only the ones under
``if TYPE_CHECKING:`` are left out, since they never run. The direction rule is the one
DESIGN.md draws: ``tui.app -> widgets -> tui.core`` and ``tui.commands -> tui.core``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("tui", "widgets")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, here: str, is_package: bool, known: set[str]) -> set[str]:
    found: set[str] = set()

    def resolve(name: str) -> str | None:
        # The longest known module that the dotted name starts with.
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (target := resolve(alias.name)) is not None:
                    found.add(target)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = here if is_package else here.rpartition(".")[0]
                for _ in range(node.level - 1):
                    pkg = pkg.rpartition(".")[0]
                base = f"{pkg}.{base}" if base else pkg
            for alias in node.names:
                target = resolve(f"{base}.{alias.name}") or resolve(base)
                if target is not None:
                    found.add(target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard(here)
    return found


def import_graph() -> dict[str, set[str]]:
    """Each module of tui/ and widgets/ -> the modules of tui/ and widgets/ it imports."""
    modules = _modules()
    known = set(modules)
    return {
        name: _imports(ast.parse(path.read_text()), name, path.stem == "__init__", known)
        for name, path in modules.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return found


def test_the_graph_sees_deferred_imports() -> None:
    graph = import_graph()
    # tui.cli imports the app only inside a function (so --help stays fast).
    assert "tui.app" in graph["tui.cli"]
    assert len(graph) > 40


def test_a_cycle_is_found_when_there_is_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_the_arrows_go_one_way() -> None:
    wrong = []
    for module, targets in import_graph().items():
        for target in targets:
            if module.startswith("tui.core") and not target.startswith(("tui.core", "tui")):
                wrong.append((module, target))
            if module.startswith("tui.core") and target.startswith(("widgets", "tui.app")):
                wrong.append((module, target))
            if module.startswith(("tui.core", "tui.commands")) and target.startswith(
                ("widgets", "tui.app", "tui.palette", "tui.cli")
            ):
                wrong.append((module, target))
            if module.startswith("widgets") and target.startswith(
                ("tui.app", "tui.cli", "tui.commands", "tui.palette")
            ):
                wrong.append((module, target))
    assert sorted(set(wrong)) == []
