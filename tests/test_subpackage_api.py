"""The subpackages' public faces: every name in ``__all__`` resolves, imports stay light."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

#: Packages whose ``__all__`` is their public face (the first five load lazily).
PACKAGES = (
    "brainalign.alignment",
    "brainalign.encoders",
    "brainalign.datasets",
    "brainalign.benchmarks",
    "brainalign.report",
    "brainalign.alignment.stats",
    "brainalign.encoders.store",
    "brainalign.results",
    "brainalign.planning",
)
HEAVY = ("torch", "transformers")


@pytest.mark.parametrize("name", PACKAGES)
def test_every_name_in_all_resolves(name):
    package = importlib.import_module(name)
    assert len(package.__all__) == len(set(package.__all__)), "a name repeats in __all__"
    missing = [attr for attr in package.__all__ if getattr(package, attr, None) is None]
    assert not missing, f"{name}.__all__ names that do not resolve: {missing}"
    assert set(package.__all__) <= set(dir(package))


@pytest.mark.parametrize(
    ("name", "child"),
    [
        ("brainalign.alignment", "rsa"),
        ("brainalign.encoders", "features"),
        ("brainalign.datasets", "recording"),
        ("brainalign.benchmarks", "registry"),
        ("brainalign.report", "plots"),
    ],
)
def test_unknown_names_raise_and_submodules_still_import(name, child):
    package = importlib.import_module(name)
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        package.not_a_name  # noqa: B018
    assert importlib.import_module(f"{name}.{child}") is getattr(package, child)


@pytest.mark.parametrize("name", PACKAGES)
def test_import_does_not_pull_in_torch_or_transformers(name):
    code = f"import sys, {name}; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"import {name} imported {out.stdout.strip()}"


@pytest.mark.parametrize("name", PACKAGES)
def test_no_public_name_is_shadowed_by_a_submodule(name):
    """Importing ``package.x`` sets the attribute ``x`` to the module, so a public name
    equal to a submodule's name would turn into that module once anything imports it."""
    import pkgutil

    package = importlib.import_module(name)
    submodules = {info.name for info in pkgutil.iter_modules(package.__path__)}
    shadowed = sorted(set(package.__all__) & submodules)
    assert not shadowed, f"{name}: public names equal to submodule names: {shadowed}"
