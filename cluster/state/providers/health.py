"""`health`: what the cluster thinks of each target, from every node's own observation of it.

Each node writes one entry per target it watches: "healthy" or "unhealthy", its latest observation. The
cluster view marks a target unhealthy when at least `quorum` live nodes currently observe it unhealthy,
so one node with a bad path to the target cannot condemn it alone. The observation of a node that is not
alive stops counting at once (its entry stays in the store for its grace period, in case it comes back).

The view is a function of the set of latest observations and the live set, so the merge is commutative,
associative and idempotent; what is kept per observer is its highest (generation, version).
"""

from __future__ import annotations

from typing import Any

from cluster.state.provider import CommandError, Provider, View, WriteIntent
from cluster.wire.messages import last_writer_rank

__all__ = ["HealthProvider"]

STATUSES = ("healthy", "unhealthy")


class HealthProvider(Provider):
    state_type = "health"

    def __init__(self, local: str, *, quorum: int = 2) -> None:
        super().__init__(local)
        if quorum < 1:
            raise ValueError(f"quorum must be >= 1, got {quorum}")
        self.quorum = quorum

    def check_value(self, value: Any) -> str | None:
        return None if value in STATUSES else f"an observation is one of {', '.join(STATUSES)}, not {value!r}"

    def command(self, op: str, key: str, value: Any) -> list[WriteIntent]:
        if op == "del":  # this node stops watching the target
            return super().command(op, key, value)
        if op != "set":
            raise CommandError(f"health: no operation {op!r} (set TARGET healthy|unhealthy, del TARGET)")
        return super().command(op, key, value)

    def view(self, key: str) -> View | None:
        fresh = [e for owner, e in self.entries_of(key).items() if owner in self.live and not e.tombstone]
        if not fresh:
            return None
        against = sorted(e.source_node for e in fresh if e.value == "unhealthy")
        status = "unhealthy" if len(against) >= min(self.quorum, len(self.live)) else "healthy"
        latest = max(fresh, key=last_writer_rank)
        value = {"status": status, "unhealthy_by": against, "observers": len(fresh)}
        return value, latest.source_node, latest.version

    def loses(self, entry: Any) -> bool:
        return False  # observations do not compete: each counts
