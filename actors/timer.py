"""The node's timer service: the only thing in a node that waits for time to pass.

Actors ask for a tick with `ArmTimer(key, deadline, target)` and receive `TimerFired(key, due)`.
Re-arming a key replaces the earlier deadline. With a real clock a waiter thread sleeps until the next
deadline; with a `ManualClock` there is no thread and ticks fire when the test advances the clock.
"""

from __future__ import annotations

import threading

from actors.base import CrashHandler, NodeActor, handles, tell_if_alive
from actors.clock import Clock, ManualClock
from actors.messages import ArmTimer, DisarmTimer, TimerFired
from cluster.core.timers import TimerSet


class TimerService(NodeActor):
    def __init__(self, clock: Clock, *, on_crash: CrashHandler | None = None) -> None:
        super().__init__(on_crash=on_crash)
        self._clock = clock
        self._timers = TimerSet()
        self._changed = threading.Condition()
        self._stopping = False
        self._waiter: threading.Thread | None = None
        self._waiting_until: float | None = None  # the deadline the waiter sleeps towards; None: forever

    def on_start(self) -> None:
        if isinstance(self._clock, ManualClock):
            self._clock.attach(self._fire_due)
        else:
            self._waiter = threading.Thread(target=self._wait_loop, name="timer-waiter", daemon=True)
            self._waiter.start()

    def on_stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if isinstance(self._clock, ManualClock):
            self._clock.detach(self._fire_due)
        if self._waiter is not None:
            self._waiter.join(timeout=2)

    @handles(ArmTimer)
    def _arm(self, message: ArmTimer) -> None:
        with self._changed:
            self._timers.schedule((message.target.actor_urn, message.key), message.deadline, message)
            # Wake the waiter only if it would otherwise sleep past this deadline: most timers are
            # re-armed further out, and every needless wake-up is idle CPU.
            if self._waiting_until is None or message.deadline < self._waiting_until:
                self._changed.notify_all()

    @handles(DisarmTimer)
    def _disarm(self, message: DisarmTimer) -> None:
        with self._changed:
            self._timers.cancel((message.target.actor_urn, message.key))

    def _fire_due(self) -> None:
        with self._changed:
            due = self._timers.pop_due(self._clock.now())
        for timer in due:
            request: ArmTimer = timer.payload
            tell_if_alive(request.target, TimerFired(request.key, timer.deadline))

    def _wait_loop(self) -> None:
        while True:
            with self._changed:
                if self._stopping:
                    return
                deadline = self._timers.next_deadline()
                timeout = None if deadline is None else max(0.0, deadline - self._clock.now())
                if timeout is None or timeout > 0:
                    self._waiting_until = deadline
                    self._changed.wait(timeout)
                    self._waiting_until = None
                    continue
            self._fire_due()
