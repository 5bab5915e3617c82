"""The connectivity tracker's rules: when is this node fully connected, and whom to tell.

Zeek's flow (architecture §3): a node dials the peers its layout names; once every one of them has done the
cluster handshake it raises `node_fully_connected` and reports it to the manager. Unlike Zeek we keep
tracking afterwards: losing an outgoing peer is reported as `node_connectivity_lost`, and regaining them
all is reported as a fresh `node_fully_connected`.

The report goes to the manager over whatever peering exists with it, in either direction: a logger dials
nobody and is reached by the manager's own connection. A manager with a new id (a restart) gets the report
again, with `resending` true once this node has seen `cluster_started`.
"""

from __future__ import annotations

from dataclasses import dataclass

from cluster.core.effects import Connect, Effect, Emit, Send, SetReadiness
from cluster.core.events import (
    ClusterStartedEvent,
    NodeConnectivityLostEvent,
    NodeFullyConnectedEvent,
    ReadinessRefusedEvent,
)
from cluster.wire.messages import ClusterStarted, NodeConnectivityLost, NodeFullyConnected


@dataclass(frozen=True, slots=True)
class TrackerSnapshot:
    """What `clusterctl status` shows about one node's own connectivity."""

    fully_connected: bool
    cluster_started: bool
    outgoing: tuple[str, ...]
    peers_up: tuple[str, ...]
    reported_to: str | None


class ConnectivityTracker:
    """Pure core of one node's connectivity tracker."""

    def __init__(self, name: str, node_id: str, manager: str, outgoing: tuple[str, ...]) -> None:
        if name in outgoing:
            raise ValueError(f"node {name!r} cannot connect to itself")
        self.name = name
        self.node_id = node_id
        self.manager = manager
        self.outgoing = tuple(outgoing)
        self._up: dict[str, str] = {}
        self._fully_connected = False
        self._seen_started = False
        self._reported_to: str | None = None  # manager id that has our current report

    # -- inputs ---------------------------------------------------------------------------------

    def start(self) -> list[Effect]:
        effects: list[Effect] = [Connect(peer) for peer in self.outgoing]
        return effects + self._reevaluate()

    def peer_up(self, name: str, node_id: str, cluster_started: bool = False) -> list[Effect]:
        previous = self._up.get(name)
        self._up[name] = node_id
        effects: list[Effect] = []
        if name == self.manager and previous != node_id:
            self._reported_to = None
        if name == self.manager and cluster_started:
            effects += self._learn_started(replay=True)
        return effects + self._reevaluate()

    def peer_down(self, name: str, node_id: str) -> list[Effect]:
        if self._up.get(name) != node_id:
            return []  # a stale connection of an older life: the current peering is unaffected
        del self._up[name]
        if name == self.manager:
            self._reported_to = None
        return self._reevaluate()

    def cluster_started(self, message: ClusterStarted, sender: str) -> list[Effect]:
        if sender not in (self.manager, self.name):
            reason = f"sent by {sender}: only the manager announces the start"
            return [Emit(ReadinessRefusedEvent(what="cluster_started", name=sender, reason=reason))]
        return self._learn_started(replay=message.replay)

    # -- queries --------------------------------------------------------------------------------

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(peer for peer in self.outgoing if peer not in self._up)

    def snapshot(self) -> TrackerSnapshot:
        return TrackerSnapshot(
            fully_connected=self._fully_connected,
            cluster_started=self._seen_started,
            outgoing=self.outgoing,
            peers_up=tuple(sorted(self._up)),
            reported_to=self._reported_to,
        )

    # -- rules ----------------------------------------------------------------------------------

    def _learn_started(self, *, replay: bool) -> list[Effect]:
        if self._seen_started:
            return []
        self._seen_started = True
        return [SetReadiness(True), Emit(ClusterStartedEvent(replay=replay))]

    def _reevaluate(self) -> list[Effect]:
        effects: list[Effect] = []
        missing = self.missing
        if not missing and not self._fully_connected:
            self._fully_connected = True
            event = NodeFullyConnectedEvent(name=self.name, id=self.node_id, resending=self._seen_started)
            effects.append(Emit(event))
        elif missing and self._fully_connected:
            self._fully_connected = False
            effects.append(Emit(NodeConnectivityLostEvent(missing=missing)))
            if self._manager_reachable():
                effects.append(Send(self.manager, NodeConnectivityLost(self.name, self.node_id, missing)))
            self._reported_to = None
        if self._fully_connected and self._manager_reachable():
            manager_id = self.node_id if self.name == self.manager else self._up[self.manager]
            if self._reported_to != manager_id:
                self._reported_to = manager_id
                effects.append(
                    Send(self.manager, NodeFullyConnected(self.name, self.node_id, self._seen_started))
                )
        return effects

    def _manager_reachable(self) -> bool:
        return self.name == self.manager or self.manager in self._up
