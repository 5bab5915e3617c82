"""`kv`: a general replicated map, for users and demos.

Last writer wins per key on (version, owner): versions are Lamport times, so a write made after seeing
another wins over it, and concurrent writes are settled by the owner's name, the same way everywhere. A
delete is the deleting node's tombstone winning the key.

A node whose own value lost (to a newer write or a delete by someone else) retracts it with a tombstone of
its own. Otherwise, once the winner's tombstone is collected, the loser's old value would show again.
"""

from __future__ import annotations

from cluster.state.provider import Provider, WriteIntent
from cluster.wire.messages import last_writer_rank

__all__ = ["KvProvider"]


class KvProvider(Provider):
    state_type = "kv"

    def after_merge(self, key: str) -> list[WriteIntent]:
        mine = self.entries_of(key).get(self.local)
        if mine is None or mine.tombstone:
            return []
        winner = max(self.entries_of(key).values(), key=last_writer_rank)
        if winner is mine:
            return []
        return [WriteIntent(self.state_type, key, None, tombstone=True)]
