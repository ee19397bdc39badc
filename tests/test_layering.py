"""Data flows one way: the lower layers never import the layers above or beside them.

``datasets/`` (recordings) and ``encoders/`` (models) meet only above them, in
``benchmarks/`` and the command line; ``alignment/`` takes arrays and knows neither.
Every import statement of every module is checked, those inside functions and under
``TYPE_CHECKING`` included, so a lazy import cannot cross a line unnoticed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "brainalign"

#: For each layer, the packages and modules its modules must not import.
FORBIDDEN = {
    "encoders": (
        "brainalign.datasets",
        "brainalign.benchmarks",
        "brainalign.report",
        "brainalign.cli",
    ),
    "alignment": (
        "brainalign.datasets",
        "brainalign.encoders",
        "brainalign.benchmarks",
        "brainalign.report",
        "brainalign.cli",
    ),
    "datasets": (
        "brainalign.encoders",
        "brainalign.benchmarks",
        "brainalign.report",
        "brainalign.cli",
    ),
}


def _imported(path: Path, root: Path = PACKAGE.parent) -> list[tuple[int, str]]:
    """(line, absolute name) of everything a file imports, relative imports resolved.

    ``from brainalign import datasets`` gives ``brainalign.datasets``: a name imported
    from a module is checked as ``module.name``, so importing a package counts too.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = path.relative_to(root).parts[:-1]  # a module's package, or an __init__'s own
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def _crosses(module: str, forbidden: tuple[str, ...]) -> bool:
    return any(module == name or module.startswith(name + ".") for name in forbidden)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_from_the_layers_it_must_not_know(layer):
    files = sorted((PACKAGE / layer).rglob("*.py"))
    assert files, f"no modules under brainalign/{layer}"
    crossings = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
        for path in files
        for line, module in _imported(path)
        if _crosses(module, FORBIDDEN[layer])
    ]
    assert not crossings, "\n".join(crossings)


def test_the_check_sees_imports_inside_functions_and_relative_ones(tmp_path):
    source = tmp_path / "brainalign" / "encoders" / "example.py"
    source.parent.mkdir(parents=True)
    source.write_text(
        "def f():\n"
        "    from brainalign.datasets.catalogue import load\n"
        "    from brainalign import report\n"
        "    from ..datasets import recording\n",
        encoding="utf-8",
    )
    modules = [module for _, module in _imported(source, root=tmp_path)]
    assert modules == [
        "brainalign.datasets.catalogue.load",
        "brainalign.report",
        "brainalign.datasets.recording",
    ]
    assert all(_crosses(module, FORBIDDEN["encoders"]) for module in modules)
