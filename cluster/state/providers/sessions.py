"""`sessions`: the shadow state of the gossip seed: sessions owned by nodes, taken over when one dies.

Each node publishes the sessions it owns (key: the session id, value: its data). The session's owner is
the last writer on (Lamport version, node name). When an owner is declared dead, every survivor computes
the same rendezvous hash (highest random weight) of each of its sessions over the live members; exactly
the one survivor that wins claims the session and republishes it as its own, with a newer version, so it
wins everywhere. This is `on_node_failure` doing real work. As long as the survivors agree on who is
alive (membership converges), one and only one claims each session.
"""

from __future__ import annotations

from collections.abc import Iterable

from cluster.core.rendezvous import rendezvous_owner
from cluster.state.provider import Provider, ProviderOutput, WriteIntent

__all__ = ["SessionsProvider", "rendezvous_owner"]


class SessionsProvider(Provider):
    state_type = "sessions"

    def on_node_failure(self, node: str, live: Iterable[str]) -> ProviderOutput:
        output = self.on_members(live)
        for key in self.view_keys():
            owner = self.visible(key)
            if owner is None or owner.source_node != node:
                continue
            if rendezvous_owner(key, self.live) == self.local:
                output.writes.append(WriteIntent(self.state_type, key, owner.value))
        return output
