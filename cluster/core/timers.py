"""A set of named deadlines: the pure part of a node's timer service.

Timers are keyed so that re-arming one replaces it; this is what lets a core say "probe at t" again and
again without tracking the previous request. The live service waits on a thread for `next_deadline`; the
manual clock of the test kit simply calls `pop_due` as it advances.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class DueTimer:
    key: Hashable
    deadline: float
    payload: Any


class TimerSet:
    """Deadlines keyed by an arbitrary hashable; lazily deleted from the heap."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Hashable]] = []
        self._live: dict[Hashable, tuple[float, int, Any]] = {}
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._live)

    def schedule(self, key: Hashable, deadline: float, payload: Any) -> None:
        seq = next(self._order)
        self._live[key] = (deadline, seq, payload)
        heapq.heappush(self._heap, (deadline, seq, key))

    def cancel(self, key: Hashable) -> None:
        self._live.pop(key, None)

    def next_deadline(self) -> float | None:
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[DueTimer]:
        """Every timer whose deadline is <= now, earliest first."""
        due: list[DueTimer] = []
        while True:
            self._drop_stale()
            if not self._heap or self._heap[0][0] > now:
                return due
            deadline, _seq, key = heapq.heappop(self._heap)
            _, _, payload = self._live.pop(key)
            due.append(DueTimer(key, deadline, payload))

    def _drop_stale(self) -> None:
        while self._heap:
            deadline, seq, key = self._heap[0]
            live = self._live.get(key)
            if live is not None and live[0] == deadline and live[1] == seq:
                return
            heapq.heappop(self._heap)
