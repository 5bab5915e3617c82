from __future__ import annotations

import random

import pytest

from cluster.core.backoff import backoff_delay
from cluster.core.timers import TimerSet


def test_timers_fire_in_order_and_rearming_replaces() -> None:
    timers = TimerSet()
    timers.schedule("a", 5.0, "A")
    timers.schedule("b", 3.0, "B")
    timers.schedule("a", 1.0, "A2")
    assert timers.next_deadline() == 1.0
    assert [(t.key, t.payload) for t in timers.pop_due(3.0)] == [("a", "A2"), ("b", "B")]
    assert timers.pop_due(100.0) == []
    assert len(timers) == 0


def test_cancel() -> None:
    timers = TimerSet()
    timers.schedule("a", 1.0, None)
    timers.cancel("a")
    assert timers.next_deadline() is None


@pytest.mark.parametrize(
    ("attempt", "low", "high"), [(0, 0.05, 0.1), (1, 0.1, 0.2), (3, 0.4, 0.8), (10, 0.5, 1.0)]
)
def test_backoff_window(attempt: int, low: float, high: float) -> None:
    rng = random.Random(1)
    for _ in range(50):
        assert low <= backoff_delay(attempt, 0.1, 1.0, rng) <= high


def test_backoff_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        backoff_delay(-1, 0.1, 1.0, random.Random())
    with pytest.raises(ValueError):
        backoff_delay(0, 2.0, 1.0, random.Random())
