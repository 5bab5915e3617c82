"""Virtual time for the simulators: one order for every node's deliveries and named timers.

Both `cluster.sim.membership` and `cluster.sim.state` drive cores by a discrete-event loop; this is that
loop's bookkeeping. Events are ordered by (time, sequence), one sequence for timers and deliveries alike,
so a seeded run is exactly repeatable. The timers are a `TimerSet` keyed by (node, key): a timer re-armed
under the same key replaces the earlier one, as the live timer service does.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from cluster.core.timers import TimerSet

__all__ = ["TimerDue", "VirtualTime"]


@dataclass(frozen=True, slots=True)
class TimerDue:
    """A node's timer fell due: hand `key` to its core's `timer`."""

    key: Hashable


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0
        self._order = itertools.count()
        self._deliveries: list[tuple[float, int, str, Any]] = []
        self._timers = TimerSet(self._order)

    def at(self, time: float, node: str, item: Any) -> None:
        """Deliver `item` to `node` at `time`."""
        heapq.heappush(self._deliveries, (time, next(self._order), node, item))

    def arm(self, node: str, key: Hashable, deadline: float) -> None:
        self._timers.schedule((node, key), deadline, None)

    def cancel(self, node: str, key: Hashable) -> None:
        self._timers.cancel((node, key))

    def forget(self, node: str) -> None:
        """A node crashed: its timers vanish with it."""
        for key in self._timers.armed():
            if key[0] == node:  # type: ignore[index]
                self._timers.cancel(key)

    def until(self, until: float) -> Iterator[tuple[str, Any]]:
        """Every event up to `until`, in order, advancing `now` to each: a live timer as `TimerDue`, other
        items as they were given. Afterwards `now` is at least `until`."""
        while True:
            timer = self._timers.peek()
            delivery = self._deliveries[0][:2] if self._deliveries else None
            if timer is not None and (delivery is None or timer < delivery):
                if timer[0] > until:
                    break
                due = self._timers.pop_first()
                node, key = cast(tuple[str, Hashable], due.key)
                self.now = due.deadline
                yield node, TimerDue(key)
            elif delivery is not None and delivery[0] <= until:
                time, _, node, item = heapq.heappop(self._deliveries)
                self.now = time
                yield node, item
            else:
                break
        self.now = max(self.now, until)
