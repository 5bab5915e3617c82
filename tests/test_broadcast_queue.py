"""The transmit-limited queue: retransmit limits, replacement by key, send order, the byte budget, prune.

The queue never looks inside `encoded`, so most tests use filler bytes of a chosen size beside a real message.
"""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.core.broadcast_queue import QueuedUpdate, TransmitLimitedQueue, retransmit_limit
from cluster.wire.codec import encode
from cluster.wire.messages import Suspect

BIG = 1_000_000


def _update(key: str, size: int = 10, incarnation: int = 1) -> tuple[Suspect, bytes]:
    return Suspect(key, incarnation, "prober"), key.encode()[:1] * size


def _queue(*keys: str, size: int = 10) -> TransmitLimitedQueue:
    q = TransmitLimitedQueue()
    for key in keys:
        q.queue(key, *_update(key, size))
    return q


def _sends_until_gone(n_members: int, mult: int) -> int:
    q = _queue("a")
    sends = 0
    while len(q):
        assert q.take(BIG, 0, n_members, mult) == [b"a" * 10]
        sends += 1
    return sends


# --- the retransmit limit ------------------------------------------------------------------------------

LIMITS = [
    # n, mult, sends: mult * ceil(log10(n + 1))
    (1, 2, 2),
    (9, 2, 2),
    (10, 2, 4),
    (50, 2, 4),
    (99, 2, 4),
    (100, 2, 6),
    (1, 4, 4),
    (10, 4, 8),
    (50, 4, 8),
    (100, 4, 12),
    (1000, 4, 16),
]


@pytest.mark.parametrize(("n", "mult", "sends"), LIMITS)
def test_each_update_is_sent_exactly_the_retransmit_limit(n: int, mult: int, sends: int) -> None:
    assert _sends_until_gone(n, mult) == sends


def test_with_no_members_the_limit_is_zero_and_an_update_goes_once() -> None:
    assert _sends_until_gone(0, 4) == 1


def test_the_limit_follows_the_cluster_size_of_each_call() -> None:
    q = _queue("a")
    assert q.take(BIG, 0, 1, 2) == [b"a" * 10]  # limit 2: one more to go
    assert q.pending()[0].transmits == 1
    assert q.take(BIG, 0, 100, 2) == [b"a" * 10]  # the cluster grew: limit 6
    assert q.pending()[0].transmits == 2
    assert q.take(BIG, 0, 1, 2) == [b"a" * 10]  # shrank again: 3 >= 2, done
    assert len(q) == 0


# --- replacement by key --------------------------------------------------------------------------------


def test_a_newer_update_about_the_same_member_replaces_the_queued_one() -> None:
    q = TransmitLimitedQueue()
    old_msg, old_bytes = Suspect("w1", 1, "p"), encode(Suspect("w1", 1, "p"))
    new_msg, new_bytes = Suspect("w1", 2, "p"), encode(Suspect("w1", 2, "p"))
    q.queue("w1", old_msg, old_bytes)
    q.take(BIG, 0, 10, 4)
    q.take(BIG, 0, 10, 4)
    assert q.pending()[0].transmits == 2
    q.queue("w1", new_msg, new_bytes)
    assert len(q) == 1
    (item,) = q.pending()
    assert (item.key, item.message, item.encoded, item.transmits) == ("w1", new_msg, new_bytes, 0)
    assert q.take(BIG, 0, 10, 4) == [new_bytes]


def test_updates_about_other_members_are_kept() -> None:
    q = _queue("a", "b")
    q.queue("a", *_update("a", size=3))
    assert sorted(q.pending_keys()) == ["a", "b"]
    assert "a" in q and "b" in q and "c" not in q


def test_a_replaced_update_moves_to_the_front() -> None:
    q = _queue("a", "b", "c")
    q.queue("a", *_update("a", size=4))
    assert q.pending_keys() == ("a", "c", "b")


def test_queue_refuses_empty_or_non_bytes_encodings() -> None:
    q = TransmitLimitedQueue()
    msg, _ = _update("a")
    with pytest.raises(ValueError):
        q.queue("a", msg, b"")
    with pytest.raises(ValueError):
        q.queue("a", msg, bytearray(b"x"))  # type: ignore[arg-type]
    assert len(q) == 0


# --- send order ----------------------------------------------------------------------------------------


def test_order_is_fewest_transmits_then_newest() -> None:
    q = _queue("a", "b", "c")
    assert q.pending_keys() == ("c", "b", "a")
    assert q.take(BIG, 0, 10, 4) == [b"c" * 10, b"b" * 10, b"a" * 10]
    q.queue("d", *_update("d"))
    assert q.pending_keys() == ("d", "c", "b", "a")
    assert q.take(11, 0, 10, 4) == [b"d" * 10]  # room for one
    assert [item.transmits for item in q.pending()] == [1, 1, 1, 1]
    assert q.pending_keys() == ("d", "c", "b", "a")  # all at one transmit: newest first
    assert q.take(11, 0, 10, 4) == [b"d" * 10]
    assert q.pending_keys() == ("c", "b", "a", "d")


def test_one_part_per_take_cycles_through_every_update() -> None:
    q = _queue("a", "b", "c")
    sent = [q.take(10, 0, 1, 2)[0][:1] for _ in range(6)]  # limit 2
    assert sent == [b"c", b"b", b"a", b"c", b"b", b"a"]
    assert len(q) == 0


def test_pending_snapshots_are_frozen_values() -> None:
    q = _queue("a")
    (item,) = q.pending()
    assert isinstance(item, QueuedUpdate)
    q.take(BIG, 0, 10, 4)
    assert item.transmits == 0  # the snapshot did not change under us
    assert q.pending()[0].transmits == 1


# --- the byte budget -----------------------------------------------------------------------------------

BUDGETS = [
    # budget, overhead, how many 10-byte updates fit
    (0, 0, 0),
    (9, 0, 0),
    (10, 0, 1),
    (29, 0, 2),
    (30, 0, 3),
    (25, 3, 1),
    (26, 3, 2),
    (38, 3, 2),
    (39, 3, 3),
    (3, 3, 0),
    (BIG, 3, 3),
]


@pytest.mark.parametrize(("budget", "overhead", "count"), BUDGETS)
def test_budget_is_respected_exactly_including_the_per_part_overhead(
    budget: int, overhead: int, count: int
) -> None:
    q = _queue("a", "b", "c")
    taken = q.take(budget, overhead, 10, 4)
    assert len(taken) == count
    assert sum(overhead + len(part) for part in taken) <= budget
    assert len(q) == 3  # nothing reached its limit


def test_a_part_too_large_is_skipped_and_smaller_ones_still_go() -> None:
    q = TransmitLimitedQueue()
    q.queue("small", *_update("small", size=10))
    q.queue("large", *_update("large", size=50))  # newer, so first in line
    assert q.take(20, 2, 10, 4) == [b"s" * 10]
    assert {item.key: item.transmits for item in q.pending()} == {"large": 0, "small": 1}
    assert q.take(52, 2, 10, 4) == [b"l" * 50]


def test_nothing_to_take_from_an_empty_queue() -> None:
    assert TransmitLimitedQueue().take(BIG, 0, 10, 4) == []


@pytest.mark.parametrize("args", [(-1, 0, 10, 4), (10, -1, 10, 4), (10, 0, 10, -1), (10, 0, -1, 4)])
def test_take_refuses_negative_arguments(args: tuple[int, int, int, int]) -> None:
    with pytest.raises(ValueError):
        _queue("a").take(*args)


# --- prune ---------------------------------------------------------------------------------------------


def test_prune_keeps_the_least_transmitted_then_newest() -> None:
    q = _queue("a", "b", "c")
    q.take(BIG, 0, 10, 4)  # a, b, c at one transmit each
    q.queue("d", *_update("d"))
    q.queue("e", *_update("e"))
    assert q.pending_keys() == ("e", "d", "c", "b", "a")
    q.prune(3)
    assert q.pending_keys() == ("e", "d", "c")
    q.prune(3)
    assert q.pending_keys() == ("e", "d", "c")
    q.prune(0)
    assert len(q) == 0


def test_prune_refuses_a_negative_size() -> None:
    with pytest.raises(ValueError):
        _queue("a").prune(-1)


# --- loss of interest ----------------------------------------------------------------------------------


def test_an_update_heard_from_others_leaves_after_its_redundancy_bound() -> None:
    q = TransmitLimitedQueue()
    message, encoded = _update("a")
    q.queue("a", message, encoded, redundant_after=2)
    assert q.heard("a", message) is False and "a" in q
    assert q.take(BIG, 0, 10, 4) == [encoded]  # sending it does not count against the bound
    assert q.heard("a", message) is True and "a" not in q
    assert q.take(BIG, 0, 10, 4) == []


def test_heard_touches_only_the_very_update_queued_with_a_bound() -> None:
    q = TransmitLimitedQueue()
    q.queue("a", *_update("a"), redundant_after=1)
    q.queue("b", *_update("b"))  # no bound: kept for its full count whatever others send
    assert q.heard("a", Suspect("a", 2, "prober")) is False  # other news about the same key
    assert q.heard("b", _update("b")[0]) is False and q.heard("zz", _update("a")[0]) is False
    assert len(q) == 2
    q.queue("a", *_update("a"))  # a replacement queued without a bound keeps none
    assert q.heard("a", _update("a")[0]) is False and "a" in q


def test_a_redundancy_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="redundant_after"):
        TransmitLimitedQueue().queue("a", *_update("a"), redundant_after=0)


# --- properties ----------------------------------------------------------------------------------------

_ops = st.lists(
    st.one_of(
        st.tuples(st.just("queue"), st.sampled_from("abcdef"), st.integers(1, 60)),
        st.tuples(st.just("take"), st.integers(0, 150), st.integers(0, 5)),
        st.tuples(st.just("prune"), st.integers(0, 6), st.just(0)),
    ),
    max_size=40,
)


def _run(ops: list[tuple[str, Any, int]], n_members: int, mult: int) -> list[list[bytes]]:
    """Apply `ops` to a fresh queue, checking the invariants after every step; returns what each take gave."""
    limit = max(1, retransmit_limit(mult, n_members))
    q = TransmitLimitedQueue()
    sends: dict[bytes, int] = {}
    version = 0
    outputs = []
    for op, arg, extra in ops:
        if op == "queue":
            version += 1
            encoded = f"{arg}{version:04d}".encode() + b"." * extra
            q.queue(arg, Suspect(arg, version, "p"), encoded)
            sends[encoded] = 0
        elif op == "take":
            before = {item.encoded: item for item in q.pending()}
            order = [item.encoded for item in q.pending()]
            taken = q.take(arg, extra, n_members, mult)
            outputs.append(taken)
            left = arg - sum(extra + len(part) for part in taken)
            assert left >= 0
            assert taken == [part for part in order if part in taken]  # in send order
            for part in taken:
                sends[part] += 1
            for part, item in before.items():
                if part not in taken:
                    assert extra + len(item.encoded) > left  # skipped only because it did not fit
        else:
            q.prune(arg)
            assert len(q) <= arg
        pending = {item.encoded: item for item in q.pending()}
        assert len({item.key for item in pending.values()}) == len(q)
        for encoded, count in sends.items():
            assert count <= limit
            if encoded in pending:
                assert pending[encoded].transmits == count < limit
    return outputs


@settings(max_examples=200, deadline=None)
@given(_ops, st.integers(0, 150), st.integers(0, 4))
def test_invariants_under_any_sequence_of_calls(ops: list[Any], n_members: int, mult: int) -> None:
    _run(ops, n_members, mult)


@settings(max_examples=50, deadline=None)
@given(_ops, st.integers(0, 150), st.integers(0, 4))
def test_the_same_calls_give_the_same_bytes(ops: list[Any], n_members: int, mult: int) -> None:
    assert _run(ops, n_members, mult) == _run(ops, n_members, mult)
