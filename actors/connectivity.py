"""The connectivity tracker actor: the shell of `cluster.readiness.connectivity.ConnectivityTracker`."""

from __future__ import annotations

import dataclasses

from actors.base import handles
from actors.effects import CoreShell
from actors.messages import MessageReceived, PeerIsDown, PeerIsUp, StartTracking
from cluster.control.protocol import ConnectivityStatus
from cluster.readiness.connectivity import ConnectivityTracker
from cluster.wire.messages import ClusterStarted


class ConnectivityActor(CoreShell[ConnectivityTracker]):
    def snapshot(self) -> ConnectivityStatus:
        return ConnectivityStatus(**dataclasses.asdict(self.core.snapshot()))

    @handles(StartTracking)
    def _start_tracking(self, message: StartTracking) -> None:
        self.apply(self.core.start())

    @handles(PeerIsUp)
    def _peer_up(self, message: PeerIsUp) -> None:
        self.apply(self.core.peer_up(message.name, message.node_id, message.cluster_started))

    @handles(PeerIsDown)
    def _peer_down(self, message: PeerIsDown) -> None:
        self.apply(self.core.peer_down(message.name, message.node_id))

    @handles(MessageReceived)
    def _received(self, message: MessageReceived) -> None:
        if isinstance(message.message, ClusterStarted):
            self.apply(self.core.cluster_started(message.message, message.peer))
