"""A tiny deterministic network of readiness cores for table-driven scenario tests.

Every node runs a `ConnectivityTracker` (and the manager a `Coordinator`) exactly as the actors would,
but peerings are made and broken by the test and messages are delivered at once, in order.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from cluster.core.effects import Connect, Effect, Emit, Send, SetReadiness
from cluster.layout.model import Layout
from cluster.readiness.connectivity import ConnectivityTracker
from cluster.readiness.coordinator import Coordinator
from cluster.wire.messages import ClusterStarted, NodeConnectivityLost, NodeFullyConnected


@dataclass
class SimNode:
    name: str
    node_id: str
    tracker: ConnectivityTracker
    coordinator: Coordinator | None
    wants: set[str] = field(default_factory=set)
    hello_started: bool = False
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class ReadinessNet:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.nodes: dict[str, SimNode] = {}
        self.peerings: set[frozenset[str]] = set()
        self.history: list[tuple[str, str, dict[str, Any]]] = []  # (node, event, fields), all lives
        self._ids = itertools.count(1)
        self._queue: deque[tuple[str, list[Effect]]] = deque()

    # -- control ----------------------------------------------------------------------------------

    def start(self, name: str) -> None:
        node_id = f"{name}#{next(self._ids)}"
        manager = self.layout.manager.name
        coordinator = Coordinator(name, node_id, self.layout.names) if name == manager else None
        tracker = ConnectivityTracker(name, node_id, manager, self.layout.outgoing(name))
        self.nodes[name] = SimNode(name, node_id, tracker, coordinator)
        self._run(name, tracker.start())
        self.settle()

    def start_all(self) -> None:
        for name in self.layout.names:
            self.start(name)

    def kill(self, name: str) -> None:
        dead = self.nodes.pop(name)
        for pair in [p for p in self.peerings if name in p]:
            self.peerings.discard(pair)
            (other,) = pair - {name}
            self._peer_down(other, name, dead.node_id)
        self.settle()

    def cut(self, a: str, b: str) -> None:
        """A lost connection between two live nodes (both ends notice)."""
        pair = frozenset((a, b))
        if pair in self.peerings:
            self.peerings.discard(pair)
            self._peer_down(a, b, self.nodes[b].node_id)
            self._peer_down(b, a, self.nodes[a].node_id)
        self.settle()

    def settle(self) -> None:
        """Deliver everything, and make every wanted peering between live nodes."""
        while True:
            while self._queue:
                name, effects = self._queue.popleft()
                if name in self.nodes:
                    self._carry_out(self.nodes[name], effects)
            pending = [
                (n.name, peer)
                for n in self.nodes.values()
                for peer in sorted(n.wants)
                if peer in self.nodes and frozenset((n.name, peer)) not in self.peerings
            ]
            if not pending:
                return
            for a, b in pending:
                if frozenset((a, b)) not in self.peerings:
                    self.peerings.add(frozenset((a, b)))
                    self._peer_up(a, b)
                    self._peer_up(b, a)

    # -- queries ----------------------------------------------------------------------------------

    def events(self, node: str, event: str) -> list[dict[str, Any]]:
        return [fields for who, what, fields in self.history if who == node and what == event]

    # -- plumbing ---------------------------------------------------------------------------------

    def _run(self, name: str, effects: list[Effect]) -> None:
        self._queue.append((name, effects))

    def _peer_up(self, at: str, peer: str) -> None:
        node, other = self.nodes[at], self.nodes[peer]
        self._run(at, node.tracker.peer_up(peer, other.node_id, other.hello_started))
        if node.coordinator is not None:
            self._run(at, node.coordinator.peer_up(peer, other.node_id))

    def _peer_down(self, at: str, peer: str, peer_id: str) -> None:
        node = self.nodes[at]
        self._run(at, node.tracker.peer_down(peer, peer_id))
        if node.coordinator is not None:
            self._run(at, node.coordinator.peer_down(peer, peer_id))

    def _carry_out(self, node: SimNode, effects: list[Effect]) -> None:
        for effect in effects:
            match effect:
                case Connect(peer):
                    node.wants.add(peer)
                case SetReadiness(started):
                    node.hello_started = started
                case Emit(event):
                    node.events.append((event.NAME, event.fields))
                    self.history.append((node.name, event.NAME, event.fields))
                case Send(peer, message):
                    self._deliver(node.name, peer, message)
                case _:
                    raise AssertionError(f"unexpected effect {effect!r}")

    def _deliver(self, sender: str, peer: str, message: Any) -> None:
        if peer != sender and frozenset((sender, peer)) not in self.peerings:
            return  # no peering: the transport drops it
        target = self.nodes[peer]
        if isinstance(message, ClusterStarted):
            self._run(peer, target.tracker.cluster_started(message, sender))
        elif isinstance(message, NodeFullyConnected):
            assert target.coordinator is not None
            self._run(peer, target.coordinator.node_fully_connected(message, sender))
        elif isinstance(message, NodeConnectivityLost):
            assert target.coordinator is not None
            self._run(peer, target.coordinator.node_connectivity_lost(message, sender))
        else:
            raise AssertionError(f"unexpected message {message!r}")
