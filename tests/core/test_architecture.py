"""The package's layers, read from the source (docs/architecture.md describes them).

* No private name (one leading underscore) is used outside the file that defines it, except
  through ``self``/``cls``: modules meet through public interfaces.
* No function-local import of a project module, no runtime import cycle, and runtime import
  chains of at most 9 modules (imports under ``TYPE_CHECKING`` do not count; a package's
  ``__init__`` counts as a module).
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_DEPTH = 9


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def names_defined(tree: ast.AST) -> set[str]:
    """Names a file defines: functions, classes, module and class attributes, attributes
    set on ``self``/``cls``, and ``__slots__`` entries."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
              and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            names.add(node.attr)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and node.value.startswith("_") and node.value.isidentifier()):
            names.add(node.value)
    return names


def foreign_private_uses(package: str) -> list[str]:
    found = []
    for path in python_files(package):
        tree = ast.parse(path.read_text())
        own = names_defined(tree)
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                name = node.attr
                through_self = (isinstance(node.value, ast.Name)
                                and node.value.id in ("self", "cls"))
                if (name.startswith("_") and not name.startswith("__") and not through_self
                        and name not in own):
                    found.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
            elif isinstance(node, ast.ImportFrom):
                found += [f"{where}:{node.lineno}: imports {alias.name}"
                          for alias in node.names
                          if alias.name.startswith("_") and not alias.name.startswith("__")]
    return found


def imported_module(current: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = current.split(".") if is_package else current.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def runtime_imports(package: str) -> tuple[dict[str, set[str]], list[str]]:
    """The runtime import graph between the package's modules, and the function-local
    imports of project modules."""
    modules = {module_name(p): p for p in python_files(package)}
    graph: dict[str, set[str]] = {}
    local: list[str] = []
    for name, path in modules.items():
        deps: set[str] = set()
        graph[name] = deps

        def visit(node: ast.AST, in_function: bool, name: str = name, path: Path = path,
                  deps: set[str] = deps) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                    for other in child.orelse:
                        visit(other, in_function)
                    continue
                if isinstance(child, ast.ImportFrom | ast.Import):
                    if isinstance(child, ast.ImportFrom):
                        target = imported_module(name, path.name == "__init__.py", child)
                        targets = [f"{target}.{a.name}" if f"{target}.{a.name}" in modules
                                   else target for a in child.names]
                    else:
                        targets = [a.name for a in child.names]
                    targets = [t for t in targets if t in modules and t != name]
                    if in_function and targets:
                        local.append(f"{path.relative_to(ROOT)}:{child.lineno}")
                    elif not in_function:
                        deps.update(targets)
                visit(child, in_function or isinstance(
                    child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))

        visit(ast.parse(path.read_text()), False)
    return graph, local


def longest_chain(graph: dict[str, set[str]]) -> list[str]:
    @functools.cache
    def chain(module: str) -> tuple[str, ...]:
        below = [chain(dep) for dep in graph[module]]
        return (module, *max(below, key=len, default=()))

    return list(max((chain(m) for m in graph), key=len))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}
    found: list[list[str]] = []

    def walk(module: str, stack: list[str]) -> None:
        state[module] = 1
        stack.append(module)
        for dep in sorted(graph[module]):
            if state.get(dep) == 1:
                found.append([*stack[stack.index(dep):], dep])
            elif dep not in state:
                walk(dep, stack)
        stack.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module, [])
    return found


@pytest.mark.parametrize("package", ["pondsocket", "pondsocket_tools/client"])
def test_no_private_name_is_used_outside_its_file(package: str) -> None:
    assert foreign_private_uses(package) == []


def test_the_core_has_no_function_local_imports_and_no_cycles() -> None:
    graph, local = runtime_imports("pondsocket")
    assert local == []
    assert cycles(graph) == []


def test_runtime_import_chains_are_at_most_nine_modules() -> None:
    graph, _ = runtime_imports("pondsocket")
    chain = longest_chain(graph)
    assert len(chain) <= MAX_DEPTH, " -> ".join(chain)


def test_the_checks_see_what_they_look_for(tmp_path: Path) -> None:
    """The checks above would notice a violation (they are not vacuous)."""
    tree = ast.parse("def f(other):\n    return other._secret\n")
    assert "_secret" not in names_defined(tree)
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert longest_chain({"a": {"b"}, "b": {"c"}, "c": set()}) == ["a", "b", "c"]
