"""The manager coordinator actor: the shell of `cluster.readiness.coordinator.Coordinator` (manager only)."""

from __future__ import annotations

from actors.base import handles
from actors.effects import CoreShell
from actors.messages import MessageReceived, PeerIsDown, PeerIsUp
from cluster.control.protocol import ReadinessStatus
from cluster.readiness.coordinator import Coordinator
from cluster.wire.messages import NodeConnectivityLost, NodeFullyConnected
from cluster.wire.schema import record_from_plain


class CoordinatorActor(CoreShell[Coordinator]):
    def snapshot(self) -> ReadinessStatus:
        return record_from_plain(ReadinessStatus, self.core.snapshot())

    @handles(PeerIsUp)
    def _peer_up(self, message: PeerIsUp) -> None:
        self.apply(self.core.peer_up(message.name, message.node_id))

    @handles(PeerIsDown)
    def _peer_down(self, message: PeerIsDown) -> None:
        self.apply(self.core.peer_down(message.name, message.node_id))

    @handles(MessageReceived)
    def _received(self, message: MessageReceived) -> None:
        report = message.message
        if isinstance(report, NodeFullyConnected):
            self.apply(self.core.node_fully_connected(report, message.peer))
        elif isinstance(report, NodeConnectivityLost):
            self.apply(self.core.node_connectivity_lost(report, message.peer))
