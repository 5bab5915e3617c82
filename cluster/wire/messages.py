"""Wire records and messages: what nodes say to each other (architecture §4).

Every message that crosses the network is a frozen dataclass registered under a short tag with
`cluster.wire.schema.wire`; records nested inside messages are registered with `record`. The field annotations
below ARE the schema: the engine in `cluster.wire.schema` compiles them when each class is registered, so a
field cannot be added without also being validated, and `from_plain` rejects anything that does not match
with a
`CodecError` naming the offending field. This module holds only the protocol: its messages, the aliases that
say what a field means (`Name`, `Count`, `Digest`...) and the rules over them (`newer`, `state_key`...).

The annotations are evaluated at import time on purpose (no `from __future__ import annotations`): the schema
compiler reads the real objects, so an alias such as `Plain` is recognised by identity and the limits of
`Name` or `Count` are read from their `Annotated` metadata.

The engine's names (`CodecError`, `to_plain`, `from_plain`, `wire`, `MESSAGE_TYPES`...) are re-exported here,
so a caller that speaks this protocol needs one import.
"""

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, TypeAlias

from cluster.wire.schema import (
    INT64_MAX,
    INT64_MIN,
    MAX_PLAIN_DEPTH,
    MAX_TEXT_BYTES,
    MESSAGE_TYPES,
    CodecError,
    IntRange,
    Plain,
    PlainMap,
    TextLimit,
    from_plain,
    record,
    tag_of,
    to_plain,
    wire,
)

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MAX_NAME_CHARS",
    "MAX_PLAIN_DEPTH",
    "MAX_TEXT_BYTES",
    "MESSAGE_TYPES",
    "PROTOCOL_VERSION",
    "Alive",
    "AppMessage",
    "AppPublish",
    "AppUndeliverable",
    "AppWire",
    "ClusterStarted",
    "CodecError",
    "Compound",
    "ControlReply",
    "ControlRequest",
    "Count",
    "Dead",
    "Digest",
    "GossipMessage",
    "Hello",
    "HelloRefused",
    "IntRange",
    "Join",
    "Leave",
    "MemberRecord",
    "MemberSync",
    "Nack",
    "Name",
    "NodeConnectivityLost",
    "NodeFullyConnected",
    "NodeInfo",
    "OwnerDelta",
    "Ping",
    "PingAck",
    "PingReq",
    "Plain",
    "PlainMap",
    "Port",
    "Pull",
    "Push",
    "PushPull",
    "StateType",
    "Suspect",
    "SyncableState",
    "TextLimit",
    "WireMessage",
    "digest_from_dict",
    "digest_to_dict",
    "from_plain",
    "generate_node_id",
    "last_writer_rank",
    "newer",
    "recency_key",
    "split_state_key",
    "state_key",
    "tag_of",
    "to_plain",
    "wire",
]

PROTOCOL_VERSION = 2
"""Said in every hello; a node refuses another version (`protocol-version`). 2: a member's `NodeInfo`
carries its generation, which version 1's strict schema would refuse as an unknown field in every alive."""

MAX_NAME_CHARS = 255


# --- protocol aliases ----------------------------------------------------------------------------------

Name = Annotated[str, TextLimit(MAX_NAME_CHARS)]
"""A node name, node id or other short identifier."""
StateType = Annotated[str, TextLimit(MAX_NAME_CHARS, forbidden="/")]
"""A provider's state type; without '/', which is what keeps `state_key` unambiguous."""
Count = Annotated[int, IntRange(0, INT64_MAX)]
"""Sequence numbers, incarnations, generations and Lamport times: never negative."""
Port = Annotated[int, IntRange(0, 65535)]

Digest: TypeAlias = tuple[tuple[Name, Count, Count], ...]
"""(owner, generation, max_version) triples: a digest that is hashable and has one canonical order."""


# --- records -------------------------------------------------------------------------------------------


@record
@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What a member announces about itself; `incarnation` lets it refute suspicion of itself."""

    node_id: Name
    name: Name
    host: Name
    port: Port
    role: Name
    incarnation: Count = 0
    tags: tuple[tuple[str, str], ...] = ()
    generation: Count = 0
    """The life's generation (the run directory's count of its starts): what replicated state of this
    member may be stamped with, so a new generation of its entries needs a new life here first."""


@record
@dataclass(frozen=True, slots=True)
class SyncableState:
    """One replicated entry, written only by `source_node`; see `newer` for how versions of it compare."""

    state_type: StateType
    key: str
    value: Plain
    version: Count
    source_node: Name
    generation: Count
    tombstone: bool = False


# --- membership (SWIM) ---------------------------------------------------------------------------------


@wire("ping")
@dataclass(frozen=True, slots=True)
class Ping:
    seq: Count
    source: Name
    target: Name
    """Named so a node that restarted under another id does not ack a probe meant for its former life."""


@wire("ping-ack")
@dataclass(frozen=True, slots=True)
class PingAck:
    seq: Count
    source: Name


@wire("nack")
@dataclass(frozen=True, slots=True)
class Nack:
    """Lifeguard: an intermediary says it is alive but got no answer, so the prober doubts itself less."""

    seq: Count
    source: Name


@wire("ping-req")
@dataclass(frozen=True, slots=True)
class PingReq:
    seq: Count
    source: Name
    target: Name
    intermediary: Name


@wire("suspect")
@dataclass(frozen=True, slots=True)
class Suspect:
    member: Name
    incarnation: Count
    by: Name
    """Who suspects: independent confirmations shrink the suspicion timeout."""


@wire("alive")
@dataclass(frozen=True, slots=True)
class Alive:
    member: NodeInfo


@wire("dead")
@dataclass(frozen=True, slots=True)
class Dead:
    member: Name
    incarnation: Count
    by: Name


@wire("join")
@dataclass(frozen=True, slots=True)
class Join:
    member: NodeInfo


@wire("leave")
@dataclass(frozen=True, slots=True)
class Leave:
    member: Name
    incarnation: Count


@wire("compound")
@dataclass(frozen=True, slots=True)
class Compound:
    """Several already-encoded messages in one UDP datagram: how updates ride on pings and acks.

    Each part is the complete encoding of one other message, decoded separately by
    `cluster.wire.compound.unpack` so that one bad part costs only itself (as memberlist's
    decodeCompoundMessage in util.go keeps the parts before a truncation). A compound inside a compound is
    refused there.
    """

    parts: tuple[bytes, ...]


@record
@dataclass(frozen=True, slots=True)
class MemberRecord:
    """One member as a node holds it: the full-state form used by membership push-pull."""

    member: NodeInfo
    state: Name  # alive, suspect, dead or left


@wire("member-sync")
@dataclass(frozen=True, slots=True)
class MemberSync:
    """Membership push-pull (memberlist's pushPullMsg): a node's whole member list, answered in kind.

    Anti-entropy for membership: whatever gossip missed (a greeting lost, a member that joined while we
    were partitioned away) is repaired by the next exchange. Large, so it travels over TCP.
    """

    source: Name
    members: tuple[MemberRecord, ...]
    reply: bool


# --- replicated state ----------------------------------------------------------------------------------


@record
@dataclass(frozen=True, slots=True)
class OwnerDelta:
    """Entries of one owner's life, and the range of its versions they cover (see `cluster.state.store`).

    The sender vouches that `states` are all of `owner`'s entries (at their latest version) with a version
    in `(after, through]`, or, for a `snapshot`, up to `through`, so that whatever the receiver holds there
    and is not listed has been superseded or deleted. `floor` is the highest version of a tombstone the
    sender has collected: a receiver below it needs a snapshot.
    """

    owner: Name
    generation: Count
    after: Count
    through: Count
    snapshot: bool
    floor: Count
    states: tuple[SyncableState, ...]


@wire("push")
@dataclass(frozen=True, slots=True)
class Push:
    source: Name
    lamport: Count
    deltas: tuple[OwnerDelta, ...]


@wire("pull")
@dataclass(frozen=True, slots=True)
class Pull:
    """`repair`: a gap's repair. It asks only about the owners listed, and is answered by a plain push of
    what the asker lacks of them (no digest back, so no second leg): the entries that overtook the
    missing ones are not sent for nothing, nor the answerer's own backlog in a burst."""

    source: Name
    lamport: Count
    digest: Digest
    repair: bool = False


@wire("push-pull")
@dataclass(frozen=True, slots=True)
class PushPull:
    source: Name
    lamport: Count
    deltas: tuple[OwnerDelta, ...]
    digest: Digest


# --- handshake and readiness ---------------------------------------------------------------------------


@wire("hello")
@dataclass(frozen=True, slots=True)
class Hello:
    cluster: Name
    name: Name
    node_id: Name
    generation: Count
    protocol_version: Count
    layout_digest: Name
    cluster_started: bool
    """Lets a node that (re)connects after the start learn it from the manager's hello (replay)."""


@wire("hello-refused")
@dataclass(frozen=True, slots=True)
class HelloRefused:
    reason: Name
    detail: str


@wire("node-fully-connected")
@dataclass(frozen=True, slots=True)
class NodeFullyConnected:
    name: Name
    node_id: Name
    resending: bool
    """True once this node has seen cluster_started, so a restarted manager does not announce it again."""


@wire("node-connectivity-lost")
@dataclass(frozen=True, slots=True)
class NodeConnectivityLost:
    name: Name
    node_id: Name
    missing: tuple[Name, ...]


@wire("cluster-started")
@dataclass(frozen=True, slots=True)
class ClusterStarted:
    """`replay` is true when the start is being re-told to a node that missed the announcement."""

    manager: Name
    replay: bool = False


# --- application messages (users' actors) ---------------------------------------------------------------


@wire("app")
@dataclass(frozen=True, slots=True)
class AppMessage:
    """A user's message to actor `to_actor` on the receiving node, over the peering's TCP connection.

    `payload` is the message already packed and checked by the sender (`cluster.app.plain`): nothing in
    between walks it again, and the receiving actor's host unpacks it. `request` > 0 asks for a reply
    carrying the same number back in `reply`; `from_actor` "" is a sender outside any actor (a client)."""

    to_actor: Name
    from_actor: Name
    payload: bytes
    request: Count = 0
    reply: Count = 0


@wire("app-publish")
@dataclass(frozen=True, slots=True)
class AppPublish:
    """A publish to `topic`, sent once to each node that has a subscriber to it."""

    topic: Name
    from_actor: Name
    payload: bytes


@wire("app-undeliverable")
@dataclass(frozen=True, slots=True)
class AppUndeliverable:
    """An `AppMessage` sent back to its sender's node because it could not be delivered here."""

    to_actor: Name
    from_actor: Name
    payload: bytes
    reason: str
    request: Count = 0


AppWire: TypeAlias = AppMessage | AppPublish | AppUndeliverable


# --- control -------------------------------------------------------------------------------------------


@wire("control-request")
@dataclass(frozen=True, slots=True)
class ControlRequest:
    command: Name
    args: PlainMap


@wire("control-reply")
@dataclass(frozen=True, slots=True)
class ControlReply:
    ok: bool
    body: PlainMap
    error: str = ""


GossipMessage: TypeAlias = (
    Ping | PingAck | Nack | PingReq | Suspect | Alive | Dead | Join | Leave | Push | Pull | PushPull
)
"""The seed's membership and state messages: the ones that travel by gossip (UDP, or TCP when large)."""

WireMessage: TypeAlias = (
    GossipMessage
    | Compound
    | MemberSync
    | Hello
    | HelloRefused
    | NodeFullyConnected
    | NodeConnectivityLost
    | ClusterStarted
    | ControlRequest
    | ControlReply
    | AppMessage
    | AppPublish
    | AppUndeliverable
)


# --- helpers -------------------------------------------------------------------------------------------


def recency_key(state: SyncableState) -> tuple[int, int, str, str, str]:
    """The order `newer` uses: (generation, version, source_node, state_type, key).

    For one owner this is (generation, version): a restarted owner's writes beat its former life even when
    its fresh Lamport clock is behind. Across owners no order can both follow versions and keep that rule
    and still be transitive (x@gen2/v1 > x@gen1/v5 > y/v3 > x@gen2/v1), and a merge that keeps "the newer"
    is only associative under a transitive order. So generation leads everywhere; owners are still compared
    deterministically, and real cross-owner conflicts are settled by the providers' merge rules.
    """
    return (state.generation, state.version, state.source_node, state.state_type, state.key)


def last_writer_rank(state: SyncableState) -> tuple[int, str]:
    """Last writer wins across owners: the higher Lamport version, then the higher owner name (so
    concurrent writes are settled the same way everywhere). What kv, drain and health decide by, and what
    the store keeps a tombstone for while it still hides an older value of another owner."""
    return (state.version, state.source_node)


def newer(a: SyncableState, b: SyncableState) -> bool:
    """True when `a` should replace `b`: a strict total order over distinct `recency_key`s."""
    return recency_key(a) > recency_key(b)


def state_key(state_type: str, key: str) -> str:
    """ "type/key": unambiguous because state types may not contain '/' (keys may); split at the first '/'."""
    if "/" in state_type:
        raise ValueError(f"state type must not contain '/': {state_type!r}")
    return f"{state_type}/{key}"


def split_state_key(joined: str) -> tuple[str, str]:
    """Invert `state_key`."""
    state_type, sep, key = joined.partition("/")
    if not sep:
        raise ValueError(f"not a state key (no '/'): {joined!r}")
    return state_type, key


def generate_node_id(rng: random.Random) -> str:
    """A fresh node id from the caller's seeded rng, so simulations and tests are reproducible."""
    return f"{rng.getrandbits(128):032x}"


def digest_to_dict(digest: Digest) -> dict[str, tuple[int, int]]:
    """owner -> (generation, max_version). A repeated owner keeps its highest pair rather than failing,
    since claiming to have more than another triple says is never unsafe for the asker to ignore."""
    out: dict[str, tuple[int, int]] = {}
    for owner, generation, version in digest:
        out[owner] = max(out.get(owner, (generation, version)), (generation, version))
    return out


def digest_from_dict(mapping: Mapping[str, tuple[int, int]]) -> Digest:
    """Sorted by owner, so equal digests are equal tuples (and encode to equal bytes)."""
    return tuple((owner, gen, ver) for owner, (gen, ver) in sorted(mapping.items()))
