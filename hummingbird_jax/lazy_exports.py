"""Package facades whose names are imported on first use (PEP 562), for packages whose modules pull in
heavy dependencies (Grain, Orbax, TFDS) that a light submodule or ``hummingbird --help`` should not load."""

from __future__ import annotations

import importlib
import sys
from typing import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], object], list[str]]:
    """``(__getattr__, __all__)`` for ``package``, whose public ``name`` lives in ``package.exports[name]``.
    A name is imported from its module the first time it is read and then cached on the package."""

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__, sorted(exports)
