"""`FrozenMap`: the read-only mapping a `Layout` is built of.

A layout is a value shared by every actor of a node and handed to forkserver children, so its mappings
are read-only, compare by value, pickle, and hash when what they hold does (a connect rule's tuples do;
an actor's `args` may hold lists, and the specs holding them leave them out of their hash).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TypeVar

__all__ = ["FrozenMap"]

_V = TypeVar("_V")


class FrozenMap(Mapping[str, _V]):
    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, _V] | None = None) -> None:
        self._items = dict(items or {})

    def __getitem__(self, key: str) -> _V:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(tuple(self._items.items()))

    def __repr__(self) -> str:
        return repr(self._items)
