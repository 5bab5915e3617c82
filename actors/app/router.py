"""The node's app router: the shell of `cluster.app.postoffice.PostOffice`.

Hosts post their actors' packed messages here; the router asks the core where each goes and carries it
out: a local host's mailbox, the transport (which dials the peer on demand with the same hello), or back
to the sender. It hears from the transport what peers deliver and which peerings come and go, from
membership which nodes are reachable, and from the `topics` provider who subscribes where. Clients
(`clusterctl send|publish|request|actors`) reach it through the control endpoint; a client's request waits
here for its reply or its timeout, so no thread ever blocks on one.
"""

from __future__ import annotations

import itertools
import logging
import queue
from dataclasses import dataclass
from typing import Any

import pykka

from actors.app.messages import (
    AppControl,
    HostStarted,
    HostStatus,
    HostStopped,
    MailArrived,
    Post,
    PostPublish,
    ReachableChanged,
    ReturnToSender,
    RouterBatch,
    Subscribe,
    Unsubscribe,
)
from actors.base import CrashHandler, NodeActor, answer, handles, inbox_empty, tell_if_alive
from actors.clock import Clock
from actors.messages import (
    ArmTimer,
    DisarmTimer,
    KeepConnected,
    MembersChanged,
    MessageReceived,
    MessagesReceived,
    PeerIsDown,
    PeerIsUp,
    PeerOverloaded,
    ProviderCommand,
    RaiseEvent,
    Reply,
    SendMany,
    TimerFired,
    ViewChanged,
)
from cluster.app.plain import MessageRefused, pack_message, unpack_message
from cluster.app.postoffice import (
    CLIENT,
    Bounced,
    DeliverLocal,
    DeliverParcel,
    Letter,
    Parcel,
    PostOffice,
    PostOfficeEffect,
    ReturnLocal,
    Transmit,
    WriteSubscription,
)
from cluster.control.protocol import (
    Accepted,
    ActorRow,
    ActorsList,
    ActorsRequest,
    AppPublishRequest,
    AppReplied,
    AppRequestRequest,
    AppSendRequest,
    failure,
    success,
)
from cluster.core import effects as fx
from cluster.wire.messages import AppMessage, AppPublish, AppUndeliverable, AppWire
from cluster.wire.schema import CodecError

log = logging.getLogger(__name__)

APP_WIRE = (AppMessage, AppPublish, AppUndeliverable)
BATCH_LIMIT = 256
"""Messages held for hand-on before the router passes them on even though more input is waiting."""


def _posted(post: Post) -> tuple[str, str, str, bytes, int, int]:
    """A post as `PostOffice.send_many` takes it."""
    return (post.sender, post.node, post.actor, post.payload, post.request, post.reply)


@dataclass(frozen=True, slots=True)
class _ClientDeadline:
    """Timer key: a client's request has waited its timeout."""

    request_id: int


class AppRouter(NodeActor):
    def __init__(
        self,
        core: PostOffice,
        *,
        transport: pykka.ActorRef[Any],
        timer: pykka.ActorRef[Any],
        events: pykka.ActorRef[Any],
        topics: pykka.ActorRef[Any] | None,
        clock: Clock,
        on_crash: CrashHandler | None = None,
    ) -> None:
        super().__init__(on_crash=on_crash)
        self.core = core
        self._transport = transport
        self._timer = timer
        self._events = events
        self._topics = topics
        self._clock = clock
        self._hosts: dict[str, pykka.ActorRef[Any]] = {}
        self._status: dict[str, HostStatus] = {}
        self._client_ids = itertools.count(1)
        self._clients: dict[int, tuple[Reply, str]] = {}  # request id -> (where the answer goes, actor)
        # What one burst of input sends and delivers, handed on when the inbox is empty (or the batch
        # is large): one tell per peer and per host instead of one per message.
        self._outbox: dict[str, list[AppWire]] = {}
        self._mail: dict[str, list[Letter | Parcel | Bounced]] = {}
        self._held = 0
        self._told_reachable: ReachableChanged | None = None

    @property
    def label(self) -> str:
        return "app-router"

    def on_receive(self, message: Any) -> Any:
        try:
            return super().on_receive(message)
        finally:
            if self._held and (self._held >= BATCH_LIMIT or inbox_empty(self.actor_inbox)):
                self._hand_on()

    def _hand_on(self) -> None:
        outbox, self._outbox = self._outbox, {}
        mail, self._mail = self._mail, {}
        self._held = 0
        for peer, messages in outbox.items():
            self._transport.tell(SendMany(peer, tuple(messages), overflow=self.actor_ref))
        for name, items in mail.items():
            host = self._hosts.get(name)
            if host is not None:
                host.tell(MailArrived(tuple(items)))

    # -- local actors -----------------------------------------------------------------------------

    @handles(HostStarted)
    def _host_started(self, message: HostStarted) -> None:
        self._hosts[message.name] = message.host
        self.core.actor_started(message.name)
        message.host.tell(ReachableChanged(self._reachable()))

    @handles(HostStopped)
    def _host_stopped(self, message: HostStopped) -> None:
        self._hosts.pop(message.name, None)
        self._apply(self.core.actor_stopped(message.name))

    @handles(HostStatus)
    def _host_status(self, message: HostStatus) -> None:
        self._status[message.name] = message

    @handles(Post)
    def _post(self, message: Post) -> None:
        self._apply(self.core.send_many([_posted(message)], self._clock.now()))

    @handles(RouterBatch)
    def _batch(self, message: RouterBatch) -> None:
        posts: list[tuple[str, str, str, bytes, int, int]] = []
        for item in message.items:
            if type(item) is Post:
                posts.append(_posted(item))
                continue
            if posts:  # what came before goes first
                self._apply(self.core.send_many(posts, self._clock.now()))
                posts = []
            getattr(self, self._dispatch[type(item)])(item)
        if posts:
            self._apply(self.core.send_many(posts, self._clock.now()))

    @handles(PostPublish)
    def _publish(self, message: PostPublish) -> None:
        self._apply(self.core.publish(message.sender, message.topic, message.payload, now=self._clock.now()))

    @handles(Subscribe)
    def _subscribe(self, message: Subscribe) -> None:
        self._apply(self.core.subscribe(message.actor, message.topic))

    @handles(Unsubscribe)
    def _unsubscribe(self, message: Unsubscribe) -> None:
        self._apply(self.core.unsubscribe(message.actor, message.topic))

    @handles(ReturnToSender)
    def _return(self, message: ReturnToSender) -> None:
        self._apply(self.core.refuse(message.letter, message.letter.to_actor, message.reason))

    # -- the rest of the node ---------------------------------------------------------------------

    @handles(MessageReceived)
    def _received(self, message: MessageReceived) -> None:
        if isinstance(message.message, APP_WIRE):
            self._apply(self.core.received(message.peer, message.message, self._clock.now()))

    @handles(MessagesReceived)
    def _received_many(self, message: MessagesReceived) -> None:
        app = [wire for wire in message.messages if isinstance(wire, APP_WIRE)]
        self._apply(self.core.received_many(message.peer, app, self._clock.now()))

    @handles(PeerOverloaded)
    def _overloaded(self, message: PeerOverloaded) -> None:
        self._apply(self.core.overloaded(message.peer, message.count, self._clock.now()))

    @handles(PeerIsUp)
    def _peer_up(self, message: PeerIsUp) -> None:
        self._apply(self.core.peer_up(message.name))
        self._tell_reachable()

    @handles(PeerIsDown)
    def _peer_down(self, message: PeerIsDown) -> None:
        self._apply(self.core.peer_down(message.name))
        self._tell_reachable()

    @handles(MembersChanged)
    def _members(self, message: MembersChanged) -> None:
        self._apply(self.core.members_changed(name for name, _ in message.members))
        self._tell_reachable()

    @handles(ViewChanged)
    def _topics_view(self, message: ViewChanged) -> None:
        self.core.topics_changed((key, value) for key, value, _owner, _version in message.changes)

    @handles(TimerFired)
    def _timer_fired(self, message: TimerFired) -> None:
        if isinstance(message.key, _ClientDeadline):
            waiting = self._clients.pop(message.key.request_id, None)
            if waiting is not None:
                answer(waiting[0], failure(f"no reply from actor {waiting[1]!r} within the timeout"))
            return
        self._apply(self.core.timer(message.key, message.due))

    # -- clients ----------------------------------------------------------------------------------

    @handles(AppControl)
    def _control(self, message: AppControl) -> None:
        request, reply = message.request, message.reply
        if isinstance(request, ActorsRequest):
            answer(reply, success(self._actors()))
            return
        try:
            payload = pack_message(request.message, limit=self.core.max_message)
        except MessageRefused as error:
            answer(reply, failure(str(error)))
            return
        now = self._clock.now()
        local = self.core.local
        match request:
            case AppSendRequest(actor):
                effects = self.core.send(CLIENT, local, actor, payload, now=now)
                refused = [e for e in effects if isinstance(e, ReturnLocal)]
                self._apply([e for e in effects if not isinstance(e, ReturnLocal)])
                if refused:
                    answer(reply, failure(refused[0].bounced.reason))
                else:
                    answer(reply, success(Accepted(1)))
            case AppPublishRequest(topic):
                self._apply(self.core.publish(CLIENT, topic, payload, now=now))
                answer(reply, success(Accepted(1)))
            case AppRequestRequest(actor, _message, timeout):
                request_id = next(self._client_ids)
                self._clients[request_id] = (reply, actor)
                self._timer.tell(ArmTimer(_ClientDeadline(request_id), now + timeout, self.actor_ref))
                self._apply(self.core.send(CLIENT, local, actor, payload, request=request_id, now=now))

    def _actors(self) -> ActorsList:
        rows = []
        for name, status in sorted(self._status.items()):
            host = self._hosts.get(name)
            inbox = host.actor_inbox if host is not None else None
            depth = inbox.qsize() if isinstance(inbox, queue.Queue) else 0
            rows.append(ActorRow(name, status.cls, status.state, status.restarts, depth))
        stats = self.core.stats
        return ActorsList(self.core.local, tuple(rows), stats.undeliverable, sum(stats.dropped.values()))

    def _to_client(self, letter: Letter) -> None:
        waiting = self._clients.pop(letter.reply, None)
        if waiting is None:
            return  # a reply after the timeout, or a plain message to a client: nobody is waiting
        self._timer.tell(DisarmTimer(_ClientDeadline(letter.reply), self.actor_ref))
        try:
            value = unpack_message(letter.payload, limit=self.core.max_message)
        except CodecError as error:
            answer(waiting[0], failure(f"unreadable reply: {error}"))
            return
        answer(waiting[0], success(AppReplied(value, letter.from_node, letter.from_actor)))

    # -- carrying out effects ---------------------------------------------------------------------

    def _apply(self, effects: list[PostOfficeEffect]) -> None:
        for effect in effects:
            match effect:
                case DeliverLocal(letter):
                    if letter.to_actor == CLIENT:
                        self._to_client(letter)
                        continue
                    if letter.to_actor in self._hosts:
                        self._mail.setdefault(letter.to_actor, []).append(letter)
                        self._held += 1
                case DeliverParcel(actor, parcel):
                    if actor in self._hosts:
                        self._mail.setdefault(actor, []).append(parcel)
                        self._held += len(parcel.messages)
                case ReturnLocal(bounced):
                    if bounced.sender == CLIENT:
                        waiting = self._clients.pop(bounced.request, None)
                        if waiting is not None:
                            self._timer.tell(DisarmTimer(_ClientDeadline(bounced.request), self.actor_ref))
                            answer(waiting[0], failure(bounced.reason))
                        continue
                    if bounced.sender in self._hosts:
                        self._mail.setdefault(bounced.sender, []).append(bounced)
                        self._held += 1
                case Transmit(peer, messages):
                    self._outbox.setdefault(peer, []).extend(messages)
                    self._held += len(messages)
                case fx.Connect(peer):
                    self._transport.tell(KeepConnected(peer))
                case WriteSubscription(topic, actors):
                    if self._topics is not None:
                        command = (
                            ProviderCommand("set", topic, list(actors))
                            if actors
                            else ProviderCommand("del", topic)
                        )
                        self._topics.tell(command)
                case fx.Emit(event):
                    self._events.tell(RaiseEvent(event))
                case fx.StartTimer(key, deadline):
                    self._timer.tell(ArmTimer(key, deadline, self.actor_ref))
                case _:
                    raise TypeError(f"app router cannot carry out {effect!r}")

    def _reachable(self) -> tuple[tuple[str, str], ...]:
        return tuple(
            (name, role)
            for name in sorted(self.core.reachable())
            if (role := self.core.role_of(name)) is not None
        )

    def _tell_reachable(self) -> None:
        """The hosts' copy of who is reachable, told only when it changed (membership reports every
        suspicion and refutation, which move nothing a message can reach)."""
        members = ReachableChanged(self._reachable())
        if members == self._told_reachable:
            return
        self._told_reachable = members
        for host in self._hosts.values():
            tell_if_alive(host, members)
