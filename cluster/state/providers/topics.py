"""`topics`: who subscribes to what, cluster-wide, so a publish finds every subscriber (Akka's distributed
pub/sub keeps its registry the same way: replicated, each node owning its own part).

Each node writes one entry per topic it has local subscribers for: the topic as the key, the names of its
subscribed actors as the value; the last one to unsubscribe retracts it with a tombstone. The view of a
topic is the set of live nodes with subscribers, which is what a publisher sends to. It is a function of
the set of latest entries and the live set, so the merge is commutative, associative and idempotent, and
a dead node stops counting at once.
"""

from __future__ import annotations

from typing import Any

from cluster.state.provider import Provider, View
from cluster.wire.messages import last_writer_rank

__all__ = ["TopicsProvider"]


class TopicsProvider(Provider):
    state_type = "topics"

    def check_value(self, value: Any) -> str | None:
        if isinstance(value, list) and value and all(isinstance(name, str) for name in value):
            return None
        return f"a topic's subscribers are a non-empty list of actor names, not {value!r}"

    def view(self, key: str) -> View | None:
        fresh = [e for owner, e in self.entries_of(key).items() if owner in self.live and not e.tombstone]
        if not fresh:
            return None
        latest = max(fresh, key=last_writer_rank)
        return sorted(e.source_node for e in fresh), latest.source_node, latest.version

    def loses(self, entry: Any) -> bool:
        return False  # every node's subscribers count
