"""The unit-test harness for one `ClusterActor`: a fake context that records, and a manual clock.

As Akka's BehaviorTestKit does for a behavior, the harness runs the actor on the test's own thread, with
nothing else: what it sends, publishes, replies and subscribes to is recorded; messages, cluster events,
replies to its requests and bounces are delivered by the test; time moves only when the test says, and
the actor's timers and request timeouts fire then, in deadline order. A hook that raises raises in the
test (errors always propagate, as in trio's test tools); supervision is the node's, tested on nodes.

Messages go through the same packing as on a node, so a message that is not plain data, or too large, is
refused here exactly as it would be there, and what is recorded is what the receiver would see.

```python
harness = ActorHarness(Counter, args={"flush_every": 1.0}, members=[("manager", "manager")])
harness.deliver({"text": "a b a"})
harness.advance(1.0)
assert harness.sent[-1] == Sent("manager", "tally", {"a": 2, "b": 1})
```
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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
from actors.clock import ManualClock
from cluster.app.plain import DEFAULT_MAX_MESSAGE, unpack_message
from cluster.core.timers import TimerSet
from cluster.state.provider import Provider
from cluster.state.providers import PROVIDERS
from cluster.wire.messages import SyncableState

__all__ = ["ActorHarness", "FakeContext", "Published", "Sent"]


@dataclass(frozen=True)
class Sent:
    """A message the actor sent: to `actor` on `node`; `request` > 0 for a request, `reply` > 0 when it
    answers request number `reply` of whoever asked."""

    node: str
    actor: str
    message: Any
    request: int = 0
    reply: int = 0


@dataclass(frozen=True)
class Published:
    topic: str
    message: Any


@dataclass(frozen=True, slots=True)
class _UserTimer:
    name: str


@dataclass(frozen=True, slots=True)
class _Deadline:
    request_id: int


class _FakeStateView(StateView):
    """A provider's view as this node would show it. Own writes go through a real provider core, so a
    value the provider refuses raises `CommandError` here, and what the view then shows has the shape a
    node shows (a circuit breaker's `{"episode", "phase"}`, not the `"open"` written). A key the test sets
    in `values` stands for what the whole cluster shows for it, and wins over the own writes' view."""

    def __init__(self, writes: list[tuple[str, str, Any]], core: Provider, node: str) -> None:
        self.values: dict[str, Any] = {}
        self._writes = writes
        self._core = core
        self._node = node
        self._versions = itertools.count(1)

    def items(self) -> Mapping[str, Any]:
        return {**{key: view[0] for key, view in self._core.views().items()}, **self.values}

    def set(self, key: str, value: Any) -> None:
        self._write("set", key, value)

    def delete(self, key: str) -> None:
        self._write("del", key, None)

    def _write(self, op: str, key: str, value: Any) -> None:
        provider = self._core.provider_type()
        intents = self._core.command(op, key, value)  # CommandError when the provider refuses
        self._writes.append((provider, key, value))  # what the actor asked for
        for intent in intents:
            entry = SyncableState(
                provider, intent.key, intent.value, next(self._versions), self._node, 1, intent.tombstone
            )
            self._core.apply_remote_state([entry])


class FakeContext(ActorContext):
    """The context the harness gives the actor; its records are the harness's."""

    def __init__(
        self, harness: ActorHarness, *, node: str, role: str, node_id: str, actor: str, max_message: int
    ):
        ActorContext.__init__(self, node, role, node_id, actor, max_message=max_message)
        self.harness = harness

    def members(self) -> tuple[Member, ...]:
        return self.harness.members

    def subscribe(self, topic: str) -> None:
        self.harness.subscriptions.add(topic)

    def unsubscribe(self, topic: str) -> None:
        self.harness.subscriptions.discard(topic)

    def state(self, provider: str) -> StateView:
        views = self.harness.state_views
        if provider not in views:
            make = self.harness.providers.get(provider)
            if make is None:
                known = ", ".join(sorted(self.harness.providers))
                raise KeyError(f"no provider {provider!r} on this node (known: {known})")
            views[provider] = _FakeStateView(self.harness.state_writes, make(self.node), self.node)
        return views[provider]

    def start_timer(self, name: str, delay: float, *, repeat: bool = False) -> None:
        if delay <= 0:
            raise ValueError(f"timer {name!r}: delay must be > 0, got {delay}")
        self.harness._arm(_UserTimer(name), self.harness.clock.now() + delay, (delay, repeat))

    def cancel_timer(self, name: str) -> None:
        self.harness._timers.cancel(_UserTimer(name))

    def _post(self, node: str, actor: str, payload: bytes, *, request: int, reply: int) -> None:
        value = unpack_message(payload, limit=self.max_message)
        self.harness.sent.append(Sent(node, actor, value, request, reply))

    def _publish(self, topic: str, payload: bytes) -> None:
        self.harness.published.append(Published(topic, unpack_message(payload, limit=self.max_message)))

    def _await_reply(self, request_id: int, node: str, actor: str, timeout: float) -> None:
        self.harness.pending[request_id] = (node, actor)
        self.harness._arm(_Deadline(request_id), self.harness.clock.now() + timeout, None)


class ActorHarness:
    def __init__(
        self,
        cls: type[ClusterActor],
        *,
        args: Mapping[str, Any] | None = None,
        node: str = "worker-1",
        role: str = "worker",
        node_id: str = "0" * 32,
        name: str | None = None,
        members: Iterable[tuple[str, str]] | None = None,
        max_message: int = DEFAULT_MAX_MESSAGE,
        clock: ManualClock | None = None,
        providers: Mapping[str, Callable[[str], Provider]] | None = None,
        start: bool = True,
    ) -> None:
        self.clock = clock or ManualClock()
        self.providers = {**PROVIDERS, **(providers or {})}  # the built-ins and the layout's own
        self.sent: list[Sent] = []
        self.published: list[Published] = []
        self.subscriptions: set[str] = set()
        self.state_views: dict[str, _FakeStateView] = {}
        self.state_writes: list[tuple[str, str, Any]] = []
        self.pending: dict[int, tuple[str, str]] = {}
        self.timers_fired: list[str] = []
        self._timers = TimerSet(itertools.count())
        self.members: tuple[Member, ...] = tuple(Member(n, r) for n, r in (members or [(node, role)]))
        self.context = FakeContext(
            self,
            node=node,
            role=role,
            node_id=node_id,
            actor=name or cls.__name__.lower(),
            max_message=max_message,
        )
        self.actor = cls()
        self.actor.context = self.context
        self.actor.args = dict(args or {})
        if start:
            self.actor.on_start()

    # -- driving the actor ------------------------------------------------------------------------

    def deliver(self, message: Any, sender: Sender | None = None) -> None:
        """`message` arrives (as plain data would: it is packed and unpacked on the way)."""
        value = unpack_message(self.context._pack(message), limit=self.context.max_message)
        self.actor.on_message(value, sender)

    def event(self, name: str, **fields: Any) -> None:
        """A cluster event arrives, as its event-log record."""
        record = {"ts": self.clock.now(), "node": self.context.node, "event": name, **fields}
        self.actor.on_cluster_event(record)

    def reply(self, request_id: int, message: Any) -> None:
        """The answer to the actor's request number `request_id` arrives."""
        node, actor = self.pending.pop(request_id)
        self._timers.cancel(_Deadline(request_id))
        value = unpack_message(self.context._pack(message), limit=self.context.max_message)
        self.actor.on_message(Replied(request_id, value, node, actor), Sender(node, actor))

    def bounce(self, sent: Sent, reason: str) -> None:
        """`sent` comes back undeliverable, as a node would return it."""
        if sent.request:
            self.pending.pop(sent.request, None)
            self._timers.cancel(_Deadline(sent.request))
        notice = Undeliverable(sent.node, sent.actor, sent.message, reason, sent.request)
        self.actor.on_message(notice, None)

    def set_members(self, members: Iterable[tuple[str, str]]) -> None:
        """The nodes a message can reach now, by (name, role): what `members()` and the pools see."""
        self.members = tuple(Member(name, role) for name, role in members)

    def advance(self, seconds: float) -> None:
        """Move the clock; timers and request timeouts that fall due fire in deadline order."""
        target = self.clock.now() + seconds
        while (first := self._timers.peek()) is not None and first[0] <= target:
            due = self._timers.pop_first()
            self.clock.advance(max(0.0, due.deadline - self.clock.now()))
            match due.key:
                case _UserTimer(name):
                    delay, repeat = due.payload
                    if repeat:
                        self._arm(due.key, due.deadline + delay, due.payload)
                    self.timers_fired.append(name)
                    self.actor.on_timer(name)
                case _Deadline(request_id):
                    node, actor = self.pending.pop(request_id)
                    self.actor.on_message(RequestTimedOut(request_id, node, actor), None)
        self.clock.advance(max(0.0, target - self.clock.now()))

    def stop(self) -> None:
        self.actor.on_stop()

    # -- reading ----------------------------------------------------------------------------------

    @property
    def timers(self) -> list[str]:
        """The names of the actor's armed timers."""
        return sorted(key.name for key in self._timers.armed() if isinstance(key, _UserTimer))

    def take_sent(self) -> list[Sent]:
        """What was sent since the last call (and forget it)."""
        sent, self.sent = self.sent, []
        return sent

    def _arm(self, key: object, deadline: float, payload: Any) -> None:
        self._timers.schedule(key, deadline, payload)
