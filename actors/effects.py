"""Carrying out a core's generic effects (cluster.effects) by telling the node's other actors.

Every core-wrapping actor does the same translation, so it lives once here; an actor with effects of its
own (the transport) handles those first and passes the rest on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pykka

from actors import messages as msg
from cluster import effects as fx


@dataclass(frozen=True, slots=True)
class Neighbours:
    """The explicit references a core-wrapping actor needs (DESIGN.md §2: no registry look-ups)."""

    transport: pykka.ActorRef[Any]
    events: pykka.ActorRef[Any]
    timer: pykka.ActorRef[Any]


def carry_out(effects: Iterable[fx.Effect], neighbours: Neighbours, me: pykka.ActorRef[Any]) -> None:
    for effect in effects:
        match effect:
            case fx.Send(peer, message):
                neighbours.transport.tell(msg.SendTo(peer, message))
            case fx.Emit(event, fields):
                neighbours.events.tell(msg.RaiseEvent(event, dict(fields)))
            case fx.StartTimer(key, deadline):
                neighbours.timer.tell(msg.StartTimer(key, deadline, me))
            case fx.CancelTimer(key):
                neighbours.timer.tell(msg.CancelTimer(key, me))
            case fx.Connect(peer):
                neighbours.transport.tell(msg.KeepConnected(peer))
            case fx.SetReadiness(started):
                neighbours.transport.tell(msg.SetHelloReadiness(started))
            case _:
                raise TypeError(f"no actor carries out {effect!r}")
