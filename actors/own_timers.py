"""Actors that keep their own deadlines: the inbox wait doubles as the timer, as Erlang's `receive ... after`.

Through the timer service, one probe a second costs a SWIM node about a dozen thread wake-ups a second:
the waiter thread wakes to fire, the timer actor wakes for every arm and cancel, and the waiter wakes again
for a probe timeout that the ack already cancelled. Each hand-off costs some 40 us of CPU in CPython on
this class of machine (measured: a pykka tell to an idle actor and back is 77 us for the two wake-ups),
which put an idle node at 0.17 % of a core. An actor whose timers fire often instead waits on its own
inbox with a timeout equal to its next deadline: arming and cancelling are plain calls on its own thread,
and a timer that falls due wakes exactly the thread that handles it.

Timers are armed and cancelled only by the owning actor while it handles a message, so its thread is
never inside the wait when the deadlines change and nothing needs waking. With a `ManualClock`, advancing
the clock drops a wake-up into the inbox, so tests drive these timers exactly like the timer service's.
"""

from __future__ import annotations

import collections
import queue
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from actors.clock import Clock, ManualClock
from actors.messages import TimerFired
from cluster.timers import DueTimer, TimerSet


@dataclass(frozen=True, slots=True)
class _Delivery:
    """What pykka's actor loop reads from an inbox (its own envelopes carry `message` and `reply_to`)."""

    message: Any
    reply_to: None = None


_WAKE = object()  # a manual clock moved: look at the deadlines again


class TimedInbox(queue.Queue[Any]):
    """An actor inbox whose `get` also yields `TimerFired` for the actor's own deadlines, earliest first."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self._clock = clock
        self._timers = TimerSet()
        self._due: collections.deque[DueTimer] = collections.deque()
        self._manual = isinstance(clock, ManualClock)

    def arm(self, key: Hashable, deadline: float) -> None:
        """Re-arming a key replaces its deadline, as with the timer service."""
        self._discard_due(key)
        self._timers.schedule(key, deadline, None)

    def cancel(self, key: Hashable) -> None:
        self._discard_due(key)
        self._timers.cancel(key)

    def wake(self) -> None:
        self.put(_Delivery(_WAKE))

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Timers that fell due come before queued messages: a probe timeout must not wait behind a burst
        of datagrams. `block=False` and `timeout` keep `queue.Queue`'s meaning for pykka's teardown."""
        while True:
            if not self._due:
                self._due.extend(self._timers.pop_due(self._clock.now()))
            if self._due:
                timer = self._due.popleft()
                return _Delivery(TimerFired(timer.key, timer.deadline))
            wait = timeout
            deadline = self._timers.next_deadline()
            if deadline is not None and not self._manual:
                until_due = max(0.0, deadline - self._clock.now())
                wait = until_due if wait is None else min(wait, until_due)
            try:
                delivery = super().get(block, wait)
            except queue.Empty:
                if wait == timeout or not block:
                    raise
                continue
            if delivery.message is not _WAKE:
                return delivery

    def _discard_due(self, key: Hashable) -> None:
        """A timer popped as due but not yet handed out is still the actor's to re-arm or cancel."""
        if any(timer.key == key for timer in self._due):
            self._due = collections.deque(timer for timer in self._due if timer.key != key)


class OwnTimers:
    """Mixin for a node actor whose timers live in its inbox (see the module docstring). Put it first
    among the bases; `TimerFired` arrives as from the timer service, so handlers are the same either way."""

    actor_inbox: Any

    def __init__(self, *args: Any, clock: Clock, **kwargs: Any) -> None:
        # pykka builds the inbox in its constructor (through `_create_actor_inbox`), so the clock must be
        # known before that runs.
        self._own_clock = clock
        super().__init__(*args, **kwargs)

    def _create_actor_inbox(self) -> TimedInbox:
        return TimedInbox(self._own_clock)

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
