"""Virtual time for the simulators: one heap of events and each node's named timers.

Both `cluster.sim.membership` (membership) and `cluster.sim.state` (replicated state) drive cores by a
discrete-event loop; this is that loop's bookkeeping. Events are ordered by (time, sequence), one sequence
for timers and deliveries alike, so a seeded run is exactly repeatable. A timer re-armed under the same key
replaces the earlier one, as the live timer service does; the stale heap entry is skipped when it surfaces.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["TimerDue", "VirtualTime"]


@dataclass(frozen=True, slots=True)
class TimerDue:
    """A node's timer fell due: hand `key` to its core's `timer`."""

    key: Hashable


@dataclass(frozen=True, slots=True)
class _Timer:
    key: Hashable
    deadline: float
    seq: int


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, str, Any]] = []
        self._order = itertools.count()
        self._timers: dict[tuple[str, Hashable], tuple[float, int]] = {}

    def at(self, time: float, node: str, item: Any) -> None:
        """Deliver `item` to `node` at `time`."""
        heapq.heappush(self._heap, (time, next(self._order), node, item))

    def arm(self, node: str, key: Hashable, deadline: float) -> None:
        seq = next(self._order)
        self._timers[(node, key)] = (deadline, seq)
        heapq.heappush(self._heap, (deadline, seq, node, _Timer(key, deadline, seq)))

    def cancel(self, node: str, key: Hashable) -> None:
        self._timers.pop((node, key), None)

    def forget(self, node: str) -> None:
        """A node crashed: its timers vanish with it."""
        for key in [key for key in self._timers if key[0] == node]:
            del self._timers[key]

    def until(self, until: float) -> Iterator[tuple[str, Any]]:
        """Every event up to `until`, in order, advancing `now` to each: a live timer as `TimerDue`, other
        items as they were given. Afterwards `now` is at least `until`."""
        while self._heap and self._heap[0][0] <= until:
            time, _, node, item = heapq.heappop(self._heap)
            self.now = time
            if isinstance(item, _Timer):
                if self._timers.get((node, item.key)) != (item.deadline, item.seq):
                    continue  # re-armed or cancelled since, or its node crashed
                del self._timers[(node, item.key)]
                yield node, TimerDue(item.key)
            else:
                yield node, item
        self.now = max(self.now, until)
