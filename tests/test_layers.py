"""The engine's layers, read from the source with `ast` (nothing is imported):

- no import cycle among the modules of `index/`. Edges are the imports that run when a module is imported:
  module-level `import` / `from ... import` statements, including those inside module-level `try`/`if`
  blocks, but NOT those under `if TYPE_CHECKING:` (they never run) and not the imports inside functions
  (lazy: they run after every module involved is loaded). A package's `__init__` is an edge only where it is
  imported by name;
- storage at the bottom: nothing in `index/storage/` imports (at any level, TYPE_CHECKING and function-level
  imports included) from the stage packages or the facade: only `index._rows`, `_models`, `_errors`,
  `_settings`, `index.storage.*` and third-party modules;
- portable SQL once: no SQL statement text appears in both `index/storage/sqlite/` and
  `index/storage/postgres/` (placeholders and whitespace normalised).

Also runnable on its own: `python tests/test_layers.py` prints what it finds and exits non-zero on a finding.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INDEX = ROOT / "index"
STAGES = ("index.reading", "index.embedding", "index.indexing", "index.answering", "index.operations")
STORAGE_MAY_IMPORT = ("index._rows", "index._models", "index._errors", "index._settings", "index.storage")
SQL_START = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)
PLACEHOLDER = re.compile(r"%\([a-z_]+\)s|%s|\?")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def index_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(INDEX.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(node: ast.Import | ast.ImportFrom, known: dict[str, Path]) -> Iterator[str]:
    """The modules an import statement names (for `from a.b import c`: `a.b.c` when it is a module, else `a.b`)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        yield candidate if candidate in known else base


def runtime_imports(tree: ast.Module, known: dict[str, Path]) -> set[str]:
    """Modules imported when this module is imported (see the module docstring for what counts)."""
    found: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for statement in statements:
            if isinstance(statement, ast.Import | ast.ImportFrom):
                found.update(_imported(statement, known))
            elif isinstance(statement, ast.If):
                if not _is_type_checking(statement.test):
                    visit(statement.body)
                visit(statement.orelse)
            elif isinstance(statement, ast.Try):
                visit(statement.body)
                for handler in statement.handlers:
                    visit(handler.body)
                visit(statement.orelse)
                visit(statement.finalbody)

    visit(tree.body)
    return found


def all_imports(tree: ast.Module, known: dict[str, Path]) -> set[str]:
    """Every module named by an import anywhere in the file (functions and TYPE_CHECKING included)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.update(_imported(node, known))
    return found


def import_cycles() -> list[list[str]]:
    """Each cycle among `index` modules once (as found by depth-first search), as a path from a module back to it."""
    known = index_modules()
    graph = {
        name: sorted(m for m in runtime_imports(ast.parse(path.read_text()), known) if m in known and m != name)
        for name, path in known.items()
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for target in graph[name]:
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[name] = 2

    for name in graph:
        if name not in state:
            visit(name)
    return cycles


def storage_imports_from_above() -> list[str]:
    known = index_modules()
    found = []
    for name, path in known.items():
        if not name.startswith("index.storage"):
            continue
        for imported in sorted(all_imports(ast.parse(path.read_text()), known)):
            if (imported == "index" or imported.startswith("index.")) and not imported.startswith(STORAGE_MAY_IMPORT):
                found.append(f"{name} imports {imported}")
    return found


def _literal_text(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            elif isinstance(value, ast.FormattedValue):
                parts.append("{" + ast.unparse(value.value) + "}")
        return "".join(parts)
    return None


def normalise_sql(text: str) -> str:
    return " ".join(PLACEHOLDER.sub("?", text).split())


def sql_statements(folder: Path) -> dict[str, list[str]]:
    """The SQL string literals of a backend's modules (normalised), each with where it is written."""
    found: dict[str, list[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        tree = ast.parse(path.read_text())
        parts = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr | ast.Constant) and id(node) not in parts:  # an f-string as a whole
                text = _literal_text(node)
                if text is not None and SQL_START.match(text):
                    place = f"{path.relative_to(ROOT)}:{node.lineno}"
                    found.setdefault(normalise_sql(text), []).append(place)
    return found


def duplicated_sql() -> list[str]:
    """Statements written in both backends: one line each, with both places."""
    sqlite = sql_statements(INDEX / "storage" / "sqlite")
    postgres = sql_statements(INDEX / "storage" / "postgres")
    return [f"{sqlite[text][0]} = {postgres[text][0]}: {text[:90]}" for text in sorted(sqlite.keys() & postgres.keys())]


# ---- tests -----------------------------------------------------------------------------------------------


def test_no_import_cycle_among_index_modules() -> None:
    assert import_cycles() == []


def test_storage_imports_nothing_from_the_stages_or_the_facade() -> None:
    assert storage_imports_from_above() == []


def test_no_sql_statement_is_written_in_both_backends() -> None:
    assert duplicated_sql() == []


def test_the_checks_find_what_they_look_for() -> None:
    """The helpers can fail: a cycle, a stage import and a shared statement are each found in made-up source."""
    known = {"index.a": Path("a.py"), "index.b": Path("b.py")}
    tree = ast.parse(
        "from typing import TYPE_CHECKING\nimport index.b\nif TYPE_CHECKING:\n    import index.c\n"
        "def f():\n    import index.d\n"
    )
    assert runtime_imports(tree, known) == {"typing", "index.b"}
    assert all_imports(tree, known) == {"typing", "index.b", "index.c", "index.d"}
    assert normalise_sql("SELECT a FROM t\n WHERE x = %s AND y = %(y)s") == normalise_sql(
        "SELECT a FROM t WHERE x = ? AND y = ?"
    )
    literal = ast.parse('f"SELECT {COLUMNS} FROM t WHERE id = ?"').body[0]
    assert isinstance(literal, ast.Expr) and _literal_text(literal.value) == "SELECT {COLUMNS} FROM t WHERE id = ?"
    assert all(name in index_modules() for name in ("index._rows", "index.storage.base", "index.storage.sqlite"))


def main() -> int:
    findings = {
        "import cycles": [" -> ".join(cycle) for cycle in import_cycles()],
        "storage importing from above it": storage_imports_from_above(),
        "SQL written in both backends": duplicated_sql(),
    }
    for title, lines in findings.items():
        print(f"{title}: {len(lines)}")
        for line in lines:
            print(f"  {line}")
    return 1 if any(findings.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
