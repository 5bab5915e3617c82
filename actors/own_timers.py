"""Actors that wait for their own deadlines and sockets in their inbox, as Erlang's `receive ... after`.

Through the timer service, one probe a second costs a SWIM node about a dozen thread wake-ups a second:
the waiter thread wakes to fire, the timer actor wakes for every arm and cancel, and the waiter wakes again
for a probe timeout that the ack already cancelled. Datagrams handed over by the transport's I/O thread
cost two more wake-ups each. A hand-off costs some 40 us of CPU in CPython on this class of machine
(measured: a pykka tell to an idle actor and back is 77 us for the two wake-ups), which put an idle node
at 0.17 % of a core. An actor whose timers fire often instead waits on its own inbox, with a timeout equal
to its next deadline and with the sockets it alone reads: arming and cancelling are plain calls on its own
thread, and a timer or a datagram wakes exactly the thread that handles it.

Timers are armed and cancelled only by the owning actor while it handles a message, so its thread is
never inside the wait when the deadlines change. Messages from other actors wake the wait through a pipe,
written only while the owner is actually waiting. With a `ManualClock`, advancing the clock wakes the
inbox, so tests drive these timers exactly like the timer service's.

Everything is handed over in the order it happened: a timer by its deadline, a datagram by when the kernel
received it, a message from another actor by when it was put. So a due timer goes ahead of any datagram
that arrived after its deadline, and behind every datagram that arrived before it, read or still unread.
A starved node reads late; were its probe timeouts handed over first, the acks that came in time but sat
unread would count as missed, and the node would accuse healthy peers for its own slowness (at 101 and
more nodes on two cores, the start-up's suspicions of live nodes).
"""

from __future__ import annotations

import collections
import math
import selectors
import threading
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from actors.clock import Clock, ManualClock
from actors.messages import TimerFired
from actors.wake_pipe import WakePipe
from cluster.core import effects as fx
from cluster.core.timers import DueTimer, TimerSet

_NEVER = math.inf


@dataclass(frozen=True, slots=True)
class _Delivery:
    """What pykka's actor loop reads from an inbox (its own envelopes carry `message` and `reply_to`)."""

    message: Any
    reply_to: None = None


class TimedInbox:
    """An actor inbox (pykka uses `put`, `get` and `empty`) whose `get` also yields `TimerFired` for the
    actor's own deadlines and the messages its watched sockets produce."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._manual = isinstance(clock, ManualClock)
        self._lock = threading.Lock()
        self._queue: collections.deque[tuple[float, Any]] = collections.deque()  # (put at, item)
        # (arrived at, message) from the sockets, each read's oldest first; the owner's thread only
        self._local: collections.deque[tuple[float, Any]] = collections.deque()
        self._timers = TimerSet()
        self._due: collections.deque[DueTimer] = collections.deque()
        self._waiting = False
        self._wake = WakePipe()
        self._selector = selectors.DefaultSelector()
        self._closed = False
        self._selector.register(self._wake, selectors.EVENT_READ, None)

    # -- the owner's side -----------------------------------------------------------------------

    def arm(self, key: Hashable, deadline: float) -> None:
        """Re-arming a key replaces its deadline, as with the timer service."""
        self._discard_due(key)
        self._timers.schedule(key, deadline, None)

    def cancel(self, key: Hashable) -> None:
        self._discard_due(key)
        self._timers.cancel(key)

    def watch(self, fileobj: Any, read: Callable[[], Iterable[tuple[float, Any]]]) -> None:
        """When `fileobj` is readable, `read()` (on the owner's thread) gives the messages to handle, each
        with when it arrived on this inbox's clock, oldest first (one socket: only the oldest waiting
        message is compared with the timers)."""
        self._selector.register(fileobj, selectors.EVENT_READ, read)

    def close(self) -> None:
        """After the actor's `on_stop`; pykka's teardown may still call `get` for what is left."""
        self._closed = True
        self._selector.close()
        self._wake.close()

    # -- the queue pykka sees -------------------------------------------------------------------

    def qsize(self) -> int:
        """Messages waiting, as `queue.Queue.qsize` counts them (timers not yet due are not messages)."""
        return len(self._queue) + len(self._local) + len(self._due)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        now = self._clock.now()
        with self._lock:
            self._queue.append((now, item))
            waiting = self._waiting
        if waiting:
            self.wake()

    def wake(self) -> None:
        self._wake.wake()

    def empty(self) -> bool:
        with self._lock:
            return not self._queue and not self._local

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """The earliest of what is waiting: a due timer by its deadline, a socket's message by when it
        arrived, another actor's by when it was put (a probe timeout neither waits behind a burst that came
        after it nor overtakes the ack that came before it, and no source starves the others). On a tie
        the timer goes before a message from another actor, and a datagram before both."""
        while True:
            if not self._due:
                self._due.extend(self._timers.pop_due(self._clock.now()))
                if self._due and not self._closed:
                    self._poll()  # what arrived before these deadlines may still be unread
            timer_at = self._due[0].deadline if self._due else _NEVER
            local_at = self._local[0][0] if self._local else _NEVER
            with self._lock:
                queued_at = self._queue[0][0] if self._queue else _NEVER
                if queued_at < timer_at and queued_at < local_at:
                    return self._queue.popleft()[1]
                idle = min(timer_at, local_at, queued_at) == _NEVER
                if idle:
                    if not block:
                        raise IndexError("inbox is empty")
                    self._waiting = True
            if not idle:
                if local_at <= timer_at:
                    return _Delivery(self._local.popleft()[1])
                timer = self._due.popleft()
                return _Delivery(TimerFired(timer.key, timer.deadline))
            try:
                self._wait()
            finally:
                with self._lock:
                    self._waiting = False

    def _wait(self) -> None:
        deadline = self._timers.next_deadline()
        timeout = None
        if deadline is not None and not self._manual:
            timeout = max(0.0, deadline - self._clock.now())
        self._take(self._selector.select(timeout))

    def _poll(self) -> None:
        self._take(self._selector.select(0))

    def _take(self, ready: list[tuple[selectors.SelectorKey, int]]) -> None:
        for key, _mask in ready:
            if key.data is None:
                self._wake.drain()
            else:
                self._local.extend(key.data())

    def _discard_due(self, key: Hashable) -> None:
        """A timer popped as due but not yet handed out is still the actor's to re-arm or cancel."""
        if any(timer.key == key for timer in self._due):
            self._due = collections.deque(timer for timer in self._due if timer.key != key)


class OwnTimers:
    """Mixin for a node actor whose timers (and, optionally, sockets) live in its inbox (see the module
    docstring). Put it first among the bases; `TimerFired` arrives as from the timer service, so handlers
    are the same either way."""

    actor_inbox: Any

    def __init__(self, *args: Any, clock: Clock, **kwargs: Any) -> None:
        # pykka builds the inbox in its constructor (through `_create_actor_inbox`), so the clock must be
        # known before that runs.
        self._own_clock = clock
        super().__init__(*args, **kwargs)

    def _create_actor_inbox(self) -> TimedInbox:
        return TimedInbox(self._own_clock)

    def set_own_timers(self, effects: Iterable[Any]) -> list[Any]:
        """Arm and cancel the timers among a core's effects in this inbox; the other effects are
        returned for the actor to carry out."""
        rest: list[Any] = []
        for effect in effects:
            if isinstance(effect, fx.StartTimer):
                self.timers.arm(effect.key, effect.deadline)
            elif isinstance(effect, fx.CancelTimer):
                self.timers.cancel(effect.key)
            else:
                rest.append(effect)
        return rest

    @property
    def timers(self) -> TimedInbox:
        inbox = self.actor_inbox
        assert isinstance(inbox, TimedInbox)
        return inbox

    def on_start(self) -> None:
        if isinstance(self._own_clock, ManualClock):
            self._own_clock.attach(self.timers.wake)
        super().on_start()  # type: ignore[misc]

    def on_stop(self) -> None:
        if isinstance(self._own_clock, ManualClock):
            self._own_clock.detach(self.timers.wake)
        super().on_stop()  # type: ignore[misc]
        self.timers.close()
