"""Gaps in an owner's news, from the moment one is seen to its repair: what the repair time is measured by.

A gap is news of an owner held above a range of its versions we lack (the store's held ranges): a datagram
of a burst was lost, or overtaken. It is repaired by asking for just that range (`Pull(repair=True)`), and
the time it stays open is what a reader under load waits beyond the news itself. Kept as plain numbers, so
the core stays pure and a scrape reads them as they are.
"""

from __future__ import annotations

import bisect

__all__ = ["REPAIR_BUCKETS", "GapLedger"]

REPAIR_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) of the repair-time histogram: the target is 0.1 s under load (issue 10)."""


class GapLedger:
    def __init__(self) -> None:
        self.open: dict[str, float] = {}  # owner -> when its gap was seen
        self.detected = 0
        self.repaired = 0
        self.seconds_sum = 0.0
        self.seconds_max = 0.0
        self.buckets = [0] * (len(REPAIR_BUCKETS) + 1)  # per bucket, not cumulative; the last is +Inf

    def opened(self, owner: str, now: float) -> bool:
        """Note a gap of `owner`; whether it is a new one (an open gap is not counted twice)."""
        if owner in self.open:
            return False
        self.open[owner] = now
        self.detected += 1
        return True

    def closed(self, owner: str, now: float) -> None:
        seen = self.open.pop(owner, None)
        if seen is None:
            return
        took = max(0.0, now - seen)
        self.repaired += 1
        self.seconds_sum += took
        self.seconds_max = max(self.seconds_max, took)
        self.buckets[bisect.bisect_left(REPAIR_BUCKETS, took)] += 1

    def forget(self, owner: str) -> None:
        """The owner's entries are gone (dropped, or a new life): its gap was not repaired, just moot."""
        self.open.pop(owner, None)
