"""The post office: the pure core of a node's app router, which carries users' messages between actors.

It decides, for every message a local actor sends and every one a peer delivers, where it goes:
- to a local actor, or back to its sender as undeliverable when there is no such actor (Akka's dead
  letters), counted;
- to a peer over the peering's TCP connection when it is up; otherwise into that peer's bounded queue while
  the transport dials it (on demand, with the same hello), flushed in order when the peering comes up;
- back to its sender as undeliverable when the node is down: not among the members membership can reach
  and not peered. A queue waiting for a peer that goes down is returned the same way.
- a publish to every local subscriber of the topic and once to every other reachable node that has one;
  who subscribes where is replicated state (the `topics` provider), so this core only reads its view.

A full queue drops the newest message (Zeek's overload drop): counted, and reported by a
`messages_dropped` event at once and then at most once a second while drops go on. Nothing here blocks.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from cluster.core.effects import Connect, Emit, StartTimer
from cluster.core.events import MessagesDroppedEvent
from cluster.wire.messages import AppMessage, AppPublish, AppUndeliverable, AppWire

__all__ = [
    "CLIENT",
    "Bounced",
    "DeliverLocal",
    "DeliverParcel",
    "Letter",
    "Parcel",
    "PostOffice",
    "PostOfficeEffect",
    "ReportDrops",
    "ReturnLocal",
    "Transmit",
    "WriteSubscription",
]

CLIENT = "$client"
"""The pseudo-actor of a message sent from outside any actor (clusterctl, a client): replies to it go back
to the control connection that asked. Layout names cannot start with '$', so it never clashes."""

DROP_REPORT_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class Letter:
    """A message for local actor `to_actor`: from `from_actor` on `from_node` (`topic` set for a publish)."""

    to_actor: str
    from_node: str
    from_actor: str
    payload: bytes
    request: int = 0
    reply: int = 0
    topic: str = ""


@dataclass(frozen=True, slots=True)
class Bounced:
    """A message local actor `sender` sent to `actor` on `node` that could not be delivered, and why."""

    sender: str
    node: str
    actor: str
    payload: bytes
    reason: str
    request: int = 0


# -- effects -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliverLocal:
    letter: Letter


@dataclass(frozen=True, slots=True)
class Parcel:
    """Messages from `from_node` for one local actor, in the order they came: the form a burst takes, so
    nothing is built per message between the transport and the actor's host."""

    from_node: str
    messages: tuple[AppMessage, ...]


@dataclass(frozen=True, slots=True)
class DeliverParcel:
    actor: str
    parcel: Parcel


@dataclass(frozen=True, slots=True)
class ReturnLocal:
    bounced: Bounced


@dataclass(frozen=True, slots=True)
class Transmit:
    """Send `messages` to `peer` on its peering, in this order."""

    peer: str
    messages: tuple[AppWire, ...]


@dataclass(frozen=True, slots=True)
class WriteSubscription:
    """This node's subscribers of `topic` are now `actors` (none: retract the entry)."""

    topic: str
    actors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReportDrops:
    """Timer key: report the messages dropped for `peer` since the last report."""

    peer: str


PostOfficeEffect = (
    DeliverLocal | DeliverParcel | ReturnLocal | Transmit | WriteSubscription | Connect | Emit | StartTimer
)


@dataclass(slots=True)
class _Stats:
    """What `clusterctl actors` shows of the node's mail: dead letters, and overload drops per peer."""

    undeliverable: int = 0
    dropped: Counter[str] = field(default_factory=Counter)


class PostOffice:
    def __init__(self, local: str, roles: Mapping[str, str], *, queue_limit: int, max_message: int) -> None:
        if queue_limit < 1:
            raise ValueError(f"queue_limit must be >= 1, got {queue_limit}")
        self.local = local
        self.queue_limit = queue_limit
        self.max_message = max_message
        self._roles = dict(roles)
        self._actors: set[str] = {CLIENT}
        self._members: frozenset[str] = frozenset({local})
        self._peers: set[str] = set()
        self._reachable: frozenset[str] | None = None  # worked out when asked after a change
        self._waiting: dict[str, deque[tuple[str, AppWire]]] = {}  # peer -> (local sender, message)
        self._subscribers: dict[str, set[str]] = {}  # topic -> local actors
        self._topic_nodes: dict[str, frozenset[str]] = {}  # topic -> nodes with subscribers (replicated)
        self._unreported: Counter[str] = Counter()
        self._reporting: set[str] = set()
        self.stats = _Stats()

    # -- queries --------------------------------------------------------------------------------

    def reachable(self) -> frozenset[str]:
        """Nodes a message may be sent to now: reachable members, peered nodes, and this one."""
        if self._reachable is None:
            self._reachable = self._members | self._peers | {self.local}
        return self._reachable

    def live_of_role(self, role: str) -> tuple[str, ...]:
        return tuple(sorted(n for n in self.reachable() if self._roles.get(n) == role))

    def role_of(self, node: str) -> str | None:
        return self._roles.get(node)

    # -- local actors ---------------------------------------------------------------------------

    def actor_started(self, name: str) -> None:
        self._actors.add(name)

    def actor_stopped(self, name: str) -> list[PostOfficeEffect]:
        self._actors.discard(name)
        effects: list[PostOfficeEffect] = []
        for topic in sorted(t for t, actors in self._subscribers.items() if name in actors):
            effects += self.unsubscribe(name, topic)
        return effects

    def subscribe(self, actor: str, topic: str) -> list[PostOfficeEffect]:
        actors = self._subscribers.setdefault(topic, set())
        if actor in actors:
            return []
        actors.add(actor)
        return [WriteSubscription(topic, tuple(sorted(actors)))]

    def unsubscribe(self, actor: str, topic: str) -> list[PostOfficeEffect]:
        actors = self._subscribers.get(topic)
        if not actors or actor not in actors:
            return []
        actors.discard(actor)
        if not actors:
            del self._subscribers[topic]
        return [WriteSubscription(topic, tuple(sorted(actors)))]

    # -- what the node's other actors tell -----------------------------------------------------

    def members_changed(self, members: Iterable[str]) -> list[PostOfficeEffect]:
        self._members = frozenset(members)
        self._reachable = None
        return self._return_unreachable()

    def peer_up(self, peer: str) -> list[PostOfficeEffect]:
        self._peers.add(peer)
        self._reachable = None
        waiting = self._waiting.pop(peer, None)
        if not waiting:
            return []
        return [Transmit(peer, tuple(message for _, message in waiting))]

    def peer_down(self, peer: str) -> list[PostOfficeEffect]:
        self._peers.discard(peer)
        self._reachable = None
        return self._return_unreachable()

    def topics_changed(self, changes: Iterable[tuple[str, Iterable[str] | None]]) -> None:
        """The `topics` view: topic -> nodes with subscribers (None: nobody subscribes any more)."""
        for topic, nodes in changes:
            if nodes is None:
                self._topic_nodes.pop(topic, None)
            else:
                self._topic_nodes[topic] = frozenset(nodes)

    def transmit_failed(
        self, peer: str, message: AppWire, sender: str, reason: str
    ) -> list[PostOfficeEffect]:
        """The transport could not send `message` (the peering went down under it)."""
        return self._bounce_outgoing(peer, sender, message, reason)

    # -- sending ----------------------------------------------------------------------------------

    def send(
        self,
        sender: str,
        node: str,
        actor: str,
        payload: bytes,
        *,
        request: int = 0,
        reply: int = 0,
        now: float,
    ) -> list[PostOfficeEffect]:
        if node == self.local:
            letter = Letter(actor, self.local, sender, payload, request, reply)
            return self._deliver(
                letter, lambda reason: self._bounced(sender, node, actor, payload, reason, request)
            )
        message = AppMessage(actor, sender, payload, request, reply)
        if node not in self._roles and node not in self.reachable():
            return [self._bounced(sender, node, actor, payload, f"no node named {node!r}", request)]
        if node not in self.reachable():
            return [self._bounced(sender, node, actor, payload, f"node {node} is down", request)]
        return self._outgoing(node, sender, message, now)

    def send_many(
        self, posts: Iterable[tuple[str, str, str, bytes, int, int]], now: float
    ) -> list[PostOfficeEffect]:
        """`send` for each (sender, node, actor, payload, request, reply), in order; what goes to one peer
        over its peering leaves as one `Transmit`. The common case (a peer that is up) is kept short:
        this is the path every message of a burst takes."""
        effects: list[PostOfficeEffect] = []
        batches: dict[str, list[AppWire]] = {}
        peers = self._peers
        for sender, node, actor, payload, request, reply in posts:
            if node in peers:
                batch = batches.get(node)
                if batch is None:
                    batch = batches[node] = []
                batch.append(AppMessage(actor, sender, payload, request, reply))
            else:
                effects += self.send(sender, node, actor, payload, request=request, reply=reply, now=now)
        effects += [Transmit(peer, tuple(batch)) for peer, batch in batches.items()]
        return effects

    def publish(self, sender: str, topic: str, payload: bytes, *, now: float) -> list[PostOfficeEffect]:
        effects: list[PostOfficeEffect] = [
            DeliverLocal(Letter(actor, self.local, sender, payload, topic=topic))
            for actor in sorted(self._subscribers.get(topic, ()))
        ]
        message = AppPublish(topic, sender, payload)
        reachable = self.reachable()
        for node in sorted(self._topic_nodes.get(topic, frozenset()) - {self.local}):
            if node in reachable:
                effects += self._outgoing(node, sender, message, now)
        return effects

    # -- receiving --------------------------------------------------------------------------------

    def received(self, peer: str, message: AppWire, now: float) -> list[PostOfficeEffect]:
        match message:
            case AppMessage(to_actor, from_actor, payload, request, reply):
                letter = Letter(to_actor, peer, from_actor, payload, request, reply)

                def back(reason: str) -> PostOfficeEffect:
                    self.stats.undeliverable += 1
                    bounce = AppUndeliverable(from_actor, to_actor, payload, reason, request)
                    return Transmit(peer, (bounce,))

                return self._deliver(letter, back)
            case AppPublish(topic, from_actor, payload):
                return [
                    DeliverLocal(Letter(actor, peer, from_actor, payload, topic=topic))
                    for actor in sorted(self._subscribers.get(topic, ()))
                ]
            case AppUndeliverable(sender, actor, payload, reason, request):
                if sender not in self._actors:
                    return []  # the sender is gone too: a dead letter of a dead letter is dropped
                return [ReturnLocal(Bounced(sender, peer, actor, payload, reason, request))]

    def refuse(self, letter: Letter, actor: str, reason: str) -> list[PostOfficeEffect]:
        """Local actor `actor` will never read `letter`: it goes back to its sender, wherever that is."""
        if letter.reply or letter.topic:
            return []  # a reply or a publish: nobody waits for it to arrive
        self.stats.undeliverable += 1
        if letter.from_node == self.local:
            bounced = Bounced(letter.from_actor, self.local, actor, letter.payload, reason, letter.request)
            return [ReturnLocal(bounced)] if letter.from_actor in self._actors else []
        message = AppUndeliverable(letter.from_actor, actor, letter.payload, reason, letter.request)
        return [Transmit(letter.from_node, (message,))] if letter.from_node in self.reachable() else []

    def received_many(self, peer: str, messages: Iterable[AppWire], now: float) -> list[PostOfficeEffect]:
        """`received` for each, in order; messages for one local actor leave as one `Parcel`. A message
        for an actor that is here takes the short way: the path every message of a burst takes."""
        effects: list[PostOfficeEffect] = []
        parcels: dict[str, list[AppMessage]] = {}
        actors = self._actors
        for message in messages:
            if type(message) is AppMessage and message.to_actor in actors:
                batch = parcels.get(message.to_actor)
                if batch is None:
                    batch = parcels[message.to_actor] = []
                batch.append(message)
                continue
            if parcels:  # keep the order with what is handled the long way
                effects += [DeliverParcel(a, Parcel(peer, tuple(b))) for a, b in parcels.items()]
                parcels = {}
            effects += self.received(peer, message, now)
        effects += [DeliverParcel(a, Parcel(peer, tuple(b))) for a, b in parcels.items()]
        return effects

    def timer(self, key: object, now: float) -> list[PostOfficeEffect]:
        if not isinstance(key, ReportDrops):
            return []
        dropped = self._unreported.pop(key.peer, 0)
        if not dropped:
            self._reporting.discard(key.peer)
            return []
        return [
            Emit(MessagesDroppedEvent(key.peer, dropped, self.queue_limit)),
            StartTimer(key, now + DROP_REPORT_INTERVAL),
        ]

    # -- rules ----------------------------------------------------------------------------------

    def _deliver(self, letter: Letter, bounce: Callable[[str], PostOfficeEffect]) -> list[PostOfficeEffect]:
        if letter.to_actor in self._actors:
            return [DeliverLocal(letter)]
        return [bounce(f"no actor {letter.to_actor!r} on {self.local}")]

    def _outgoing(self, peer: str, sender: str, message: AppWire, now: float) -> list[PostOfficeEffect]:
        if peer in self._peers:
            return [Transmit(peer, (message,))]
        waiting = self._waiting.get(peer)
        effects: list[PostOfficeEffect] = []
        if waiting is None:
            waiting = self._waiting[peer] = deque()
            effects.append(Connect(peer))
        if len(waiting) >= self.queue_limit:
            return effects + self._drop(peer, now)
        waiting.append((sender, message))
        return effects

    def overloaded(self, peer: str, count: int, now: float) -> list[PostOfficeEffect]:
        """`count` messages to `peer` were dropped on a connected peering whose outgoing buffer was full:
        the same overload drop as a full wait queue, counted and reported the same way."""
        return self._drop(peer, now, count)

    def _drop(self, peer: str, now: float, count: int = 1) -> list[PostOfficeEffect]:
        self.stats.dropped[peer] += count
        if peer in self._reporting:
            self._unreported[peer] += count
            return []
        self._reporting.add(peer)
        return [
            Emit(MessagesDroppedEvent(peer, count, self.queue_limit)),
            StartTimer(ReportDrops(peer), now + DROP_REPORT_INTERVAL),
        ]

    def _return_unreachable(self) -> list[PostOfficeEffect]:
        effects: list[PostOfficeEffect] = []
        reachable = self.reachable()
        for peer in sorted(p for p in self._waiting if p not in reachable):
            for sender, message in self._waiting.pop(peer):
                effects += self._bounce_outgoing(peer, sender, message, f"node {peer} is down")
        return effects

    def _bounce_outgoing(
        self, peer: str, sender: str, message: AppWire, reason: str
    ) -> list[PostOfficeEffect]:
        if isinstance(message, AppMessage):
            return [self._bounced(sender, peer, message.to_actor, message.payload, reason, message.request)]
        return []  # a publish, or a bounce of a peer's message: nobody waits for it

    def _bounced(
        self, sender: str, node: str, actor: str, payload: bytes, reason: str, request: int
    ) -> PostOfficeEffect:
        self.stats.undeliverable += 1
        return ReturnLocal(Bounced(sender, node, actor, payload, reason, request))
