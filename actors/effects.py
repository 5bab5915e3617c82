"""Core-wrapping actors: carrying out a core's generic effects (cluster.core.effects) by telling neighbours.

Every core-wrapping actor does the same translation, so it lives once here; an actor with effects of its
own (the transport) handles those first and passes the rest on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pykka

from actors import messages as msg
from actors.base import CrashHandler, NodeActor, inbox_empty
from cluster.control.protocol import StatusPart
from cluster.core import effects as fx

CoreT = TypeVar("CoreT")


@dataclass(frozen=True, slots=True)
class Neighbours:
    """The explicit references a core-wrapping actor needs (architecture §2: no registry look-ups)."""

    transport: pykka.ActorRef[Any]
    events: pykka.ActorRef[Any]
    timer: pykka.ActorRef[Any]


def carry_out(effects: Iterable[fx.Effect], neighbours: Neighbours, me: pykka.ActorRef[Any]) -> None:
    for effect in effects:
        match effect:
            case fx.Send(peer, message):
                neighbours.transport.tell(msg.SendTo(peer, message))
            case fx.Emit(event):
                neighbours.events.tell(msg.RaiseEvent(event))
            case fx.StartTimer(key, deadline):
                neighbours.timer.tell(msg.ArmTimer(key, deadline, me))
            case fx.CancelTimer(key):
                neighbours.timer.tell(msg.DisarmTimer(key, me))
            case fx.Connect(peer):
                neighbours.transport.tell(msg.KeepConnected(peer))
            case fx.SetReadiness(started):
                neighbours.transport.tell(msg.SetHelloReadiness(started))
            case _:
                raise TypeError(f"no actor carries out {effect!r}")


class CoreShell(NodeActor, Generic[CoreT]):
    """An actor that is nothing but a core, its neighbours and a status snapshot to publish.

    Subclasses add `@handles` methods that feed the core and pass its effects to `apply`, and say in
    `snapshot` what the control endpoint should show after a change. What a burst of input changed is
    handed on once the burst is over (the inbox is empty, checked after every message whatever its
    handler did), in `_burst_over`: by default the snapshot, and actors that batch more (membership,
    state gossip) add theirs. After every message instead, the manager's coordinator rebuilt and checked
    its N-row readiness table on each of the N peerings and reports of a start, which made its start
    quadratic (half of a starting manager's CPU at 101 nodes).
    """

    def __init__(
        self,
        core: CoreT,
        neighbours: Neighbours,
        *,
        status: pykka.ActorRef[Any] | None = None,
        on_crash: CrashHandler | None = None,
    ) -> None:
        super().__init__(on_crash=on_crash)
        self.core = core
        self.neighbours = neighbours
        self._status = status
        self._changed = False  # applied since the last snapshot was published

    def on_start(self) -> None:
        self.publish()

    def on_receive(self, message: Any) -> Any:
        try:
            return super().on_receive(message)
        finally:
            if inbox_empty(self.actor_inbox):
                self._burst_over()

    def _burst_over(self) -> None:
        if self._changed:
            self._changed = False
            self.publish()

    def snapshot(self) -> StatusPart:
        raise NotImplementedError

    def apply(self, effects: Iterable[fx.Effect]) -> None:
        carry_out(effects, self.neighbours, self.actor_ref)
        self._changed = True

    def publish(self) -> None:
        if self._status is not None:
            self._status.tell(msg.StatusChanged(self.snapshot()))
