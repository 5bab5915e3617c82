"""Lifeguard's local health score: rises on trouble, falls on success, held within 0..max-1."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.membership.awareness import (
    FAILED_PROBE,
    MISSED_NACK,
    REFUTED,
    SUCCESSFUL_PROBE,
    Awareness,
    failed_probe_delta,
)


def test_named_deltas_are_memberlists() -> None:
    assert (SUCCESSFUL_PROBE, FAILED_PROBE, MISSED_NACK, REFUTED) == (-1, 1, 1, 1)


@pytest.mark.parametrize(
    ("start", "deltas", "end"),
    [
        # max_multiplier 8: score within 0..7
        (0, [], 0),
        (0, [SUCCESSFUL_PROBE], 0),  # floor: a healthy node banks no credit
        (0, [FAILED_PROBE], 1),
        (0, [REFUTED, REFUTED, SUCCESSFUL_PROBE], 1),
        (0, [MISSED_NACK] * 3, 3),  # three helpers, no nack from any
        (0, [FAILED_PROBE] * 20, 7),  # ceiling is max - 1, not max
        (7, [REFUTED], 7),
        (7, [SUCCESSFUL_PROBE] * 7, 0),  # seven good probes recover fully
        (5, [+10], 7),
        (5, [-10], 0),
        (0, [+10, SUCCESSFUL_PROBE], 6),  # the excess above the rail is not remembered
    ],
)
def test_apply_table(start: int, deltas: list[int], end: int) -> None:
    a = Awareness(8, start)
    for delta in deltas:
        a = a.apply(delta)
    assert a.score == end


@pytest.mark.parametrize(
    ("score", "timeout", "scaled"),
    # timeout x (score + 1)
    [(0, 1.0, 1.0), (1, 1.0, 2.0), (3, 0.2, 0.8), (7, 1.0, 8.0), (7, 5.0, 40.0)],
)
def test_scale(score: int, timeout: float, scaled: float) -> None:
    assert Awareness(8, score).scale(timeout) == pytest.approx(scaled)


@pytest.mark.parametrize(
    ("expected", "received", "delta"),
    [
        (0, 0, 1),  # nobody could nack: any failed probe counts against us
        (3, 3, 0),  # every helper nacked: the target is at fault, not us
        (3, 2, 1),
        (3, 0, 3),  # no helper heard either: we are the likely problem
        (1, 0, 1),  # local/fast presets ask one helper
        (1, 2, 0),  # more nacks than asked for (duplicates) never lower the score
    ],
)
def test_failed_probe_delta(expected: int, received: int, delta: int) -> None:
    assert failed_probe_delta(expected, received) == delta


def test_max_multiplier_one_never_stretches() -> None:
    a = Awareness(1).apply(FAILED_PROBE)
    assert a.score == 0
    assert a.scale(1.0) == 1.0


@pytest.mark.parametrize(("max_multiplier", "score"), [(0, 0), (8, -1), (8, 8)])
def test_rejects_out_of_range(max_multiplier: int, score: int) -> None:
    with pytest.raises(ValueError):
        Awareness(max_multiplier, score)


def test_rejects_negative_nack_counts() -> None:
    with pytest.raises(ValueError):
        failed_probe_delta(-1, 0)


def test_is_an_immutable_value() -> None:
    a = Awareness(8)
    b = a.apply(FAILED_PROBE)
    assert (a.score, b.score) == (0, 1)
    assert a.apply(SUCCESSFUL_PROBE) is a
    with pytest.raises(AttributeError):
        a.score = 3  # type: ignore[misc]


@settings(max_examples=300, deadline=None)
@given(
    max_multiplier=st.integers(min_value=1, max_value=16),
    deltas=st.lists(st.integers(min_value=-20, max_value=20), max_size=50),
    timeout=st.floats(min_value=0.001, max_value=100.0),
)
def test_score_always_in_range(max_multiplier: int, deltas: list[int], timeout: float) -> None:
    a = Awareness(max_multiplier)
    expected = 0
    for delta in deltas:
        a = a.apply(delta)
        expected = min(max(expected + delta, 0), max_multiplier - 1)
        assert 0 <= a.score <= max_multiplier - 1
        assert a.score == expected
        assert timeout <= a.scale(timeout) <= max_multiplier * timeout * (1 + 1e-12)
