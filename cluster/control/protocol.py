"""The control protocol: typed requests, replies and the status snapshot that `clusterctl` and a node share.

On the wire a request is still `ControlRequest(command, args)` and an answer `ControlReply(ok, body,
error)` (see `cluster.wire.messages`); this module says what each command's `args` and each answer's `body`
hold. Each is a record of the wire schema, so a request is checked field by field where it arrives
(`state-set.key: expected str, got int` rather than a key turned into its repr), and the CLI reads a status
through the same schema instead of digging into a dict by key (a missing field is named, not mistaken for
an unknown node).

The annotations are real objects (no `from __future__ import annotations`): the schema compiler reads them.
"""

from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias, TypeVar

from cluster.wire.messages import ControlReply, ControlRequest, Plain, SyncableState
from cluster.wire.schema import CodecError, record, record_from_plain, to_plain

__all__ = [
    "COMMANDS",
    "Accepted",
    "ActorRow",
    "ActorsList",
    "ActorsRequest",
    "AppPublishRequest",
    "AppReplied",
    "AppRequest",
    "AppRequestRequest",
    "AppSendRequest",
    "ConnectivityStatus",
    "ControlProtocolError",
    "EntryView",
    "FaultsRequest",
    "FaultsStatus",
    "MemberRow",
    "MembershipStatus",
    "NodeReadinessRow",
    "NothingWritten",
    "ReadinessStatus",
    "Request",
    "StateDelRequest",
    "StateDigest",
    "StateDigestRequest",
    "StateEntries",
    "StateGetRequest",
    "StateListRequest",
    "StateSetManyRequest",
    "StateSetRequest",
    "StateStatus",
    "StateWritten",
    "StatusRequest",
    "StatusSnapshot",
    "failure",
    "parse_reply",
    "parse_request",
    "success",
    "to_request",
]


class ControlProtocolError(ValueError):
    """A request or reply that does not fit the protocol; the message names the command and the field."""


# -- requests ----------------------------------------------------------------------------------------------


@record
@dataclass(frozen=True, slots=True)
class StatusRequest:
    """`status`: who this node is and what each of its subsystems sees."""

    COMMAND: ClassVar[str] = "status"


@record
@dataclass(frozen=True, slots=True)
class StateListRequest:
    """`state-list`: every key of one provider, as this node sees it."""

    COMMAND: ClassVar[str] = "state-list"
    provider: str


@record
@dataclass(frozen=True, slots=True)
class StateGetRequest:
    """`state-get`: one key of one provider, as this node sees it."""

    COMMAND: ClassVar[str] = "state-get"
    provider: str
    key: str


@record
@dataclass(frozen=True, slots=True)
class StateSetRequest:
    """`state-set`: write `value` as this node's own entry; answered once the write is stamped."""

    COMMAND: ClassVar[str] = "state-set"
    provider: str
    key: str
    value: Plain


@record
@dataclass(frozen=True, slots=True)
class StateDelRequest:
    """`state-del`: delete `key` (a tombstone of this node's own); answered once it is stamped."""

    COMMAND: ClassVar[str] = "state-del"
    provider: str
    key: str


@record
@dataclass(frozen=True, slots=True)
class StateSetManyRequest:
    """`state-set-many`: many `set`s at once, for load generators; answered as soon as they are accepted."""

    COMMAND: ClassVar[str] = "state-set-many"
    provider: str
    entries: tuple[tuple[str, Plain], ...]


@record
@dataclass(frozen=True, slots=True)
class StateDigestRequest:
    """`state-digest`: one provider's digest, to compare views across nodes without listing them."""

    COMMAND: ClassVar[str] = "state-digest"
    provider: str


@record
@dataclass(frozen=True, slots=True)
class AppSendRequest:
    """`app-send`: tell application actor `actor` on this node `message` (answered once it is delivered
    to the actor's mailbox, or with why it could not be)."""

    COMMAND: ClassVar[str] = "app-send"
    actor: str
    message: Plain


@record
@dataclass(frozen=True, slots=True)
class AppPublishRequest:
    """`app-publish`: publish `message` to `topic` from this node."""

    COMMAND: ClassVar[str] = "app-publish"
    topic: str
    message: Plain


@record
@dataclass(frozen=True, slots=True)
class AppRequestRequest:
    """`app-request`: ask actor `actor` on this node, and answer with its reply (or the timeout)."""

    COMMAND: ClassVar[str] = "app-request"
    actor: str
    message: Plain
    timeout: float


@record
@dataclass(frozen=True, slots=True)
class ActorsRequest:
    """`actors`: this node's application actors, with their state, restarts and mailbox depth."""

    COMMAND: ClassVar[str] = "actors"


@record
@dataclass(frozen=True, slots=True)
class FaultsRequest:
    """`faults`: change the faults injected into this node's traffic (see `cluster.core.faults`); a part
    given as None is left as it is. Answered with the faults now in force."""

    COMMAND: ClassVar[str] = "faults"
    blocked: tuple[str, ...] | None = None
    loss: float | None = None
    delay: float | None = None


AppRequest: TypeAlias = AppSendRequest | AppPublishRequest | AppRequestRequest | ActorsRequest
"""The requests the node's app router answers."""

Request: TypeAlias = (
    StatusRequest
    | StateListRequest
    | StateGetRequest
    | StateSetRequest
    | StateDelRequest
    | StateSetManyRequest
    | StateDigestRequest
    | FaultsRequest
    | AppRequest
)

COMMANDS: dict[str, type[Request]] = {
    cls.COMMAND: cls
    for cls in (
        StatusRequest,
        StateListRequest,
        StateGetRequest,
        StateSetRequest,
        StateDelRequest,
        StateSetManyRequest,
        StateDigestRequest,
        FaultsRequest,
        AppSendRequest,
        AppPublishRequest,
        AppRequestRequest,
        ActorsRequest,
    )
}
"""Command name -> its request."""


def to_request(request: Request) -> ControlRequest:
    """The wire form of a typed request."""
    return ControlRequest(command=request.COMMAND, args=to_plain(request))


def parse_request(message: ControlRequest) -> Request:
    """The typed request a `ControlRequest` carries; `ControlProtocolError` says what is wrong with it."""
    cls = COMMANDS.get(message.command)
    if cls is None:
        raise ControlProtocolError(f"unknown control command {message.command!r}")
    try:
        return record_from_plain(cls, dict(message.args), message.command)
    except CodecError as error:
        raise ControlProtocolError(str(error)) from None


# -- replies -----------------------------------------------------------------------------------------------


@record
@dataclass(frozen=True, slots=True)
class EntryView:
    """What a node shows for one key: the deciding entry's value, its owner and its version."""

    value: Plain
    owner: str
    version: int


@record
@dataclass(frozen=True, slots=True)
class StateEntries:
    """The answer to `state-list` and `state-get`."""

    provider: str
    entries: dict[str, EntryView]


@record
@dataclass(frozen=True, slots=True)
class StateWritten:
    """The answer to `state-set` and `state-del`: the entry as stamped and spread."""

    provider: str
    key: str
    value: Plain
    owner: str
    version: int
    deleted: bool

    @classmethod
    def of(cls, entry: SyncableState) -> "StateWritten":
        return cls(
            entry.state_type, entry.key, entry.value, entry.source_node, entry.version, entry.tombstone
        )


@record
@dataclass(frozen=True, slots=True)
class NothingWritten:
    """The answer to a `state-set` or `state-del` that needed no write (the view is already so)."""

    provider: str


@record
@dataclass(frozen=True, slots=True)
class Accepted:
    """The answer to `state-set-many` (and to an application send): how many writes were taken, how many
    were refused and the first reasons, once every one of them was judged. It used to answer "accepted"
    for all at once and refuse some a moment later, each in a log line nobody asked for."""

    accepted: int
    refused: int = 0
    reasons: tuple[str, ...] = ()


@record
@dataclass(frozen=True, slots=True)
class StateDigest:
    """The answer to `state-digest`: the provider's digest, (owner, generation, highest version) of what
    it holds, how many entries are this node's own, how many it holds in all, and a hash of every entry
    held (`Provider.holdings`).

    The digest alone does not tell two views apart: a replica that lacks a range of an owner's writes
    below one it holds has that owner's highest version all the same. The soak's settle took such a
    replica, still repairing the gap, for converged and then counted the writes it had not yet as lost."""

    provider: str
    digest: tuple[tuple[str, int, int], ...]
    own_entries: int
    entries: int
    contents: str

    def fingerprint(self) -> str:
        """A short name for what the node holds, for eyes comparing many nodes: equal fingerprints mean
        equal entries. The contents' hash alone: the digest and the count follow from the entries."""
        return self.contents[:12]


@record
@dataclass(frozen=True, slots=True)
class AppReplied:
    """The answer to `app-request`: the actor's reply, and who gave it."""

    message: Plain
    node: str
    actor: str


@record
@dataclass(frozen=True, slots=True)
class ActorRow:
    """One application actor in `clusterctl actors`."""

    name: str
    cls: str
    state: str
    restarts: int
    mailbox: int


@record
@dataclass(frozen=True, slots=True)
class ActorsList:
    """The answer to `actors`: this node's application actors and its message counters."""

    node: str
    actors: tuple[ActorRow, ...]
    undeliverable: int
    dropped: int


# -- the status snapshot -----------------------------------------------------------------------------------


@record
@dataclass(frozen=True, slots=True)
class MemberRow:
    member: str
    id: str
    state: str
    incarnation: int
    address: str
    role: str


@record
@dataclass(frozen=True, slots=True)
class MembershipStatus:
    """The membership as this node sees it, and its own Lifeguard health score (0 is healthy)."""

    health_score: int
    members: tuple[MemberRow, ...]


@record
@dataclass(frozen=True, slots=True)
class ConnectivityStatus:
    """This node's own connectivity: the peers it dials, those up, and whether it reported to the manager."""

    fully_connected: bool
    cluster_started: bool
    outgoing: tuple[str, ...]
    peers_up: tuple[str, ...]
    reported_to: str | None


@record
@dataclass(frozen=True, slots=True)
class NodeReadinessRow:
    id: str | None
    peered: bool
    reported: bool
    lost: tuple[str, ...]


@record
@dataclass(frozen=True, slots=True)
class ReadinessStatus:
    """The manager's readiness matrix: `state` is forming, started, ready or degraded."""

    started: bool
    state: str
    missing: tuple[str, ...]
    nodes: dict[str, NodeReadinessRow]


@record
@dataclass(frozen=True, slots=True)
class StateStatus:
    """This node's replicated state: per owner (generation, watermark), and what its gossip sent."""

    generation: int
    owners: dict[str, tuple[int, int]]
    entries: int
    sent_datagrams: int
    sent_bytes: int
    received_rejected: int
    oversized: int


@record
@dataclass(frozen=True, slots=True)
class FaultsStatus:
    """The faults injected into this node's traffic: peers cut off, the share of datagrams lost, and the
    seconds everything sent is held."""

    blocked: tuple[str, ...]
    loss: float
    delay: float


@record
@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    """The answer to `status`. A subsystem that has not published yet (or that this node does not run:
    readiness is the manager's) is None, and left out of the body."""

    node: str
    role: str
    cluster: str
    id: str
    generation: int
    layout_digest: str
    pid: int
    membership: MembershipStatus | None = None
    connectivity: ConnectivityStatus | None = None
    readiness: ReadinessStatus | None = None
    state: StateStatus | None = None
    faults: FaultsStatus | None = None
    dropped: dict[str, int] | None = None
    """What the node refused or lost so far, by reason (the `pycluster_dropped` metric's figures)."""

    def body(self) -> dict[str, Any]:
        return {key: value for key, value in to_plain(self).items() if value is not None}


StatusPart: TypeAlias = MembershipStatus | ConnectivityStatus | ReadinessStatus | StateStatus
"""What one subsystem publishes to the control endpoint (`StatusChanged`)."""

Reply: TypeAlias = (
    StatusSnapshot
    | StateEntries
    | StateWritten
    | NothingWritten
    | Accepted
    | StateDigest
    | AppReplied
    | ActorsList
    | FaultsStatus
)

_R = TypeVar("_R")


def success(reply: Reply) -> ControlReply:
    body = reply.body() if isinstance(reply, StatusSnapshot) else to_plain(reply)
    return ControlReply(ok=True, body=body)


def failure(error: str) -> ControlReply:
    return ControlReply(ok=False, body={}, error=error)


def parse_reply(cls: type[_R], body: Any, command: str = "") -> _R:
    """The typed answer in a reply's body; `ControlProtocolError` names the field that does not fit."""
    try:
        return record_from_plain(cls, body, f"{command or cls.__name__} reply")
    except CodecError as error:
        raise ControlProtocolError(str(error)) from None
