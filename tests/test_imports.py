"""The package's imports run downhill: no import cycle (module- or function-level), chromadb only in store.py."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "newsrag"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_only(node: ast.AST) -> bool:
    """`if TYPE_CHECKING:` blocks never run: their imports are for annotations."""
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def imported_names(tree: ast.AST, *, runtime_only: bool) -> list[str]:
    """Every module an import statement names, at any depth (functions included)."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if runtime_only and _type_checking_only(node):
            for child in getattr(node, "orelse", []):
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found.extend(f"{node.module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the newsrag modules importing it runs. The root package is no target: every
    module sits under it, and its __init__ imports only lazily (PEP 562, newsrag/__init__.py)."""
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets: set[str] = set()
        for imported in imported_names(tree, runtime_only=True):
            # `import a.b.c` loads a and a.b as packages first: that is how packages load, and a
            # package's __init__ importing its own submodules is not a cycle. Count the module named.
            if imported in MODULES:
                targets.add(imported)
        graph[name] = targets - {name, "newsrag"}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return cycles


def test_the_walker_sees_module_and_function_level_imports() -> None:
    tree = ast.parse(
        "import newsrag.a\n"
        "from newsrag import b\n"
        "def f():\n    from newsrag.c import d\n"
        "if TYPE_CHECKING:\n    import newsrag.e\n"
    )
    assert imported_names(tree, runtime_only=True) == [
        "newsrag.a",
        "newsrag",
        "newsrag.b",
        "newsrag.c",
        "newsrag.c.d",
    ]
    assert find_cycles({"x": {"y"}, "y": {"z"}, "z": {"x"}, "w": {"x"}}) == [["x", "y", "z"]]


def test_no_import_cycle() -> None:
    graph = import_graph()
    assert "newsrag.assistant" in graph and "newsrag.engines.base" in graph
    assert find_cycles(graph) == []


def test_only_store_imports_chromadb() -> None:
    importers = sorted(
        name
        for name, path in MODULES.items()
        if any(
            each == "chromadb" or each.startswith("chromadb.")
            for each in imported_names(
                ast.parse(path.read_text(encoding="utf-8")), runtime_only=False
            )
        )
    )
    assert importers == ["newsrag.store"]
