"""The event catalogue: every event a node can raise, once, with its fields, and the event-log record.

An event is what users watch (`clusterctl events`, the event log, an event subscriber in a test): it is
the node's public account of what happened, so its name and fields are an interface. Each one is a frozen
dataclass registered here under its name; cores emit instances (`Emit(MemberFailedEvent(...))`), the
event log writes them as records, and the CLI, the test kit and the README's event table read the names
from here. Renaming an event, or a field, is a change to one line of this module.

A record is one JSON object per event: `ts`, `node`, `event` (the name), then the event's fields in
declaration order. An optional field that is None is left out of the record, so a suspicion raised
without an accuser reads as before. A field whose name is a Python keyword is declared with a trailing
underscore (`from_`) and written without it (`from`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

__all__ = [
    "CATALOGUE",
    "ActorFailedEvent",
    "ActorRestartedEvent",
    "ActorStartedEvent",
    "ClusterAnnouncedEvent",
    "ClusterDegradedEvent",
    "ClusterRecoveredEvent",
    "ClusterStartLearnedEvent",
    "ClusterStartedEvent",
    "Event",
    "HandshakeRefusedEvent",
    "MemberAliveEvent",
    "MemberEvent",
    "MemberFailedEvent",
    "MemberJoinedEvent",
    "MemberLeftEvent",
    "MemberSuspectEvent",
    "MemberUpdatedEvent",
    "MessagesDroppedEvent",
    "NodeConnectivityLostEvent",
    "NodeDownEvent",
    "NodeFullyConnectedEvent",
    "NodeStartedEvent",
    "NodeStoppingEvent",
    "NodeUpEvent",
    "ReadinessRefusedEvent",
    "StateChangedEvent",
    "event_from_record",
    "event_record",
]

RECORD_KEYS = ("ts", "node", "event")
"""What every record starts with; an event's own field of one of these names would be shadowed."""


class Event:
    """Base of every event: `NAME` is what it is called in records; `fields` its data, record-ready.

    (`NAME` is upper case because several events have a field called `name`: the node they are about.)"""

    NAME: ClassVar[str] = ""
    _LAYOUT: ClassVar[tuple[tuple[str, str, bool, bool], ...]] = ()
    __slots__ = ()

    @property
    def fields(self) -> dict[str, Any]:
        # One event per state change under load: the field layout is worked out once per class (at
        # registration), and only sequences and maps are converted.
        out: dict[str, Any] = {}
        for attribute, key, optional, nested in self._LAYOUT:
            value = getattr(self, attribute)
            if value is None and optional:
                continue
            out[key] = _plain(value) if nested else value
        return out


_E = TypeVar("_E", bound=type[Event])
_CATALOGUE: dict[str, type[Event]] = {}
CATALOGUE: Mapping[str, type[Event]] = MappingProxyType(_CATALOGUE)
"""Event name -> its class, in the order they are declared below."""


def event(name: str) -> Callable[[_E], _E]:
    """Register an event class under `name`; apply it above @dataclass."""

    def register(cls: _E) -> _E:
        if name in _CATALOGUE:
            raise ValueError(f"event {name!r} already declared by {_CATALOGUE[name].__name__}")
        clashes = {f.name.rstrip("_") for f in dataclasses.fields(cls)} & set(RECORD_KEYS)  # type: ignore[arg-type]
        if clashes:
            raise TypeError(f"{cls.__name__}: field names {sorted(clashes)} are taken by the record")
        cls.NAME = name
        cls._LAYOUT = tuple(
            (
                f.name,
                f.name.rstrip("_"),
                f.default is None,
                "tuple" in str(f.type) or "Mapping" in str(f.type),
            )
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        )
        _CATALOGUE[name] = cls
        return cls

    return register


def _plain(value: Any) -> Any:
    """Tuples hold an event's sequences (events are frozen); records hold lists, as JSON reads them back."""
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value


# -- a node's life ---------------------------------------------------------------------------------------


@event("node_started")
@dataclass(frozen=True, slots=True)
class NodeStartedEvent(Event):
    """The node's actors are wired and it is about to listen."""

    role: str
    id: str
    generation: int
    pid: int
    address: str


@event("node_stopping")
@dataclass(frozen=True, slots=True)
class NodeStoppingEvent(Event):
    """The node was asked to stop; it leaves the membership gracefully first."""

    id: str


# -- the handshake and readiness (Zeek's cluster framework) ----------------------------------------------


@event("handshake_refused")
@dataclass(frozen=True, slots=True)
class HandshakeRefusedEvent(Event):
    """A hello did not match (`by` self: we refused the peer's; `by` peer: it refused ours)."""

    peer: str
    by: str
    reason: str
    detail: str


@event("node_fully_connected")
@dataclass(frozen=True, slots=True)
class NodeFullyConnectedEvent(Event):
    """Every outgoing peer of node `name` has done the handshake (Zeek's `node_fully_connected`): raised
    by the node itself, and on the manager for every node's report, as Zeek "sends it to the manager and
    raises it locally"."""

    name: str
    id: str
    resending: bool


@event("node_up")
@dataclass(frozen=True, slots=True)
class NodeUpEvent(Event):
    """A peering with node `name` came up: its hello was valid (Zeek's `Cluster::node_up`)."""

    name: str
    id: str


@event("node_down")
@dataclass(frozen=True, slots=True)
class NodeDownEvent(Event):
    """The last connection of the peering with node `name` closed (Zeek's `Cluster::node_down`)."""

    name: str
    id: str


@event("node_connectivity_lost")
@dataclass(frozen=True, slots=True)
class NodeConnectivityLostEvent(Event):
    """This node lost the peering with some of its outgoing peers."""

    missing: tuple[str, ...]


@event("cluster_started")
@dataclass(frozen=True, slots=True)
class ClusterStartedEvent(Event):
    """This node learned that the cluster has started (`replay`: it was told after the announcement)."""

    replay: bool


@event("readiness_refused")
@dataclass(frozen=True, slots=True)
class ReadinessRefusedEvent(Event):
    """A readiness message was refused: from an unknown node, or one node reporting for another."""

    what: str
    name: str
    reason: str
    id: str | None = None


@event("cluster_start_learned")
@dataclass(frozen=True, slots=True)
class ClusterStartLearnedEvent(Event):
    """Manager only: a report with `resending` told this (restarted) manager the cluster had started."""

    from_: str


@event("cluster_announced")
@dataclass(frozen=True, slots=True)
class ClusterAnnouncedEvent(Event):
    """Manager only: every node reported, and `cluster_started` was sent to all of them."""

    nodes: int


@event("cluster_degraded")
@dataclass(frozen=True, slots=True)
class ClusterDegradedEvent(Event):
    """Manager only: nodes that were all present are not any more (`lost_links`: who misses whom)."""

    missing: tuple[str, ...]
    lost_links: Mapping[str, tuple[str, ...]]


@event("cluster_recovered")
@dataclass(frozen=True, slots=True)
class ClusterRecoveredEvent(Event):
    """Manager only: every node is present again."""

    after_missing: tuple[str, ...]


# -- membership (SWIM) -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberEvent(Event):
    """What membership says about one member: its name, id and incarnation, and who accused it."""

    member: str
    id: str
    incarnation: int
    by: str | None = None


@event("member_joined")
@dataclass(frozen=True, slots=True)
class MemberJoinedEvent(MemberEvent):
    """A member is new to this node (or a new life of a known name)."""


@event("member_suspect")
@dataclass(frozen=True, slots=True)
class MemberSuspectEvent(MemberEvent):
    """A member did not answer probes and is suspected (`by`: the accuser)."""


@event("member_alive")
@dataclass(frozen=True, slots=True)
class MemberAliveEvent(MemberEvent):
    """A suspected member refuted the suspicion."""


@event("member_failed")
@dataclass(frozen=True, slots=True)
class MemberFailedEvent(MemberEvent):
    """A suspicion ran out: the member is declared dead (`by`: who declared it)."""


@event("member_left")
@dataclass(frozen=True, slots=True)
class MemberLeftEvent(MemberEvent):
    """A member left gracefully."""


@event("member_updated")
@dataclass(frozen=True, slots=True)
class MemberUpdatedEvent(MemberEvent):
    """A member announced new metadata at a higher incarnation."""


# -- application actors ----------------------------------------------------------------------------------


@event("actor_started")
@dataclass(frozen=True, slots=True)
class ActorStartedEvent(Event):
    """An application actor of the layout's `app:` section is running on this node."""

    actor: str
    cls: str


@event("actor_restarted")
@dataclass(frozen=True, slots=True)
class ActorRestartedEvent(Event):
    """An application actor's handler raised; it was started afresh (`on_start` again) after a backoff."""

    actor: str
    restarts: int
    error: str


@event("actor_failed")
@dataclass(frozen=True, slots=True)
class ActorFailedEvent(Event):
    """An application actor raised too often within the supervision window and was stopped for good;
    `error` is the last line of the last traceback. The node and its other actors run on."""

    actor: str
    restarts: int
    error: str


@event("messages_dropped")
@dataclass(frozen=True, slots=True)
class MessagesDroppedEvent(Event):
    """Application messages to `peer` were dropped because its outgoing queue was full (Zeek's overload
    drop): `dropped` since the last report. Reported once per burst, then at most once a second."""

    peer: str
    dropped: int
    queue_limit: int


# -- replicated state ------------------------------------------------------------------------------------


@event("state_changed")
@dataclass(frozen=True, slots=True)
class StateChangedEvent(Event):
    """What users see of a provider's key changed (`value` None: the key is gone)."""

    provider: str
    key: str
    value: Any
    owner: str
    version: int


# -- records ---------------------------------------------------------------------------------------------


def event_record(node: str, event: Event, ts: float) -> dict[str, Any]:
    """The event-log record of `event` raised on `node` at wall-clock time `ts`."""
    record: dict[str, Any] = {"ts": round(ts, 6), "node": node, "event": event.NAME}
    record.update(event.fields)
    return record


def event_from_record(record: Mapping[str, Any]) -> Event | None:
    """The event a record holds, or None for a record of an event this version does not know (or one
    whose fields do not fit): a reader of event logs must outlive a node of another version."""
    cls = _CATALOGUE.get(str(record.get("event")))
    if cls is None:
        return None
    arguments = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        key = field.name.rstrip("_")
        if key in record:
            value = record[key]
            arguments[field.name] = tuple(value) if isinstance(value, list) else value
    try:
        return cls(**arguments)
    except TypeError:
        return None
