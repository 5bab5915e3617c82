"""The Lamport clock: next/update rules, and refusal of values the wire could not carry."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.core.lamport import MAX_TIME, LamportClock

times = st.integers(min_value=0, max_value=MAX_TIME)


def test_starts_at_zero_and_counts_up() -> None:
    clock = LamportClock()
    assert clock.current == 0
    assert [clock.next(), clock.next(), clock.next()] == [1, 2, 3]
    assert clock.current == 3


def test_start_value() -> None:
    clock = LamportClock(41)
    assert clock.current == 41
    assert clock.next() == 42


@pytest.mark.parametrize(
    ("current", "received", "after"),
    [(0, 0, 0), (0, 5, 5), (5, 3, 5), (5, 5, 5), (7, 8, 8)],
)
def test_update_takes_the_maximum(current: int, received: int, after: int) -> None:
    clock = LamportClock(current)
    assert clock.update(received) == after
    assert clock.current == after
    assert clock.next() == after + 1


@pytest.mark.parametrize("bad", [-1, 1.0, "3", None, True, False, MAX_TIME + 1])
def test_rejects_bad_start(bad: object) -> None:
    with pytest.raises(ValueError):
        LamportClock(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-1, 2.5, "3", None, True, MAX_TIME + 1])
def test_rejects_bad_update_and_keeps_its_time(bad: object) -> None:
    clock = LamportClock(10)
    with pytest.raises(ValueError):
        clock.update(bad)  # type: ignore[arg-type]
    assert clock.current == 10


def test_exhausted_clock_refuses_to_wrap() -> None:
    clock = LamportClock(MAX_TIME - 1)
    assert clock.next() == MAX_TIME
    with pytest.raises(OverflowError):
        clock.next()
    assert clock.current == MAX_TIME


def test_clocks_are_independent() -> None:
    a, b = LamportClock(), LamportClock()
    a.next()
    a.next()
    assert (a.current, b.current) == (2, 0)


@settings(max_examples=100, deadline=None)
@given(start=times, ops=st.lists(st.none() | times, max_size=30))
def test_never_goes_back_and_next_beats_everything_seen(start: int, ops: list[int | None]) -> None:
    clock = LamportClock(start)
    seen = start
    for op in ops:
        before = clock.current
        if op is None:
            if before == MAX_TIME:
                continue
            stamp = clock.next()
            assert stamp == before + 1
            assert stamp > seen
            seen = stamp
        else:
            assert clock.update(op) == max(before, op)
            seen = max(seen, op)
        assert clock.current >= before
        assert clock.current == seen


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), max_size=30))
def test_happened_before_gives_smaller_timestamps(sends: list[tuple[int, int]]) -> None:
    """Three nodes passing messages: a receive's own next stamp exceeds the stamp of the send."""
    clocks = [LamportClock() for _ in range(3)]
    for sender, receiver in sends:
        sent = clocks[sender].next()
        clocks[receiver].update(sent)
        assert clocks[receiver].next() > sent
