"""The manager coordinator actor: the shell of `cluster.coordinator.Coordinator` (manager only)."""

from __future__ import annotations

from typing import Any

import pykka

from actors.base import CrashHandler, NodeActor, handles
from actors.effects import Neighbours, carry_out
from actors.messages import MessageReceived, PeerIsDown, PeerIsUp, StatusChanged
from cluster.coordinator import Coordinator
from cluster.effects import Effect
from cluster.messages import NodeConnectivityLost, NodeFullyConnected


class CoordinatorActor(NodeActor):
    def __init__(
        self,
        core: Coordinator,
        neighbours: Neighbours,
        *,
        status: pykka.ActorRef[Any] | None = None,
        on_crash: CrashHandler | None = None,
    ) -> None:
        super().__init__(on_crash=on_crash)
        self._core = core
        self._neighbours = neighbours
        self._status = status

    def on_start(self) -> None:
        self._publish()

    @handles(PeerIsUp)
    def _peer_up(self, message: PeerIsUp) -> None:
        self._apply(self._core.peer_up(message.name, message.node_id))

    @handles(PeerIsDown)
    def _peer_down(self, message: PeerIsDown) -> None:
        self._apply(self._core.peer_down(message.name, message.node_id))

    @handles(MessageReceived)
    def _received(self, message: MessageReceived) -> None:
        report = message.message
        if isinstance(report, NodeFullyConnected):
            self._apply(self._core.node_fully_connected(report, message.peer))
        elif isinstance(report, NodeConnectivityLost):
            self._apply(self._core.node_connectivity_lost(report, message.peer))

    def _apply(self, effects: list[Effect]) -> None:
        carry_out(effects, self._neighbours, self.actor_ref)
        self._publish()

    def _publish(self) -> None:
        if self._status is not None:
            self._status.tell(StatusChanged("readiness", self._core.snapshot()))
