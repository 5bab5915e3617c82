"""Clocks for actors: the real monotonic one, and a manual one that tests advance by hand.

Cores never read a clock (architecture §2); actors read one of these and pass `now` in. A manual clock also
drives the timer services attached to it, so a test can move time forward and see exactly the ticks that
fall due, without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()


class ManualClock:
    """Time that moves only when `advance` is called; attached listeners then fire what fell due."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def attach(self, listener: Callable[[], None]) -> None:
        with self._lock:
            self._listeners.append(listener)

    def detach(self, listener: Callable[[], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a manual clock never goes back")
        with self._lock:
            self._now += seconds
            listeners = list(self._listeners)
        for listener in listeners:
            listener()
