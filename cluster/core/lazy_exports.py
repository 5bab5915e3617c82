"""A package's exported names, each loaded from its module when first used (PEP 562).

The `cluster` and `actors` packages export one flat surface drawn from many modules. Loading them all on
`import cluster` made every `clusterctl` call build the simulators, the state gossip and every actor's
messages first: about 270 frozen dataclasses and a third of a second before it could send one request.
With lazy exports, `from cluster import Simulation` still works as written, and a process pays only for
what it touches."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, modules: Mapping[str, tuple[str, ...]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The `__getattr__` and `__dir__` of `package`, which exports `modules[m]` from each module `m`.

    A name is imported on first access and then stored in the package, so later lookups are plain
    attribute reads and never reach `__getattr__` again."""
    origin = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = origin.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *origin})

    return __getattr__, __dir__
