"""The common shell of every node actor: dispatch by message type, and crash = stop the node.

Handlers are picked by the exact class of the message, so the set of messages an actor understands is
visible in one place (its `@handles` methods). A handler that raises means the core's state can no longer
be trusted; as in Akka, we stop the node rather than run on (architecture §5), through the `on_crash`
callback the node wired in.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable
from typing import Any, ClassVar

import pykka

from actors.messages import AnswerControl, Barrier, Reply
from cluster.wire.messages import ControlReply

log = logging.getLogger(__name__)

CrashHandler = Callable[[str, BaseException], None]


def tell_if_alive(ref: pykka.ActorRef[Any], message: Any) -> bool:
    """Tell `ref` unless it has stopped; a message for a stopped actor (a tick, an event, an I/O report
    arriving during shutdown) is moot, not an error. Returns whether it was told."""
    try:
        ref.tell(message)
    except pykka.ActorDeadError:
        return False
    return True


def answer(reply: Reply, body: ControlReply) -> None:
    """Answer a control request, wherever in the node it ended up being carried out."""
    tell_if_alive(reply.transport, AnswerControl(reply.conn_id, body))


def inbox_empty(inbox: object) -> bool:
    """Whether an actor's inbox is empty, read without taking its lock: `Queue.empty` locks the queue
    every one of its writers needs, and an actor asking after every message (to hand on a batch when the
    burst is over) slowed its writers down. The length of the queue's deque is read atomically; a message
    arriving just after is handled next, and the batch goes with it."""
    items = getattr(inbox, "queue", None)
    if isinstance(items, collections.deque):
        return not items
    empty: bool = inbox.empty()  # type: ignore[attr-defined]
    return empty


def inbox_depth(inbox: object) -> int:
    """Messages waiting in an actor's inbox (a `queue.Queue`, or an `OwnTimers` inbox), for the metrics."""
    size = getattr(inbox, "qsize", None)
    return int(size()) if callable(size) else 0


def handles(*types: type) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a method as the handler of these message classes."""

    def mark(method: Callable[..., Any]) -> Callable[..., Any]:
        method._handles = types  # type: ignore[attr-defined]
        return method

    return mark


class NodeActor(pykka.ThreadingActor):
    """Base of all node actors."""

    _dispatch: ClassVar[dict[type, str]] = {}
    # A node stops its actors explicitly; daemon threads only matter when something went wrong, and then
    # a stuck actor must not keep a dying process (or a test run) alive.
    use_daemon_thread = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table: dict[type, str] = {}
        for klass in reversed(cls.__mro__):
            for name, member in vars(klass).items():
                for message_type in getattr(member, "_handles", ()):
                    table[message_type] = name
        cls._dispatch = table

    def __init__(self, *, on_crash: CrashHandler | None = None) -> None:
        super().__init__()
        self._on_crash = on_crash

    @property
    def label(self) -> str:
        return type(self).__name__

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Barrier):
            return None
        name = self._dispatch.get(type(message))
        if name is None:
            log.warning("%s: no handler for %s", self.label, type(message).__name__)
            return None
        return getattr(self, name)(message)

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: Any,
    ) -> None:
        log.error("%s crashed", self.label, exc_info=exception_value)
        if self._on_crash is not None and exception_value is not None:
            self._on_crash(self.label, exception_value)
