"""The host of one application actor: a pykka actor that runs the user's `ClusterActor` and supervises it.

The user's hooks run on the host's thread, one message at a time. A hook that raises is the user's bug, not
the node's: the host catches it, stops the actor's timers, and starts a fresh instance (`on_start` again)
after a backoff, with `actor_restarted`; messages that arrive meanwhile wait (up to `STASH_LIMIT`, then come
back undeliverable). More than `max_restarts` within `within` seconds stops it for good with
`actor_failed` and the last line of the traceback; its mail then comes back undeliverable. As in Akka's
supervision (restart with backoff, then stop), the failure stays with the actor: the node runs on.

`NodeContext` is the context the host gives the actor: sends go to the router, timers to the node's timer
service (so a `ManualClock` drives them in tests), cluster events come from the event log.
"""

from __future__ import annotations

import collections
import logging
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pykka

from actors.app.api import (
    ActorContext,
    ClusterActor,
    Member,
    Replied,
    RequestTimedOut,
    Sender,
    StateView,
    Undeliverable,
)
from actors.app.messages import (
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
from actors.base import CrashHandler, NodeActor, handles, tell_if_alive
from actors.clock import Clock
from actors.messages import (
    ArmTimer,
    DisarmTimer,
    EventRaised,
    ProviderCommand,
    RaiseEvent,
    SubscribeEvents,
    SubscribeViews,
    TimerFired,
    ViewChanged,
)
from cluster.app.plain import unpack_message
from cluster.app.postoffice import Bounced, Letter, Parcel
from cluster.core.events import ActorFailedEvent, ActorRestartedEvent, ActorStartedEvent
from cluster.layout.app import Supervision
from cluster.wire.schema import CodecError

log = logging.getLogger(__name__)

STASH_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class UserTimer:
    """Timer key of the actor's own `start_timer(name, ...)`."""

    name: str


@dataclass(frozen=True, slots=True)
class RequestDeadline:
    request_id: int


@dataclass(frozen=True, slots=True)
class RestartDue:
    """Timer key: the backoff before a restart is over."""


@dataclass(frozen=True, slots=True)
class HostWiring:
    """What a host talks to: the node's router, timer service, event log and state providers."""

    router: pykka.ActorRef[Any]
    timer: pykka.ActorRef[Any]
    events: pykka.ActorRef[Any]
    providers: Mapping[str, pykka.ActorRef[Any]]


class _NodeStateView(StateView):
    def __init__(self, context: NodeContext, provider: str) -> None:
        self._context = context
        self._provider = provider
        self.values: dict[str, Any] = {}

    def items(self) -> Mapping[str, Any]:
        return dict(self.values)

    def set(self, key: str, value: Any) -> None:
        self._context._command(self._provider, ProviderCommand("set", key, value))

    def delete(self, key: str) -> None:
        self._context._command(self._provider, ProviderCommand("del", key))


class NodeContext(ActorContext):
    """The context of an actor on a real node: every call becomes a tell from the host's thread."""

    def __init__(self, host: ActorHost, *, node: str, role: str, node_id: str, actor: str, max_message: int):
        super().__init__(node, role, node_id, actor, max_message=max_message)
        self._host = host
        self._members: tuple[Member, ...] = (Member(node, role),)
        self._views: dict[str, _NodeStateView] = {}
        self._for_router: list[Any] = []

    def members(self) -> tuple[Member, ...]:
        return self._members

    def subscribe(self, topic: str) -> None:
        self._for_router.append(Subscribe(self.actor, topic))

    def unsubscribe(self, topic: str) -> None:
        self._for_router.append(Unsubscribe(self.actor, topic))

    def state(self, provider: str) -> StateView:
        view = self._views.get(provider)
        if view is None:
            ref = self._host.wiring.providers.get(provider)
            if ref is None:
                known = ", ".join(sorted(self._host.wiring.providers))
                raise KeyError(f"no provider {provider!r} on this node (known: {known})")
            view = self._views[provider] = _NodeStateView(self, provider)
            ref.tell(SubscribeViews(self._host.actor_ref))
        return view

    def start_timer(self, name: str, delay: float, *, repeat: bool = False) -> None:
        if delay <= 0:
            raise ValueError(f"timer {name!r}: delay must be > 0, got {delay}")
        self._host.arm_user_timer(name, delay, repeat)

    def cancel_timer(self, name: str) -> None:
        self._host.disarm_user_timer(name)

    def _post(self, node: str, actor: str, payload: bytes, *, request: int, reply: int) -> None:
        self._for_router.append(Post(self.actor, node, actor, payload, request, reply))

    def _publish(self, topic: str, payload: bytes) -> None:
        self._for_router.append(PostPublish(self.actor, topic, payload))

    def hand_on(self) -> None:
        """What the hook that just returned told the router, in one tell."""
        items, self._for_router = self._for_router, []
        if len(items) == 1:
            self._host.wiring.router.tell(items[0])
        elif items:
            self._host.wiring.router.tell(RouterBatch(tuple(items)))

    def _await_reply(self, request_id: int, node: str, actor: str, timeout: float) -> None:
        self._host.await_reply(request_id, node, actor, timeout)

    def _command(self, provider: str, command: ProviderCommand) -> None:
        tell_if_alive(self._host.wiring.providers[provider], command)


class ActorHost(NodeActor):
    def __init__(
        self,
        name: str,
        cls: type[ClusterActor],
        args: Mapping[str, Any],
        *,
        identity: tuple[str, str, str],  # node, role, node id
        wiring: HostWiring,
        clock: Clock,
        supervision: Supervision,
        max_message: int,
        on_crash: CrashHandler | None = None,
    ) -> None:
        super().__init__(on_crash=on_crash)
        self.name = name
        self.cls = cls
        self.args = args
        self.wiring = wiring
        self._clock = clock
        self._supervision = supervision
        node, role, node_id = identity
        self.context = NodeContext(
            self, node=node, role=role, node_id=node_id, actor=name, max_message=max_message
        )
        self.state = "starting"
        self.restarts = 0
        self._failures: collections.deque[float] = collections.deque()
        self._instance: ClusterActor | None = None
        self._timers: dict[str, tuple[float, bool]] = {}  # name -> (delay, repeat)
        self._pending: dict[int, tuple[str, str]] = {}  # request id -> (node, actor)
        self._stash: collections.deque[Any] = collections.deque()
        self._last_error = ""  # the last line of the traceback that caused the pending restart

    @property
    def label(self) -> str:
        return f"app-{self.name}"

    @property
    def class_name(self) -> str:
        return f"{self.cls.__module__}:{self.cls.__qualname__}"

    # -- life -------------------------------------------------------------------------------------

    def on_start(self) -> None:
        self.wiring.events.tell(SubscribeEvents(self.actor_ref))
        self._begin()
        if self.state == "running":
            self.wiring.events.tell(RaiseEvent(ActorStartedEvent(self.name, self.class_name)))
        self.wiring.router.tell(HostStarted(self.name, self.actor_ref))

    def on_stop(self) -> None:
        if self._instance is not None and self.state == "running":
            self._guarded(self._instance.on_stop, stopping=True)
        self.state = "stopped"
        tell_if_alive(self.wiring.router, HostStopped(self.name))

    def status(self) -> HostStatus:
        return HostStatus(self.name, self.class_name, self.state, self.restarts)

    def _begin(self) -> None:
        """A fresh instance, `on_start`, then whatever waited during the backoff."""
        instance = self.cls()
        instance.context = self.context
        instance.args = self.args
        self._instance = instance
        self.state = "running"
        self._report()
        if not self._guarded(instance.on_start):
            return
        while self._stash and self.state == "running":
            self._take(self._stash.popleft())

    def _guarded(self, hook: Callable[..., None], *args: Any, stopping: bool = False) -> bool:
        """Run a user hook; a raise is the actor's failure, never the node's. True if it returned."""
        try:
            hook(*args)
        except Exception as error:  # the user's bug, whatever it is
            if not stopping:
                self._failed(error)
            else:
                log.warning("actor %s: on_stop raised %r", self.name, error)
            return False
        finally:
            self.context.hand_on()  # what it sent before a raise is sent, as in Akka
        return True

    def _failed(self, error: Exception) -> None:
        last_line = traceback.format_exception_only(error)[-1].strip()
        log.warning("actor %s raised: %s", self.name, last_line, exc_info=error)
        now = self._clock.now()
        self._failures.append(now)
        while self._failures and self._failures[0] < now - self._supervision.within:
            self._failures.popleft()
        for name in list(self._timers):
            self.disarm_user_timer(name)
        self._instance = None
        if len(self._failures) > self._supervision.max_restarts:
            self.state = "failed"
            self._report()
            self.wiring.events.tell(RaiseEvent(ActorFailedEvent(self.name, self.restarts, last_line)))
            self.wiring.router.tell(HostStopped(self.name))
            self._bounce_all(self._stash, f"actor {self.name} failed")
            return
        self.restarts += 1
        self.state = "restarting"
        self._report()
        self._last_error = last_line
        delay = self._supervision.backoff(self.restarts)
        self.wiring.timer.tell(ArmTimer(RestartDue(), now + delay, self.actor_ref))

    def _report(self) -> None:
        tell_if_alive(self.wiring.router, self.status())

    # -- messages ---------------------------------------------------------------------------------

    @handles(MailArrived)
    def _mail(self, message: MailArrived) -> None:
        for item in message.items:
            self._take(item)

    def _take(self, item: Letter | Parcel | Bounced) -> None:
        if isinstance(item, Parcel):
            self._parcel(item)
            return
        if not self._running_or_stash(item):
            return
        if isinstance(item, Letter):
            self._letter(item)
        elif isinstance(item, Bounced):
            self._returned(item)

    def _parcel(self, parcel: Parcel) -> None:
        """A burst from one node: the short way for plain messages while the actor runs; anything else
        (a reply, a restart in the middle) goes the way of a single letter."""
        node = parcel.from_node
        limit = self.context.max_message
        for message in parcel.messages:
            if message.reply or self.state != "running" or self._instance is None:
                letter = Letter(
                    message.to_actor,
                    node,
                    message.from_actor,
                    message.payload,
                    message.request,
                    message.reply,
                )
                self._take(letter)
                continue
            try:
                value = unpack_message(message.payload, limit=limit)
            except CodecError as error:
                log.warning("actor %s: dropped an unreadable message from %s: %s", self.name, node, error)
                continue
            self._guarded(self._instance.on_message, value, Sender(node, message.from_actor, message.request))

    def _running_or_stash(self, message: Letter | Bounced) -> bool:
        if self.state == "running":
            return True
        if self.state == "restarting":
            if len(self._stash) < STASH_LIMIT:
                self._stash.append(message)
            else:
                self._bounce_all([message], f"actor {self.name} is restarting and its stash is full")
        elif self.state == "failed":
            self._bounce_all([message], f"actor {self.name} failed")
        return False

    def _letter(self, letter: Letter) -> None:
        try:
            value: Any = unpack_message(letter.payload, limit=self.context.max_message)
        except CodecError as error:
            log.warning(
                "actor %s: dropped an unreadable message from %s: %s", self.name, letter.from_node, error
            )
            return
        sender = Sender(letter.from_node, letter.from_actor, letter.request)
        if letter.reply:
            pending = self._pending.pop(letter.reply, None)
            if pending is None:
                return  # a reply after its timeout: the actor has had RequestTimedOut instead
            self.wiring.timer.tell(DisarmTimer(RequestDeadline(letter.reply), self.actor_ref))
            value = Replied(letter.reply, value, letter.from_node, letter.from_actor)
            sender = Sender(letter.from_node, letter.from_actor)
        assert self._instance is not None
        self._guarded(self._instance.on_message, value, sender)

    def _returned(self, bounced: Bounced) -> None:
        if bounced.request:
            if self._pending.pop(bounced.request, None) is None:
                return
            self.wiring.timer.tell(DisarmTimer(RequestDeadline(bounced.request), self.actor_ref))
        try:
            value = unpack_message(bounced.payload, limit=self.context.max_message)
        except CodecError:
            value = None
        notice = Undeliverable(bounced.node, bounced.actor, value, bounced.reason, bounced.request)
        assert self._instance is not None
        self._guarded(self._instance.on_message, notice, None)

    @handles(EventRaised)
    def _event(self, message: EventRaised) -> None:
        if self.state == "running" and self._instance is not None:
            self._guarded(self._instance.on_cluster_event, message.record)

    @handles(ReachableChanged)
    def _reachable(self, message: ReachableChanged) -> None:
        self.context._members = tuple(Member(name, role) for name, role in message.members)

    @handles(ViewChanged)
    def _view(self, message: ViewChanged) -> None:
        view = self.context._views.get(message.provider)
        if view is None:
            return
        for key, value, _owner, _version in message.changes:
            if value is None:
                view.values.pop(key, None)
            else:
                view.values[key] = value

    @handles(TimerFired)
    def _timer(self, message: TimerFired) -> None:
        match message.key:
            case RestartDue():
                if self.state == "restarting":
                    self.wiring.events.tell(
                        RaiseEvent(ActorRestartedEvent(self.name, self.restarts, self._last_error))
                    )
                    self._begin()
            case UserTimer(name):
                timer = self._timers.get(name)
                if timer is None or self.state != "running" or self._instance is None:
                    return
                delay, repeat = timer
                if repeat:
                    self.wiring.timer.tell(ArmTimer(message.key, message.due + delay, self.actor_ref))
                else:
                    del self._timers[name]
                self._guarded(self._instance.on_timer, name)
            case RequestDeadline(request_id):
                pending = self._pending.pop(request_id, None)
                if pending is not None and self._instance is not None and self.state == "running":
                    self._guarded(self._instance.on_message, RequestTimedOut(request_id, *pending), None)

    # -- for the context --------------------------------------------------------------------------

    def arm_user_timer(self, name: str, delay: float, repeat: bool) -> None:
        self._timers[name] = (delay, repeat)
        self.wiring.timer.tell(ArmTimer(UserTimer(name), self._clock.now() + delay, self.actor_ref))

    def disarm_user_timer(self, name: str) -> None:
        if self._timers.pop(name, None) is not None:
            self.wiring.timer.tell(DisarmTimer(UserTimer(name), self.actor_ref))

    def await_reply(self, request_id: int, node: str, actor: str, timeout: float) -> None:
        self._pending[request_id] = (node, actor)
        self.wiring.timer.tell(
            ArmTimer(RequestDeadline(request_id), self._clock.now() + timeout, self.actor_ref)
        )

    def _bounce_all(self, messages: Any, reason: str) -> None:
        """Mail this actor will never read goes back to its senders, as the router sends any dead letter."""
        for message in list(messages):
            if isinstance(message, Letter):
                self.wiring.router.tell(ReturnToSender(message, reason))
