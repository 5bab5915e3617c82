"""The cyclic garbage collector, held to its young generations while a simulation runs.

A simulated cluster of N nodes keeps some N² members alive (every node holds every member), as immutable
values that form no reference cycles: reference counting frees them. Python's full collections still walk
every one of them, each time the surviving objects grow by a quarter (the rule of CPython's `gc` for the
oldest generation), so a 1,000-node start paid for several walks over a million members: 1.7 s of the 6 s
the start's second of virtual time took. The young generations are still collected as usual, so cycles
among new objects go as before; one that reaches the oldest generation waits for the first full
collection after the run.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["young_collections_only"]

_NEVER = 1 << 30
"""A threshold for the oldest generation that a run never reaches."""


@contextmanager
def young_collections_only() -> Iterator[None]:
    """Within the block, no full collection starts by itself; the thresholds are restored afterwards."""
    young, middle, oldest = gc.get_threshold()
    gc.set_threshold(young, middle, _NEVER)
    try:
        yield
    finally:
        gc.set_threshold(young, middle, oldest)
