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
    ArmTimer,
    ControlRequestReceived,
    DisarmTimer,
    KeepConnected,
    MessageReceived,
    PeerIsDown,
    PeerIsUp,
    RaiseEvent,
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
    FrameReceived,
    Reactor,
)
from cluster.core import effects as fx
from cluster.readiness.peering import (
    Close,
    Deliver,
    DeliverControl,
    Dial,
    Dropped,
    PeerDown,
    PeeringEffect,
    PeeringTable,
    PeerUp,
    SendOn,
)
from cluster.wire.codec import CodecError, decode, encode, frame
from cluster.wire.messages import WireMessage

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
        on_crash: CrashHandler | None = None,
    ) -> None:
        super().__init__(on_crash=on_crash)
        self._core = core
        self._reactor = reactor
        self._listening = False
        self._timer = timer
        self._events = events
        self._clock = clock
        self._max_frame = max_frame
        self._routes: dict[type, list[pykka.ActorRef[Any]]] = defaultdict(list)
        self._peer_subscribers: list[pykka.ActorRef[Any]] = []
        self.dropped: Counter[str] = Counter()
        self._drop_log = RateLimitedLog(log, clock, interval=5.0)
        self._name = core.identity.name

    def on_stop(self) -> None:
        if self._listening:
            self._reactor.stop()

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

    @handles(KeepConnected)
    def _keep_connected(self, message: KeepConnected) -> None:
        self._apply(self._core.want(message.peer))

    @handles(SendTo)
    def _send_to(self, message: SendTo) -> None:
        if message.peer == self._name:
            self._route(MessageReceived(self._name, message.message))
        else:
            self._apply(self._core.send(message.peer, message.message))

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

    @handles(FrameReceived)
    def _frame(self, message: FrameReceived) -> None:
        try:
            decoded = decode(message.payload, max_size=self._max_frame)
        except CodecError as error:
            self._count_drop("bad-frame", f"connection {message.conn_id}: {error}")
            return
        self._apply(self._core.received(message.conn_id, decoded, self._clock.now()))

    # -- carrying out effects -------------------------------------------------------------------

    def _apply(self, effects: list[PeeringEffect]) -> None:
        reactor = self._reactor
        for effect in effects:
            match effect:
                case SendOn(conn_id, wire):
                    reactor.send(conn_id, self._frame_of(wire))
                case Dial(conn_id, _peer, address):
                    reactor.dial(conn_id, address.host, address.port)
                case Close(conn_id):
                    reactor.close(conn_id)
                case PeerUp(name, node_id, started):
                    self._tell_peers(PeerIsUp(name, node_id, started))
                case PeerDown(name, node_id):
                    self._tell_peers(PeerIsDown(name, node_id))
                case Deliver(peer, wire):
                    self._route(MessageReceived(peer, wire))
                case DeliverControl(conn_id, request):
                    self._route_control(conn_id, request)
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

    def _frame_of(self, message: WireMessage) -> bytes:
        return frame(encode(message, max_size=self._max_frame), max_size=self._max_frame)

    def _route(self, received: MessageReceived) -> None:
        subscribers = self._routes.get(type(received.message))
        if not subscribers:
            self._count_drop("unrouted", f"{type(received.message).__name__} from {received.peer}")
            return
        for subscriber in subscribers:
            tell_if_alive(subscriber, received)

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
