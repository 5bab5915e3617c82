"""The connectivity tracker actor: the shell of `cluster.connectivity.ConnectivityTracker`."""

from __future__ import annotations

import dataclasses
from typing import Any

import pykka

from actors.base import CrashHandler, NodeActor, handles
from actors.effects import Neighbours, carry_out
from actors.messages import MessageReceived, PeerIsDown, PeerIsUp, StartTracking, StatusChanged
from cluster.connectivity import ConnectivityTracker
from cluster.effects import Effect
from cluster.messages import ClusterStarted


class ConnectivityActor(NodeActor):
    def __init__(
        self,
        core: ConnectivityTracker,
        neighbours: Neighbours,
        *,
        status: pykka.ActorRef[Any] | None = None,
        on_crash: CrashHandler | None = None,
    ) -> None:
        super().__init__(on_crash=on_crash)
        self._core = core
        self._neighbours = neighbours
        self._status = status

    @handles(StartTracking)
    def _start_tracking(self, message: StartTracking) -> None:
        self._apply(self._core.start())

    @handles(PeerIsUp)
    def _peer_up(self, message: PeerIsUp) -> None:
        self._apply(self._core.peer_up(message.name, message.node_id, message.cluster_started))

    @handles(PeerIsDown)
    def _peer_down(self, message: PeerIsDown) -> None:
        self._apply(self._core.peer_down(message.name, message.node_id))

    @handles(MessageReceived)
    def _received(self, message: MessageReceived) -> None:
        if isinstance(message.message, ClusterStarted):
            self._apply(self._core.cluster_started(message.message, message.peer))

    def _apply(self, effects: list[Effect]) -> None:
        carry_out(effects, self._neighbours, self.actor_ref)
        if self._status is not None:
            self._status.tell(StatusChanged("connectivity", dataclasses.asdict(self._core.snapshot())))
