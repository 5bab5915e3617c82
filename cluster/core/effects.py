"""Effects: what a pure core asks its actor to do.

Cores never perform I/O; they return these values and the actor shell carries them out. Keeping the
vocabulary small and shared means every core can be driven the same way by a live node, a unit test
and the simulator.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, NamedTuple

from cluster.core.events import Event
from cluster.wire.messages import WireMessage


class Address(NamedTuple):
    """Where a node listens (one port for UDP and TCP). A tuple, so it is what sockets take and report."""

    host: str
    port: int


@dataclass(frozen=True, slots=True)
class Send:
    """Deliver `message` to the node called `peer` over the TCP peering with it; to the own name it is
    delivered locally. For what is too large for a datagram, or must arrive in order."""

    peer: str
    message: WireMessage


@dataclass(frozen=True, slots=True)
class SendDatagram:
    """Send `payload` (already encoded, at most one datagram's budget) to `address` over UDP."""

    address: Address
    payload: bytes


@dataclass(frozen=True, slots=True)
class Emit:
    """Raise a cluster event (one of `cluster.core.events`): written to the event log and told to the
    event subscribers."""

    event: Event

    @property
    def name(self) -> str:
        return self.event.NAME

    @property
    def fields(self) -> dict[str, Any]:
        return self.event.fields


@dataclass(frozen=True, slots=True)
class StartTimer:
    """Ask for a tick named `key` at `deadline` (same clock as the `now` the core was given)."""

    key: Hashable
    deadline: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    key: Hashable


@dataclass(frozen=True, slots=True)
class Connect:
    """Keep a peering with `peer` up: the transport dials it and redials it whenever it is lost."""

    peer: str


@dataclass(frozen=True, slots=True)
class SetReadiness:
    """The cluster is known to have started; hellos from now on say so (architecture §3, replay)."""

    started: bool


Effect = Send | SendDatagram | Emit | StartTimer | CancelTimer | Connect | SetReadiness
