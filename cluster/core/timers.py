"""A set of named deadlines: the pure part of a node's timer service and of the simulators' virtual time.

Timers are keyed so that re-arming one replaces it; this is what lets a core say "probe at t" again and
again without tracking the previous request. The live service waits on a thread for `next_deadline`; the
manual clock of the test kit simply calls `pop_due` as it advances; the simulators take the earliest timer
at a time (`peek`, `pop_first`), in one order with their other events.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class DueTimer:
    key: Hashable
    deadline: float
    payload: Any


class TimerSet:
    """Deadlines keyed by an arbitrary hashable; lazily deleted from the heap.

    Timers with equal deadlines fire in the order they were armed. `order` is the counter that numbers
    them; a caller that orders other events among the timers (virtual time) passes its own, so that one
    sequence orders both."""

    def __init__(self, order: Iterator[int] | None = None) -> None:
        self._heap: list[tuple[float, int, Hashable]] = []
        self._live: dict[Hashable, tuple[float, int, Any]] = {}
        self._order = order if order is not None else itertools.count()

    def __len__(self) -> int:
        return len(self._live)

    def armed(self) -> list[Hashable]:
        return list(self._live)

    def schedule(self, key: Hashable, deadline: float, payload: Any) -> None:
        seq = next(self._order)
        self._live[key] = (deadline, seq, payload)
        heapq.heappush(self._heap, (deadline, seq, key))

    def cancel(self, key: Hashable) -> None:
        self._live.pop(key, None)

    def next_deadline(self) -> float | None:
        first = self.peek()
        return None if first is None else first[0]

    def peek(self) -> tuple[float, int] | None:
        """(deadline, sequence number) of the earliest live timer."""
        self._drop_stale()
        return self._heap[0][:2] if self._heap else None

    def pop_first(self) -> DueTimer:
        """Remove and return the earliest live timer (IndexError when there is none)."""
        self._drop_stale()
        deadline, _seq, key = heapq.heappop(self._heap)
        _, _, payload = self._live.pop(key)
        return DueTimer(key, deadline, payload)

    def pop_due(self, now: float) -> list[DueTimer]:
        """Every timer whose deadline is <= now, earliest first."""
        due: list[DueTimer] = []
        while (first := self.peek()) is not None and first[0] <= now:
            due.append(self.pop_first())
        return due

    def _drop_stale(self) -> None:
        while self._heap:
            deadline, seq, key = self._heap[0]
            live = self._live.get(key)
            if live is not None and live[0] == deadline and live[1] == seq:
                return
            heapq.heappop(self._heap)
