"""The shape of the package: no import cycle among blogkeeper's modules, counting imports
made inside functions too, and no private name of another package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "blogkeeper"


def imports() -> dict[str, set[str]]:
    """Each blogkeeper module and the blogkeeper modules it imports, anywhere in it."""
    graph: dict[str, set[str]] = {}
    names = {path.stem for path in PACKAGE.glob("*.py")}
    for path in PACKAGE.glob("*.py"):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "blogkeeper":
                found |= {alias.name for alias in node.names if alias.name in names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("blogkeeper."):
                found.add(node.module.split(".")[1])  # type: ignore[union-attr]
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("blogkeeper."):
                        found.add(alias.name.split(".")[1])
        graph[path.stem] = found - {path.stem, "__init__"}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle found by a depth-first walk (each reported once per start)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = imports()
    assert "model" in graph and "build" in graph  # the walk found the package
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_model_imports_no_feature_module() -> None:
    assert imports()["model"] <= {"config", "errors"}
    assert imports()["urls"] <= {"config", "model"}


PRIVATE = re.compile(
    r"re\._(parser|constants|compiler)|_HTMLParser__|\._tokens\b|_preprocess_lexer_input"
    r"|_format_lines|_TokenType|\bfrom (pygments|markdown2|jinja2|feedgen|frontmatter|lxml"
    r"|html\.parser)[\w.]* import [^#\n]*\b_[a-zA-Z]"
)


def test_no_private_name_of_another_package() -> None:
    used = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if PRIVATE.search(line)
    ]
    assert used == []
