"""Internal messages between an application actor's host and the node's app router (never on the wire)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pykka

from actors.messages import Reply
from cluster.app.postoffice import Bounced, Letter, Parcel


@dataclass(frozen=True, slots=True)
class Post:
    """Send a packed message from local actor `sender` to `actor` on `node`."""

    sender: str
    node: str
    actor: str
    payload: bytes
    request: int = 0
    reply: int = 0


@dataclass(frozen=True, slots=True)
class RouterBatch:
    """Everything one hook of an actor told the router (posts, publishes, subscriptions), in order: handed
    on when the hook returns, one tell for an actor that sends ten thousand messages in a loop."""

    items: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class PostPublish:
    sender: str
    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class Subscribe:
    actor: str
    topic: str


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    actor: str
    topic: str


@dataclass(frozen=True, slots=True)
class HostStarted:
    """Actor `name` now takes messages; `host` is where they go."""

    name: str
    host: pykka.ActorRef[Any]


@dataclass(frozen=True, slots=True)
class HostStopped:
    """Actor `name` takes no more messages (the node stops, or it failed for good)."""

    name: str


@dataclass(frozen=True, slots=True)
class MailArrived:
    """Letters for the actor and letters of its own returned undeliverable, in the order they came: one
    hand-off for everything the router had for it at once."""

    items: tuple[Letter | Parcel | Bounced, ...]


@dataclass(frozen=True, slots=True)
class ReturnToSender:
    """A letter its actor will never read (it failed, or its stash is full): back to whoever sent it."""

    letter: Letter
    reason: str


@dataclass(frozen=True, slots=True)
class ReachableChanged:
    """The nodes a message can reach now, with their roles: the hosts' copy, for `members()` and pools."""

    members: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class HostStatus:
    """One actor's row in `clusterctl actors`, kept by the router as its host reports changes."""

    name: str
    cls: str
    state: str  # running, restarting, failed, stopped
    restarts: int


@dataclass(frozen=True, slots=True)
class AppControl:
    """A client's request (`clusterctl send|publish|request|actors`) for the router, answered via `reply`."""

    request: Any
    reply: Reply
