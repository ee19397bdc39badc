"""What a result row is lives in columns: no code parses it back out of a model name.

Every module of the package is parsed with ``ast``; a string operation (``endswith``,
``startswith``, ``in``, ``partition``, ``split``, ``replace``, ``removesuffix``, ...) on a
literal that names an untrained twin or a control (``"@untrained"``, ``"untrained"``,
``"control:"``, ``"nuisance:"``) is a place where a name is parsed. The one place that
reads a user's ``MODEL@untrained`` input is ``encoders/models.py::split_model_spec``;
nothing downstream of it may parse names.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "brainalign"
MARKERS = ("untrained", "control:", "nuisance:")
STRING_METHODS = {
    "endswith", "startswith", "partition", "rpartition", "split", "rsplit", "replace",
    "removesuffix", "removeprefix", "find", "rfind", "index", "count",
}  # fmt: skip
ALLOWED = {("encoders/models.py", "split_model_spec")}


def _marked(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and any(marker in node.value for marker in MARKERS)
        and node.value not in ("untrained", "pretrained")  # the weights column's values
    ) or (isinstance(node, ast.Tuple | ast.List) and any(_marked(element) for element in node.elts))


def _parsing_sites(tree: ast.AST) -> list[tuple[int, str]]:
    sites = []
    functions = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for child in ast.walk(node):
                functions.setdefault(id(child), node.name)
    for node in ast.walk(tree):
        parsed = False
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            parsed = node.func.attr in STRING_METHODS and any(_marked(a) for a in node.args)
        elif isinstance(node, ast.Compare):
            contains = any(isinstance(op, ast.In | ast.NotIn) for op in node.ops)
            parsed = contains and _marked(node.left)
        if parsed:
            sites.append((node.lineno, functions.get(id(node), "<module>")))
    return sites


def test_no_module_parses_a_control_or_twin_out_of_a_name():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        for line, function in _parsing_sites(ast.parse(path.read_text(encoding="utf-8"))):
            if (relative, function) not in ALLOWED:
                found.append(f"{relative}:{line} ({function})")
    assert not found, f"model names parsed for their role: {found}"


def test_the_check_finds_what_it_looks_for():
    code = (
        "def f(name, rows):\n"
        "    a = name.endswith('@untrained')\n"
        "    b = rows['model'].str.startswith(('control:', 'nuisance:'))\n"
        "    c = 'control:' in name\n"
        "    d = name.replace('@untrained', '')\n"
        "    e = rows['weights'] == 'untrained'\n"  # a column value: allowed
    )
    assert [line for line, _ in _parsing_sites(ast.parse(code))] == [2, 3, 4, 5]
