"""Lazy re-exports for the subpackages' public faces: each name imported on first use.

``import brainalign.alignment`` (or ``encoders``, ``datasets``) must stay fast and must
not import torch, transformers or scikit-learn. A package lists the names users call
and the module each is defined in; :func:`lazy_exports` gives it the module-level
``__getattr__`` and ``__dir__`` (PEP 562) that import a name's module the first time
the name is used.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package that re-exports names lazily.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping of str to str
        Each public name and the module that defines it under the same name.

    Returns
    -------
    getattr_, dir_ : callable
        To assign to the package's ``__getattr__`` and ``__dir__``. A name's module is
        imported on first access and the value kept in the package's namespace; any
        other name raises ``AttributeError`` (so ``from package import submodule``
        still imports the submodule).
    """

    def getattr_(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    def dir_() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports})

    return getattr_, dir_
