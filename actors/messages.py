"""Internal messages (between the actors of one node) and ticks (from the timer service).

Wire messages live in `cluster.wire.messages`; these never cross the network, so they may carry actor
references. Every one is frozen: actors never share mutable objects.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import pykka

from cluster.control.protocol import StatusPart
from cluster.core.effects import Address
from cluster.core.events import Event
from cluster.core.faults import FaultPlan
from cluster.wire.messages import ControlReply, ControlRequest, WireMessage

# -- test kit ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Barrier:
    """Answered by every actor after all it received before; the test kit's idle detection."""


# -- events ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RaiseEvent:
    """Write `event` to the node's event log and tell it to the event subscribers."""

    event: Event


@dataclass(frozen=True, slots=True)
class SubscribeEvents:
    subscriber: pykka.ActorRef[Any]


@dataclass(frozen=True, slots=True)
class EventRaised:
    """One event as written to the event log: ts, node, event, then the event's fields."""

    record: Mapping[str, Any]

    @property
    def event(self) -> str:
        return str(self.record["event"])


# -- transport ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubscribePeers:
    subscriber: pykka.ActorRef[Any]


@dataclass(frozen=True, slots=True)
class SubscribeMessages:
    """Route these message types to `subscriber`; with `batches`, messages of one peer that arrive
    together come as one `MessagesReceived`."""

    message_types: tuple[type, ...]
    subscriber: pykka.ActorRef[Any]
    batches: bool = False


@dataclass(frozen=True, slots=True)
class DatagramMessage:
    address: Address
    payload: bytes


@dataclass(frozen=True, slots=True)
class AddressUnreachable:
    """A datagram sent to `address` drew ICMP "port unreachable": no process is bound there."""

    address: Address


@dataclass(frozen=True, slots=True)
class PeerIsUp:
    name: str
    node_id: str
    cluster_started: bool


@dataclass(frozen=True, slots=True)
class PeerIsDown:
    name: str
    node_id: str


@dataclass(frozen=True, slots=True)
class MessageReceived:
    peer: str
    message: WireMessage


@dataclass(frozen=True, slots=True)
class MessagesReceived:
    """Several messages from one peer that arrived together, in order: for a subscriber that asked for
    batches (the app router), one hand-off instead of one per message."""

    peer: str
    messages: tuple[WireMessage, ...]


@dataclass(frozen=True, slots=True)
class SendTo:
    peer: str
    message: WireMessage


@dataclass(frozen=True, slots=True)
class SendMany:
    """Send `messages` to `peer` in this order: encoded together, written with one command to the I/O
    thread and one system call when the socket takes it."""

    peer: str
    messages: tuple[WireMessage, ...]
    overflow: pykka.ActorRef[Any] | None = None
    """Set for application messages: they are dropped, and `overflow` told `PeerOverloaded`, when more
    than the transport's bound already waits to be written to the peer."""


@dataclass(frozen=True, slots=True)
class PeerOverloaded:
    """`count` messages to `peer` were dropped: the connection's outgoing buffer was over its bound."""

    peer: str
    count: int


@dataclass(frozen=True, slots=True)
class StartListening:
    """Start the transport's I/O once the node's actors have all subscribed."""


@dataclass(frozen=True, slots=True)
class StartTracking:
    """Start dialing the layout's outgoing peers."""


@dataclass(frozen=True, slots=True)
class StartMembership:
    """Greet the seeds and start probing."""


@dataclass(frozen=True, slots=True)
class LeaveCluster:
    """Announce a graceful leave (the node is stopping)."""


@dataclass(frozen=True, slots=True)
class ApplyFaults:
    """Carry out this fault plan in the transport (`clusterctl partition|heal|loss|delay`)."""

    plan: FaultPlan


@dataclass(frozen=True, slots=True)
class KeepConnected:
    peer: str


@dataclass(frozen=True, slots=True)
class SetHelloReadiness:
    started: bool


@dataclass(frozen=True, slots=True)
class ControlRequestReceived:
    conn_id: int
    request: ControlRequest
    reply_to: pykka.ActorRef[Any]


@dataclass(frozen=True, slots=True)
class AnswerControl:
    conn_id: int
    reply: ControlReply


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """A subsystem's latest status, for the control endpoint's status answers."""

    part: StatusPart


# -- timers ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArmTimer:
    """Ask the timer service for a `TimerFired(key, due)` to `target` at `deadline`; re-arming a key
    replaces its deadline. (A core asks for the same with the effect `StartTimer`; this is the message
    that carries it to the timer service, so it names the actor the tick is for.)"""

    key: Hashable
    deadline: float
    target: pykka.ActorRef[Any]


@dataclass(frozen=True, slots=True)
class DisarmTimer:
    key: Hashable
    target: pykka.ActorRef[Any]


@dataclass(frozen=True, slots=True)
class TimerFired:
    """A tick: the requester's key and the time it was due (not the time it was delivered)."""

    key: Hashable
    due: float


# -- replicated state ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StateDatagram:
    """A UDP datagram of the state protocol (first byte 0xC1), passed on by its reader, the membership
    actor, to the gossip scheduler."""

    address: Address
    payload: bytes


@dataclass(frozen=True, slots=True)
class SubscribeMembers:
    subscriber: pykka.ActorRef[Any]


@dataclass(frozen=True, slots=True)
class MembersChanged:
    """The members this node can reach (alive or suspect), with their addresses; this node included.
    `generations`: each one's generation, which grows when it restarts though its address does not."""

    members: tuple[tuple[str, Address], ...]
    generations: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Reply:
    """Where a control request's answer goes: the transport, for the request's connection."""

    conn_id: int
    transport: pykka.ActorRef[Any]


@dataclass(frozen=True, slots=True)
class WriteState:
    """Write this node's own entry; `reply`, if any, is answered once the write is stamped."""

    state_type: str
    key: str
    value: Any
    tombstone: bool = False
    reply: Reply | None = None


@dataclass(frozen=True, slots=True)
class ViewChanged:
    """A provider's visible values changed (key -> (value, owner, version); value None: gone), for the
    control endpoint's `state` answers."""

    provider: str
    changes: tuple[tuple[str, Any, str, int], ...]


@dataclass(frozen=True, slots=True)
class SubscribeViews:
    """Tell `subscriber` every `ViewChanged` of a provider, starting with its whole current view (the app
    router reads the `topics` view this way, and an app actor's `context.state(...)`)."""

    subscriber: pykka.ActorRef[Any]


@dataclass(frozen=True, slots=True)
class ProviderCommand:
    """A user's request of a provider (`clusterctl state set|del`), answered through `reply`."""

    op: str
    key: str
    value: Any = None
    reply: Reply | None = None


@dataclass(frozen=True, slots=True)
class AttachProviders:
    """Tells the control endpoint where `clusterctl state` writes go: state type -> provider actor."""

    providers: Mapping[str, pykka.ActorRef[Any]]


@dataclass(frozen=True, slots=True)
class AttachRouter:
    """Tells the control endpoint where `clusterctl send|publish|request|actors` go: the app router."""

    router: pykka.ActorRef[Any]


@dataclass(frozen=True, slots=True)
class RaiseEvents:
    """Several events at once (a provider's changes from one batch of entries): one hand-off, one flush."""

    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class WriteStates:
    """Several writes, in order. With `reply`, it is answered once all are judged (`Accepted`), together
    with the provider's own refusals of the batch (`refused`)."""

    writes: tuple[WriteState, ...]
    reply: Reply | None = None
    refused: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DigestWanted:
    """A user asks a provider for its digest (`clusterctl state digest`), answered through `reply`."""

    reply: Reply


@dataclass(frozen=True, slots=True)
class ProviderCommands:
    """A batch of requests (`state-set-many`), carried out in order; `reply` hears how many were taken."""

    commands: tuple[ProviderCommand, ...]
    reply: Reply | None = None
