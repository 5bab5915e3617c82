"""The transport's rules: dialing, the cluster-level hello, and which connection is which peer.

This is the sans-I/O half of the transport actor (architecture §3, the handshake). It sees connections only as
numbers and returns effects; the actor's reactor thread does the socket work. Keeping it pure is what lets
the hello refusal table and the redial policy be tested without a single socket.

A peering is the set of handshaken connections to one node id: it is up from the first valid hello and
down when its last connection closes. The dialling side says `hello` as soon as its connection exists;
the accepting side answers with its own only once that hello is valid. A node that greeted every
connection it accepted told anyone who connected its id, generation and layout digest, which is all a
hello claiming its name needs (issue 11 §0.9); a refusal sent to a connection we did not dial says why
in general terms for the same reason, while our own event keeps the particulars.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from cluster.core.backoff import backoff_delay
from cluster.core.effects import Address, CancelTimer, Emit, StartTimer
from cluster.core.events import HandshakeRefusedEvent, NodeDownEvent, NodeUpEvent
from cluster.wire.messages import (
    PROTOCOL_VERSION,
    ControlReply,
    ControlRequest,
    Hello,
    HelloRefused,
    WireMessage,
)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who this node is, as its hello says."""

    cluster: str
    name: str
    node_id: str
    generation: int
    layout_digest: str


# -- transport-only effects --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dial:
    conn_id: int
    peer: str
    address: Address


@dataclass(frozen=True, slots=True)
class SendOn:
    conn_id: int
    message: WireMessage


@dataclass(frozen=True, slots=True)
class SendAllOn:
    conn_id: int
    messages: tuple[WireMessage, ...]


@dataclass(frozen=True, slots=True)
class Close:
    """Close after what is already queued on the connection has been written."""

    conn_id: int


@dataclass(frozen=True, slots=True)
class PeerUp:
    name: str
    node_id: str
    cluster_started: bool


@dataclass(frozen=True, slots=True)
class PeerDown:
    name: str
    node_id: str


@dataclass(frozen=True, slots=True)
class Deliver:
    """A message from a handshaken peer, for the actor subscribed to its type."""

    peer: str
    message: WireMessage


@dataclass(frozen=True, slots=True)
class DeliverAll:
    """Several messages from a handshaken peer, in the order they came."""

    peer: str
    messages: tuple[WireMessage, ...]


@dataclass(frozen=True, slots=True)
class DeliverControl:
    conn_id: int
    request: ControlRequest


@dataclass(frozen=True, slots=True)
class Identified:
    """The accepted connection `conn_id` said who it is (a valid hello, or a control request): the bounds
    the reactor keeps on strangers' connections no longer apply to it."""

    conn_id: int


@dataclass(frozen=True, slots=True)
class Dropped:
    """Something was thrown away; the actor counts it and logs at a limited rate."""

    reason: str
    detail: str


PeeringEffect = (
    Dial
    | SendOn
    | SendAllOn
    | Close
    | PeerUp
    | PeerDown
    | Deliver
    | DeliverAll
    | DeliverControl
    | Identified
    | Dropped
    | Emit
    | StartTimer
    | CancelTimer
)


@dataclass(slots=True)
class _Conn:
    dialed: str | None  # the peer we dialed, or None for an accepted connection
    peer: str | None = None  # set by a valid hello
    node_id: str | None = None
    generation: int = -1


@dataclass(slots=True)
class _Peering:
    node_id: str
    generation: int
    conns: set[int] = field(default_factory=set)
    since: float = 0.0  # when the hello brought it up


@dataclass(frozen=True, slots=True)
class Redial:
    """Timer key: dial `peer` again (after a backoff since its last connection failed)."""

    peer: str


@dataclass(frozen=True, slots=True)
class HandshakeDeadline:
    """Timer key: connection `conn_id` must have said a valid hello by now."""

    conn_id: int


PeeringTimer = Redial | HandshakeDeadline


_IN_GENERAL = {
    "protocol-version": f"this node speaks protocol {PROTOCOL_VERSION}",
    "other-cluster": "not a member of this cluster",
    "unknown-node": "not a node of this cluster's layout",
    "other-layout": "this node runs another layout",
    "name-held": "that name is held by a live node",
    "unexpected-node": "not the node that was dialled",
}
"""What a refusal tells a connection we did not dial: the reason, without this node's particulars."""

PATIENCE_DOUBLINGS = 3
"""A dial waits for the peer's hello at most 2**3 = 8 handshake timeouts (see `PeeringTable._patience`)."""


class PeeringTable:
    """Pure core of the transport: connection table, hello checks and the redial policy."""

    def __init__(
        self,
        identity: Identity,
        addresses: Mapping[str, Address],
        *,
        retry_min: float,
        retry_max: float,
        handshake_timeout: float,
        rng: random.Random,
    ) -> None:
        self.identity = identity
        self._addresses = dict(addresses)
        self._retry = (retry_min, retry_max)
        self._handshake_timeout = handshake_timeout
        self._rng = rng
        self._conn_ids = itertools.count(1)
        self._conns: dict[int, _Conn] = {}
        self._peerings: dict[str, _Peering] = {}
        self._wanted: dict[str, int] = {}  # peer -> failed attempts since its last handshake
        self._dialing: dict[str, int] = {}  # peer -> conn id not yet handshaken
        self._blocked: frozenset[str] = frozenset()  # injected partition (cluster.core.faults)
        self.cluster_started = False

    # -- queries --------------------------------------------------------------------------------

    def is_up(self, peer: str) -> bool:
        return peer in self._peerings

    @property
    def addresses(self) -> dict[str, Address]:
        """Where each other node of the layout listens."""
        return dict(self._addresses)

    def peers_up(self) -> dict[str, str]:
        return {name: peering.node_id for name, peering in self._peerings.items()}

    def hello(self) -> Hello:
        me = self.identity
        return Hello(
            cluster=me.cluster,
            name=me.name,
            node_id=me.node_id,
            generation=me.generation,
            protocol_version=PROTOCOL_VERSION,
            layout_digest=me.layout_digest,
            cluster_started=self.cluster_started,
        )

    # -- inputs from the node -------------------------------------------------------------------

    def want(self, peer: str) -> list[PeeringEffect]:
        if peer not in self._addresses:
            return [Dropped("unknown-peer", f"no address for {peer!r} in the layout")]
        self._wanted.setdefault(peer, 0)
        return self._dial_if_needed(peer)

    def block(self, peers: frozenset[str], now: float) -> list[PeeringEffect]:
        """An injected partition: from now on `peers` are cut off (replacing any earlier set).

        Their connections close (the reactor's reports then bring the usual peer-down), none is dialled
        and a hello from one is dropped without an answer, as a partition would lose it. A peer no longer
        blocked that we want is dialled at once, without waiting out the backoff it piled up.
        """
        newly, freed = peers - self._blocked, self._blocked - peers
        self._blocked = frozenset(peers)
        effects: list[PeeringEffect] = [
            Close(conn_id)
            for conn_id, conn in sorted(self._conns.items())
            if conn.peer in newly or conn.dialed in newly
        ]
        for peer in sorted(freed & self._wanted.keys()):
            self._wanted[peer] = 0
            effects += self._dial_if_needed(peer)
        return effects

    def send_all(self, peer: str, messages: tuple[WireMessage, ...]) -> list[PeeringEffect]:
        """Like `send` for each of `messages`, as one effect: they go on one connection, in order."""
        peering = self._peerings.get(peer)
        if peering is None:
            return [Dropped("no-peering", f"{len(messages)} messages to {peer}: not connected")]
        return [SendAllOn(min(peering.conns), messages)]

    def send(self, peer: str, message: WireMessage) -> list[PeeringEffect]:
        peering = self._peerings.get(peer)
        if peering is None:
            return [Dropped("no-peering", f"{type(message).__name__} to {peer}: not connected")]
        return [SendOn(min(peering.conns), message)]

    # -- inputs from the reactor ----------------------------------------------------------------

    def connected(self, conn_id: int, now: float) -> list[PeeringEffect]:
        """An outgoing dial completed; `conn_id` came from our own Dial effect."""
        if conn_id not in self._conns:
            return [Close(conn_id)]
        return self._open(conn_id, now)

    def accepted(self, conn_id: int, now: float) -> list[PeeringEffect]:
        """An incoming connection; the reactor numbers these negatively, our dials are positive."""
        if conn_id in self._conns:
            raise ValueError(f"connection {conn_id} is already open")
        self._conns[conn_id] = _Conn(dialed=None)
        return []  # the reactor holds it to a deadline until it says who it is (`Identified`)

    def closed(self, conn_id: int, now: float, reason: str = "") -> list[PeeringEffect]:
        conn = self._conns.pop(conn_id, None)
        if conn is None:
            return []
        effects: list[PeeringEffect] = []
        if conn.peer is None:
            effects.append(CancelTimer(HandshakeDeadline(conn_id)))
        if conn.peer is not None:
            peering = self._peerings.get(conn.peer)
            if peering is not None and conn_id in peering.conns:
                peering.conns.discard(conn_id)
                if not peering.conns:
                    del self._peerings[conn.peer]
                    if conn.peer in self._wanted and now - peering.since >= self._retry[1]:
                        self._wanted[conn.peer] = 0  # it held: a fresh loss, redialled at once
                    effects += [
                        PeerDown(conn.peer, peering.node_id),
                        Emit(NodeDownEvent(conn.peer, peering.node_id)),
                    ]
        if conn.dialed is not None and self._dialing.get(conn.dialed) == conn_id:
            del self._dialing[conn.dialed]
        for peer in sorted({p for p in (conn.dialed, conn.peer) if p is not None} & self._wanted.keys()):
            effects += self._schedule_redial(peer, now)
        return effects

    def received(self, conn_id: int, message: WireMessage, now: float) -> list[PeeringEffect]:
        conn = self._conns.get(conn_id)
        if conn is None:
            return [Dropped("closed-connection", f"{type(message).__name__} on closed connection {conn_id}")]
        if isinstance(message, Hello):
            return self._on_hello(conn_id, conn, message, now)
        if isinstance(message, HelloRefused):
            return [
                Emit(
                    HandshakeRefusedEvent(
                        peer=conn.dialed or conn.peer or "?",
                        by="peer",
                        reason=message.reason,
                        detail=message.detail,
                    )
                ),
                Close(conn_id),
            ]
        if conn.peer is None:
            if isinstance(message, ControlRequest):
                return [Identified(conn_id), DeliverControl(conn_id, message)]
            return [
                Dropped("before-hello", f"{type(message).__name__} before the hello"),
                Close(conn_id),
            ]
        return [Deliver(conn.peer, message)]

    def received_all(self, conn_id: int, messages: list[WireMessage], now: float) -> list[PeeringEffect]:
        """`received` for each, in order; on a handshaken connection the runs of ordinary messages leave
        as one `DeliverAll` each (what one read of a busy stream brings is mostly that)."""
        effects: list[PeeringEffect] = []
        run: list[WireMessage] = []
        for message in messages:
            conn = self._conns.get(conn_id)
            if conn is not None and conn.peer is not None and type(message) not in (Hello, HelloRefused):
                run.append(message)
                continue
            if run:
                effects.append(DeliverAll(conn.peer if conn and conn.peer else "?", tuple(run)))
                run = []
            effects += self.received(conn_id, message, now)
        if run:
            conn = self._conns[conn_id]
            assert conn.peer is not None
            effects.append(DeliverAll(conn.peer, tuple(run)))
        return effects

    def stranger(self, conn_id: int) -> bool:
        """Whether `conn_id` is an accepted connection that has not said a valid hello."""
        conn = self._conns.get(conn_id)
        return conn is not None and conn.peer is None and conn.dialed is None

    def unreadable(self, conn_id: int, error: str) -> list[PeeringEffect]:
        """A frame on `conn_id` did not decode. On a connection that has not said hello it is most likely
        a control client's request that breaks the schema (too long, too deep, args that are not a map):
        it is answered with what is wrong, so the client hears why rather than waiting out its timeout,
        and the connection is closed as it would be after any answer. From a peer it is only dropped."""
        conn = self._conns.get(conn_id)
        effects: list[PeeringEffect] = [Dropped("bad-frame", f"connection {conn_id}: {error}")]
        if conn is not None and conn.peer is None and conn.dialed is None:
            refusal = ControlReply(False, {}, f"unreadable request: {error[:500]}")
            effects += [SendOn(conn_id, refusal), Close(conn_id)]
        return effects

    def timer(self, key: object, now: float) -> list[PeeringEffect]:
        match key:
            case Redial(peer):
                return self._dial_if_needed(peer) if peer in self._wanted else []
            case HandshakeDeadline(conn_id):
                conn = self._conns.get(conn_id)
                if conn is not None and conn.peer is None and conn.dialed is not None:
                    return [Dropped("handshake-timeout", f"no hello from {conn.dialed}"), Close(conn_id)]
        return []

    # -- rules ----------------------------------------------------------------------------------

    def _open(self, conn_id: int, now: float) -> list[PeeringEffect]:
        return [
            SendOn(conn_id, self.hello()),
            StartTimer(HandshakeDeadline(conn_id), now + self._patience(self._conns[conn_id])),
        ]

    def _patience(self, conn: _Conn) -> float:
        """How long a dial waits for the peer's hello: `handshake_timeout`, doubled for each attempt on
        that peer that failed since its last handshake, up to `2 ** PATIENCE_DOUBLINGS` times.

        A peer that accepted but has not greeted us is most often only busy: a hub of a 201-node start
        greets some 200 dials at once on a saturated machine. Closing at a fixed deadline and dialling
        again made it pay for each dial twice (the hello it had already answered, then the peering's
        loss, told to five actors), and the start collapsed into handshake timeouts for 90 s. So the
        deadline backs off as the redial does, as TCP backs off its retransmission timeout (RFC 6298
        §5.5); a peer that is really gone closes the connection itself, or is dropped at the deadline."""
        attempts = self._wanted.get(conn.dialed, 0) if conn.dialed is not None else 0
        return self._handshake_timeout * float(1 << min(attempts, PATIENCE_DOUBLINGS))

    def _dial_if_needed(self, peer: str) -> list[PeeringEffect]:
        if peer in self._peerings or peer in self._dialing or peer in self._blocked:
            return []  # a blocked peer is dialled when it is unblocked
        conn_id = next(self._conn_ids)
        self._conns[conn_id] = _Conn(dialed=peer)
        self._dialing[peer] = conn_id
        return [Dial(conn_id, peer, self._addresses[peer])]

    def _schedule_redial(self, peer: str, now: float) -> list[PeeringEffect]:
        if peer in self._peerings or peer in self._dialing:
            return []
        attempt = self._wanted[peer]
        self._wanted[peer] = attempt + 1
        delay = backoff_delay(attempt, *self._retry, self._rng)
        return [StartTimer(Redial(peer), now + delay)]

    def _refusal(self, conn: _Conn, hello: Hello) -> HelloRefused | None:
        """Why this hello must be refused, or None: one reason per rule, checked in this order."""
        me = self.identity
        if hello.protocol_version != PROTOCOL_VERSION:
            return HelloRefused(
                "protocol-version",
                f"{hello.name} speaks {hello.protocol_version}, we speak {PROTOCOL_VERSION}",
            )
        if hello.cluster != me.cluster:
            return HelloRefused(
                "other-cluster", f"{hello.name} is in cluster {hello.cluster!r}, not {me.cluster!r}"
            )
        if hello.name not in self._addresses and hello.name != me.name:
            return HelloRefused("unknown-node", f"{hello.name!r} is not a node of cluster {me.cluster!r}")
        if hello.layout_digest != me.layout_digest:
            return HelloRefused(
                "other-layout",
                f"{hello.name} runs layout {hello.layout_digest}, {me.name} runs {me.layout_digest}",
            )
        if hello.name == me.name:
            return HelloRefused("name-held", f"{me.name} is this node ({me.node_id})")
        if conn.dialed is not None and hello.name != conn.dialed:
            return HelloRefused("unexpected-node", f"dialed {conn.dialed} but {hello.name} answered")
        held = self._peerings.get(hello.name)
        if held is not None and held.node_id != hello.node_id and held.generation >= hello.generation:
            return HelloRefused(
                "name-held",
                f"{hello.name} is held by live id {held.node_id} (generation {held.generation}); "
                f"refused id {hello.node_id} (generation {hello.generation})",
            )
        return None

    def _on_hello(self, conn_id: int, conn: _Conn, hello: Hello, now: float) -> list[PeeringEffect]:
        if conn.peer is not None:
            return [Dropped("second-hello", f"{hello.name} said hello twice on one connection")]
        if hello.name in self._blocked:
            return [
                Dropped("partitioned", f"hello from {hello.name}, cut off by an injected fault"),
                Close(conn_id),
            ]
        refused = self._refusal(conn, hello)
        if refused is not None:
            told = (
                refused
                if conn.dialed is not None
                else HelloRefused(refused.reason, _IN_GENERAL[refused.reason])
            )
            return [
                SendOn(conn_id, told),
                Close(conn_id),
                Emit(
                    HandshakeRefusedEvent(
                        peer=hello.name, by="self", reason=refused.reason, detail=refused.detail
                    )
                ),
            ]
        effects: list[PeeringEffect] = [CancelTimer(HandshakeDeadline(conn_id))]
        if conn.dialed is None:
            effects += [Identified(conn_id), SendOn(conn_id, self.hello())]
        held = self._peerings.get(hello.name)
        if held is not None and held.node_id != hello.node_id:
            # A newer life of the node: its old connections are half-open leftovers.
            del self._peerings[hello.name]
            effects += [Close(old) for old in sorted(held.conns)]
            for old in held.conns:
                self._conns[old].peer = None
            effects += [PeerDown(hello.name, held.node_id), Emit(NodeDownEvent(hello.name, held.node_id))]
            held = None
        conn.peer, conn.node_id, conn.generation = hello.name, hello.node_id, hello.generation
        if conn.dialed is not None and self._dialing.get(conn.dialed) == conn_id:
            del self._dialing[conn.dialed]
        # The backoff is not reset here but when a peering that held closes (`closed`): a peer greets
        # every connection it accepts before it judges ours, so a peer that then refuses us (an injected
        # partition not yet applied on both sides, a name held) would reset it on each try and be
        # redialled ten times a second. As Akka's backoff supervisor, reset only after a stable run.
        if held is None:
            self._peerings[hello.name] = _Peering(hello.node_id, hello.generation, {conn_id}, now)
            effects += [
                PeerUp(hello.name, hello.node_id, hello.cluster_started),
                Emit(NodeUpEvent(hello.name, hello.node_id)),
            ]
        else:
            held.conns.add(conn_id)
        return effects
