"""The transport actor: the I/O shell around `cluster.readiness.peering.PeeringTable`.

It turns reactor events into core inputs and core effects into socket commands and tells. It decodes
every frame; a frame that does not decode is counted and dropped with a rate-limited log line, never
raised into the actor (architecture §4). Inbound messages are routed by their type to whichever actors
subscribed to it; a message sent to the node's own name is routed the same way, locally.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from typing import Any

import pykka

from actors.base import CrashHandler, NodeActor, handles, tell_if_alive
from actors.clock import Clock
from actors.messages import (
    AnswerControl,
    ApplyFaults,
    ArmTimer,
    ControlRequestReceived,
    DisarmTimer,
    KeepConnected,
    MessageReceived,
    MessagesReceived,
    PeerIsDown,
    PeerIsUp,
    PeerOverloaded,
    RaiseEvent,
    SendMany,
    SendTo,
    SetHelloReadiness,
    StartListening,
    SubscribeMessages,
    SubscribePeers,
    TimerFired,
)
from actors.ratelimit import RateLimitedLog
from actors.reactor import (
    ConnAccepted,
    ConnClosed,
    ConnEstablished,
    FramesReceived,
    Reactor,
    SendsDropped,
)
from cluster.core import effects as fx
from cluster.core.faults import NetworkFaults
from cluster.layout.app import DEFAULT_SEND_BUFFER
from cluster.readiness.peering import (
    Close,
    Deliver,
    DeliverAll,
    DeliverControl,
    Dial,
    Dropped,
    Identified,
    PeerDown,
    PeeringEffect,
    PeeringTable,
    PeerUp,
    SendAllOn,
    SendOn,
)
from cluster.wire.codec import CodecError, decode, encode, frame
from cluster.wire.messages import ControlReply, WireMessage
from cluster.wire.seal import FRAME, OVERHEAD, SEALED_MARK, Sealing, Unsealed

log = logging.getLogger(__name__)


class Transport(NodeActor):
    def __init__(
        self,
        core: PeeringTable,
        reactor: Reactor,
        *,
        timer: pykka.ActorRef[Any],
        events: pykka.ActorRef[Any],
        clock: Clock,
        max_frame: int,
        send_bound: int = DEFAULT_SEND_BUFFER,
        dropped: Counter[str] | None = None,
        sealing: Sealing | None = None,
        on_crash: CrashHandler | None = None,
    ) -> None:
        """`dropped`: where frames dropped are counted by reason (the node's metrics read it).
        `sealing`: a sealed cluster's; every frame is sealed on its way out and opened on its way in."""
        super().__init__(on_crash=on_crash)
        self._core = core
        self._send_bound = send_bound
        self._reactor = reactor
        self._listening = False
        self._timer = timer
        self._events = events
        self._clock = clock
        self._max_frame = max_frame
        self._sealing = sealing
        self._routes: dict[type, list[pykka.ActorRef[Any]]] = defaultdict(list)
        self._batched: set[str] = set()  # urns of subscribers that take MessagesReceived
        # What one input sends and delivers, written out once it is handled: one command to the I/O
        # thread per connection, one tell per batched subscriber (see `on_receive`).
        self._outgoing: dict[int, list[bytes]] = {}
        self._bounded: list[tuple[int, list[bytes], str, pykka.ActorRef[Any]]] = []
        self._incoming: dict[tuple[str, str], tuple[pykka.ActorRef[Any], list[WireMessage]]] = {}
        self._peer_subscribers: list[pykka.ActorRef[Any]] = []
        self.dropped: Counter[str] = Counter() if dropped is None else dropped
        self._drop_log = RateLimitedLog(log, clock, interval=5.0)
        self._name = core.identity.name

    def on_stop(self) -> None:
        if self._listening:
            self._reactor.stop()

    def on_receive(self, message: Any) -> Any:
        try:
            return super().on_receive(message)
        finally:
            if self._outgoing or self._bounded:
                self._write_out()
            if self._incoming:
                self._hand_in()

    @handles(StartListening)
    def _start_listening(self, message: StartListening) -> None:
        """Told by the node once every subscription is in place, so no early peer goes unseen."""
        if not self._listening:
            self._listening = True
            me = self.actor_ref
            self._reactor.start(lambda event: tell_if_alive(me, event))

    # -- from the node's actors -----------------------------------------------------------------

    @handles(SubscribePeers)
    def _subscribe_peers(self, message: SubscribePeers) -> None:
        self._peer_subscribers.append(message.subscriber)
        for name, node_id in self._core.peers_up().items():
            message.subscriber.tell(PeerIsUp(name, node_id, False))

    @handles(SubscribeMessages)
    def _subscribe_messages(self, message: SubscribeMessages) -> None:
        for message_type in message.message_types:
            self._routes[message_type].append(message.subscriber)
        if message.batches:
            self._batched.add(message.subscriber.actor_urn)

    @handles(KeepConnected)
    def _keep_connected(self, message: KeepConnected) -> None:
        self._apply(self._core.want(message.peer))

    @handles(SendTo)
    def _send_to(self, message: SendTo) -> None:
        if message.peer == self._name:
            self._route(self._name, message.message)
        else:
            self._apply(self._core.send(message.peer, message.message))

    @handles(SendMany)
    def _send_many(self, message: SendMany) -> None:
        effects = self._core.send_all(message.peer, message.messages)
        if message.overflow is None:
            self._apply(effects)
            return
        for effect in effects:
            if isinstance(effect, SendAllOn):
                frames = self._frames_of(effect.messages)
                self._bounded.append((effect.conn_id, frames, message.peer, message.overflow))
            else:
                self._apply([effect])

    @handles(SendsDropped)
    def _sends_dropped(self, message: SendsDropped) -> None:
        peer, overflow = message.tag
        tell_if_alive(overflow, PeerOverloaded(peer, message.count))

    @handles(ApplyFaults)
    def _apply_faults(self, message: ApplyFaults) -> None:
        """UDP and delay are the reactor's to carry out (by address); TCP partitions the peering core's."""
        plan = message.plan
        addresses = self._core.addresses
        self._reactor.set_faults(
            NetworkFaults(frozenset(addresses[name] for name in plan.blocked), plan.loss, plan.delay)
        )
        self._apply(self._core.block(plan.blocked, self._clock.now()))
        log.warning(
            "injected faults now: cut off from %s, %.0f%% datagrams lost, %.0f ms delay",
            ", ".join(sorted(plan.blocked)) or "no one",
            100 * plan.loss,
            1000 * plan.delay,
        )

    @handles(SetHelloReadiness)
    def _set_readiness(self, message: SetHelloReadiness) -> None:
        self._core.cluster_started = message.started

    @handles(AnswerControl)
    def _answer_control(self, message: AnswerControl) -> None:
        self._apply([SendOn(message.conn_id, message.reply), Close(message.conn_id)])

    @handles(TimerFired)
    def _timer_fired(self, message: TimerFired) -> None:
        self._apply(self._core.timer(message.key, message.due))

    # -- from the reactor -----------------------------------------------------------------------

    @handles(ConnAccepted)
    def _accepted(self, message: ConnAccepted) -> None:
        self._apply(self._core.accepted(message.conn_id, self._clock.now()))

    @handles(ConnEstablished)
    def _established(self, message: ConnEstablished) -> None:
        self._apply(self._core.connected(message.conn_id, self._clock.now()))

    @handles(ConnClosed)
    def _closed(self, message: ConnClosed) -> None:
        log.debug("connection %s closed: %s", message.conn_id, message.reason)
        self._apply(self._core.closed(message.conn_id, self._clock.now(), message.reason))

    @handles(FramesReceived)
    def _frames(self, message: FramesReceived) -> None:
        decoded: list[WireMessage] = []
        max_frame = self._max_frame
        sealing = self._sealing
        for payload in message.payloads:
            if sealing is None and payload[:1] == SEALED_MARK:
                self._count_drop("frame unsealed: no-key", f"connection {message.conn_id}")
                continue
            if sealing is not None:
                try:
                    payload = sealing.frames.open(FRAME, payload)
                except Unsealed as refused:
                    self._count_drop(f"frame unsealed: {refused.reason}", f"connection {message.conn_id}")
                    self._tell_sealed(message.conn_id, refused)
                    continue
            try:
                decoded.append(decode(payload, max_size=max_frame))
            except CodecError as error:
                self._apply(self._core.unreadable(message.conn_id, str(error)))
        self._apply(self._core.received_all(message.conn_id, decoded, self._clock.now()))

    # -- carrying out effects -------------------------------------------------------------------

    def _apply(self, effects: list[PeeringEffect]) -> None:
        reactor = self._reactor
        for effect in effects:
            match effect:
                case SendOn(conn_id, wire):
                    self._outgoing.setdefault(conn_id, []).append(self._frame_of(wire))
                case SendAllOn(conn_id, wires):
                    self._outgoing.setdefault(conn_id, []).extend(self._frames_of(wires))
                case Dial(conn_id, _peer, address):
                    reactor.dial(conn_id, address.host, address.port)
                case Close(conn_id):
                    self._write_out()  # what was sent on it first
                    reactor.close(conn_id)
                case PeerUp(name, node_id, started):
                    self._tell_peers(PeerIsUp(name, node_id, started))
                case PeerDown(name, node_id):
                    self._tell_peers(PeerIsDown(name, node_id))
                case Deliver(peer, wire):
                    self._route(peer, wire)
                case DeliverAll(peer, wires):
                    route = self._route
                    for wire in wires:
                        route(peer, wire)
                case DeliverControl(conn_id, request):
                    self._route_control(conn_id, request)
                case Identified(conn_id):
                    reactor.identified(conn_id)
                case Dropped(reason, detail):
                    self._count_drop(reason, detail)
                case fx.Emit(event):
                    self._events.tell(RaiseEvent(event))
                case fx.StartTimer(key, deadline):
                    self._timer.tell(ArmTimer(key, deadline, self.actor_ref))
                case fx.CancelTimer(key):
                    self._timer.tell(DisarmTimer(key, self.actor_ref))
                case _:
                    raise TypeError(f"transport cannot carry out {effect!r}")

    def _tell_sealed(self, conn_id: int, refused: Unsealed) -> None:
        """A stranger's frame that does not open is most likely clusterctl without the cluster's key (or
        with another): it is told so in the clear, once, and the connection closed, rather than left to
        wait out its timeout. It learns only that the cluster is sealed."""
        if not self._core.stranger(conn_id):
            return
        told = ControlReply(
            False, {}, f"this cluster is sealed, and the request does not open ({refused.reason})"
        )
        self._reactor.send(conn_id, frame(encode(told)))
        self._reactor.close(conn_id)

    def _frame_of(self, message: WireMessage) -> bytes:
        """The message as one frame; one that cannot be encoded (over the frame limit, or a value the
        schema refuses) is never sent and never raised here, where it stopped the whole node. A control
        reply becomes a refusal that says why, so the client hears it instead of waiting out its timeout."""
        try:
            encoded = encode(message, max_size=self._max_frame)
            if self._sealing is None:
                return frame(encoded, max_size=self._max_frame)
            return frame(self._sealing.sealer.seal(FRAME, encoded), max_size=self._max_frame + OVERHEAD)
        except CodecError as error:
            if isinstance(message, ControlReply) and message.ok:
                return self._frame_of(ControlReply(False, {}, f"the answer cannot be sent: {error}"))
            self._count_drop("unencodable", f"{type(message).__name__}: {error}")
            return b""

    def _frames_of(self, messages: tuple[WireMessage, ...]) -> list[bytes]:
        frame_of = self._frame_of
        return [frame_of(message) for message in messages]

    def _route(self, peer: str, wire: WireMessage) -> None:
        subscribers = self._routes.get(type(wire))
        if not subscribers:
            self._count_drop("unrouted", f"{type(wire).__name__} from {peer}")
            return
        for subscriber in subscribers:
            if subscriber.actor_urn in self._batched:
                key = (subscriber.actor_urn, peer)
                self._incoming.setdefault(key, (subscriber, []))[1].append(wire)
            else:
                tell_if_alive(subscriber, MessageReceived(peer, wire))

    def _write_out(self) -> None:
        outgoing, self._outgoing = self._outgoing, {}
        for conn_id, frames in outgoing.items():
            self._reactor.send(conn_id, b"".join(frames))
        bounded, self._bounded = self._bounded, []
        for conn_id, frames, peer, overflow in bounded:
            self._reactor.send_bounded(
                conn_id, b"".join(frames), limit=self._send_bound, count=len(frames), tag=(peer, overflow)
            )

    def _hand_in(self) -> None:
        incoming, self._incoming = self._incoming, {}
        for (_urn, peer), (subscriber, messages) in incoming.items():
            if len(messages) == 1:
                tell_if_alive(subscriber, MessageReceived(peer, messages[0]))
            else:
                tell_if_alive(subscriber, MessagesReceived(peer, tuple(messages)))

    def _route_control(self, conn_id: int, request: Any) -> None:
        subscribers = self._routes.get(type(request))
        if not subscribers:
            self._count_drop("unrouted", "control request with no control endpoint")
            return
        subscribers[0].tell(ControlRequestReceived(conn_id, request, self.actor_ref))

    def _tell_peers(self, message: PeerIsUp | PeerIsDown) -> None:
        for subscriber in self._peer_subscribers:
            tell_if_alive(subscriber, message)

    def _count_drop(self, reason: str, detail: str) -> None:
        self.dropped[reason] += 1
        self._drop_log.warning(reason, "dropped (%s): %s [%d so far]", reason, detail, self.dropped[reason])
