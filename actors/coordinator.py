"""The manager coordinator actor: the shell of `cluster.readiness.coordinator.Coordinator` (manager only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actors.base import handles
from actors.effects import CoreShell
from actors.messages import MessageReceived, PeerIsDown, PeerIsUp
from cluster.readiness.coordinator import Coordinator
from cluster.wire.messages import NodeConnectivityLost, NodeFullyConnected


class CoordinatorActor(CoreShell[Coordinator]):
    status_component = "readiness"

    def snapshot(self) -> Mapping[str, Any]:
        return self.core.snapshot()

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
