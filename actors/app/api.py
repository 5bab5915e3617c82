"""The API users write their actors against: `ClusterActor`, its `context`, and what arrives in `on_message`.

An application actor is plain Python: it is handed messages one at a time on its own thread (a pykka actor
hosts it, `actors.app.host`), so it needs no locks, and it never blocks: a request's reply, or its timeout,
comes back later as a message. Everything it does to the world goes through `self.context`, which the node
gives it in a real cluster and the test harness (`actors.app.harness`) fakes in a unit test, so the same
class runs unchanged in both.

What the context does that is not just a send is decided here, once, for both: messages are checked and
packed at the sender (`cluster.app.plain`), and `publish_hrw` / `publish_rr` pick among the live nodes of a
role as Zeek's pools do (`cluster.app.pools`).
"""

from __future__ import annotations

import abc
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cluster.app.plain import pack_message
from cluster.app.pools import RoundRobin, hrw_pick
from cluster.wire.messages import Plain

__all__ = [
    "ActorContext",
    "ClusterActor",
    "Member",
    "Replied",
    "RequestTimedOut",
    "Sender",
    "StateView",
    "Undeliverable",
]


@dataclass(frozen=True, slots=True)
class Sender:
    """Where a reply goes: actor `actor` on node `node` ("" for a client outside any actor); `request` is
    the number of the request being answered, 0 for a plain message."""

    node: str
    actor: str
    request: int = 0


@dataclass(frozen=True, slots=True)
class Member:
    """A node a message can reach now, and its role."""

    name: str
    role: str


@dataclass(frozen=True, slots=True)
class Replied:
    """The reply to `request(...)` number `request_id`, from `node`/`actor`."""

    request_id: int
    message: Plain
    node: str
    actor: str


@dataclass(frozen=True, slots=True)
class RequestTimedOut:
    """No reply to request `request_id` came within its timeout; a late reply is dropped."""

    request_id: int
    node: str
    actor: str


@dataclass(frozen=True, slots=True)
class Undeliverable:
    """A message this actor sent to `actor` on `node` came back (Akka's dead letter): `reason` says why.
    `request_id` is set when it was a request, which is then over."""

    node: str
    actor: str
    message: Plain
    reason: str
    request_id: int = 0


class StateView(abc.ABC):
    """One provider's view on this node (`context.state("kv")`): read what the cluster agreed, write this
    node's own entries. The view is this node's copy, kept up to date by messages; it is empty until the
    provider first tells it, a moment after the actor first asks."""

    @abc.abstractmethod
    def items(self) -> Mapping[str, Any]:
        """key -> value of every visible key."""

    def get(self, key: str, default: Any = None) -> Any:
        return self.items().get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.items())

    @abc.abstractmethod
    def set(self, key: str, value: Any) -> None:
        """Write `value` as this node's own entry of `key`."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Delete this node's entry of `key` (a tombstone of its own)."""


class ActorContext(abc.ABC):
    """What an actor can do, from `self.context`. The node and the test harness implement the primitives
    (`_post`, `_publish`, ...); routing, packing and pools are the same for both."""

    def __init__(self, node: str, role: str, node_id: str, actor: str, *, max_message: int) -> None:
        self.node = node
        self.role = role
        self.node_id = node_id
        self.actor = actor
        self.max_message = max_message
        self._round_robin = RoundRobin()
        self._request_ids = itertools.count(1)

    # -- sending ----------------------------------------------------------------------------------

    def send(self, node: str, actor: str, message: Any) -> None:
        """Tell `actor` on `node`. Refused here (`MessageRefused`) if `message` is not plain data or too
        large; an actor or node that is not there comes back as `Undeliverable`."""
        self._post(node, actor, self._pack(message), request=0, reply=0)

    def reply(self, sender: Sender | None, message: Any) -> None:
        """Answer whoever sent the message being handled (a request gets its `Replied`). No-op for None."""
        if sender is None:
            return
        self._post(sender.node, sender.actor, self._pack(message), request=0, reply=sender.request)

    def request(self, node: str, actor: str, message: Any, *, timeout: float) -> int:
        """Ask `actor` on `node`; returns the request's number. The answer comes as `Replied`, or as
        `RequestTimedOut` after `timeout` seconds, or as `Undeliverable`: never by blocking."""
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {timeout}")
        payload = self._pack(message)
        request_id = next(self._request_ids)
        self._await_reply(request_id, node, actor, timeout)
        self._post(node, actor, payload, request=request_id, reply=0)
        return request_id

    def publish(self, topic: str, message: Any) -> None:
        """Tell every actor subscribed to `topic` on any reachable node, this one included."""
        self._publish(topic, self._pack(message))

    def publish_hrw(self, role: str, key: str, actor: str, message: Any) -> bool:
        """Send to `actor` on the live node of `role` that rendezvous hashing picks for `key`: the same node
        for the same key from every sender, and only a dead node's keys move. False (nothing sent) when no
        node of the role is alive, as Zeek's `Cluster::publish_hrw`."""
        payload = self._pack(message)
        node = hrw_pick(key, self._live_of(role))
        if node is None:
            return False
        self._post(node, actor, payload, request=0, reply=0)
        return True

    def hrw_node(self, role: str, key: str) -> str | None:
        """The live node of `role` that `publish_hrw` picks for `key` now (None: no node of the role is
        alive): for a request that must go where `publish_hrw` would send."""
        return hrw_pick(key, self._live_of(role))

    def publish_rr(self, role: str, key: str, actor: str, message: Any) -> bool:
        """Send to `actor` on the next live node of `role` in `key`'s round robin. False when no node of the
        role is alive, as Zeek's `Cluster::publish_rr`."""
        payload = self._pack(message)
        node = self._round_robin.pick(role, key, self._live_of(role))
        if node is None:
            return False
        self._post(node, actor, payload, request=0, reply=0)
        return True

    # -- the rest ---------------------------------------------------------------------------------

    @abc.abstractmethod
    def members(self) -> tuple[Member, ...]:
        """The nodes a message can reach now (this one included), by name."""

    @abc.abstractmethod
    def subscribe(self, topic: str) -> None: ...

    @abc.abstractmethod
    def unsubscribe(self, topic: str) -> None: ...

    @abc.abstractmethod
    def state(self, provider: str) -> StateView: ...

    @abc.abstractmethod
    def start_timer(self, name: str, delay: float, *, repeat: bool = False) -> None:
        """`on_timer(name)` after `delay` seconds (and every `delay` after, with `repeat`); starting a timer
        of the same name replaces it."""

    @abc.abstractmethod
    def cancel_timer(self, name: str) -> None: ...

    # -- primitives -------------------------------------------------------------------------------

    @abc.abstractmethod
    def _post(self, node: str, actor: str, payload: bytes, *, request: int, reply: int) -> None: ...

    @abc.abstractmethod
    def _publish(self, topic: str, payload: bytes) -> None: ...

    @abc.abstractmethod
    def _await_reply(self, request_id: int, node: str, actor: str, timeout: float) -> None: ...

    def _pack(self, message: Any) -> bytes:
        return pack_message(message, limit=self.max_message)

    def _live_of(self, role: str) -> list[str]:
        return [member.name for member in self.members() if member.role == role]


class ClusterActor:
    """Base of users' actors. Override the hooks you need; each runs on the actor's own thread, one at a
    time. A hook that raises restarts the actor afresh (`on_start` again, after a backoff); too many
    restarts stop it with `actor_failed`. The node and its other actors run on either way.

    `self.context` and `self.args` (the layout's `args` for it) are set before `on_start`."""

    context: ActorContext
    args: Mapping[str, Any]

    def on_start(self) -> None:
        """The actor is running (again, after a restart: its attributes are fresh)."""

    def on_message(self, message: Any, sender: Sender | None) -> None:
        """A message: plain data from another actor or a client, or a `Replied`, `RequestTimedOut` or
        `Undeliverable` about one of this actor's own. `sender` is where a reply goes (None: nowhere)."""

    def on_cluster_event(self, event: Mapping[str, Any]) -> None:
        """A record of this node's event log: `event["event"]` is its name (cluster_started, node_up,
        node_down, member_failed, ...), then its fields."""

    def on_timer(self, name: str) -> None:
        """A timer started with `context.start_timer(name, ...)` is due."""

    def on_stop(self) -> None:
        """The node is stopping (or the actor failed for good)."""
