"""The package layout's rules, read from the source: layers, no import circle, no hidden import, small parts.

Each fact here can be false: a new module that imports a higher layer, a function-local import of an ffnlab
module, a module over 450 lines or a function over 60 fails the suite, naming where.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
# Bottom to top: a module may import its own layer and the layers below it, never one above.
LAYERS = {"errors": 0, "io": 0, "quiet": 0, "": 0, "model": 1, "data": 1, "runs": 2, "report": 3, "studies": 4,
          "cli": 5, "bench": 5}
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 450, 60
# The imports allowed inside a function, each with its reason (the rule: none, but for a measured cost).
LAZY = {("ffnlab.cli.train", "ffnlab.runs.job"): "ffnlab-train answers a bad command line before Lightning's "
                                                 "imports (import ffnlab.cli.train: 3.7 s without them, 12.5 s "
                                                 "with, on a loaded 2-core machine)"}
BUILTIN_ERRORS = {"ValueError", "RuntimeError", "TypeError", "KeyError", "Exception", "OSError", "IOError"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / "ffnlab").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _target(name: str) -> str | None:
    """The ffnlab module an import names (`ffnlab.runs.record.RunRecord` → ffnlab.runs.record), else None."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, text: str | None = None) -> list[tuple[str, int, bool]]:
    """(imported ffnlab module, line, inside a function) for every import statement of `module` (or of `text`, read
    as that module's source)."""
    tree = ast.parse(MODULES[module].read_text() if text is None else text)
    inner = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
             for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    package = module if module in MODULES and MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            target = _target(name) if name.startswith("ffnlab") else None
            if target and target != module:
                found.append((target, node.lineno, id(node) in inner))
    return sorted(found, key=lambda f: f[1])


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS[parts[1] if len(parts) > 1 else ""]


def test_the_layout_is_what_the_rules_read():
    assert {m.split(".")[1] for m in MODULES if "." in m} == set(LAYERS) - {""}
    assert len(MODULES) > 50  # the walk found the package


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_its_own_layer_and_those_below(module):
    up = [f"{t} (line {line})" for t, line, _ in _imports(module) if _layer(t) > _layer(module)]
    assert not up, f"{module} imports a higher layer: {', '.join(up)}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_function_local_import_of_an_ffnlab_module(module):
    hidden = [f"{t} (line {line})" for t, line, inner in _imports(module) if inner and (module, t) not in LAZY]
    assert not hidden, f"{module} hides imports inside functions: {', '.join(hidden)}; import them at the top"


def test_no_import_circle():
    graph = {m: {t for t, _, _ in _imports(m)} for m in MODULES}
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                raise AssertionError("import circle: " + " → ".join(path[path.index(t):] + [t]))
            if t not in state:
                visit(t, path + [t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_small_modules_and_functions(module):
    text = MODULES[module].read_text()
    assert text.count("\n") <= MAX_MODULE_LINES, f"{module}: {text.count(chr(10))} lines (at most {MAX_MODULE_LINES})"
    functions = [n for n in ast.walk(ast.parse(text)) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    long = [f"{n.name} ({n.end_lineno - n.lineno + 1} lines)" for n in functions
            if n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{module}: functions over {MAX_FUNCTION_LINES} lines: {', '.join(long)}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if MODULES[m].name == "__init__.py"))
def test_every_package_says_what_it_holds(module):
    doc = ast.get_docstring(ast.parse(MODULES[module].read_text()))
    assert doc and len(doc.split()) >= 20, f"{module}: a package needs a paragraph saying what it holds"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_error_raised_on_purpose_is_an_ffnlab_error(module):
    raised = [f"{n.exc.func.id} (line {n.lineno})" for n in ast.walk(ast.parse(MODULES[module].read_text()))
              if isinstance(n, ast.Raise) and isinstance(n.exc, ast.Call) and isinstance(n.exc.func, ast.Name)
              and n.exc.func.id in BUILTIN_ERRORS]
    assert not raised, f"{module} raises built-in errors: {', '.join(raised)}; raise an ffnlab.errors class"


def test_the_rules_catch_what_they_forbid():
    """The walk sees a function-local import, an upward one and a relative one (a rule that cannot fail proves
    nothing)."""
    found = _imports("ffnlab.model.probe", "from ffnlab.errors import ConfigError\n"
                                           "def f():\n    from ffnlab.runs import record\n    return record\n"
                                           "from ..data import corpora\n")
    assert found == [("ffnlab.errors", 1, False), ("ffnlab.runs.record", 3, True), ("ffnlab.data.corpora", 5, False)]
    assert _layer("ffnlab.runs.record") > _layer("ffnlab.model.probe")
