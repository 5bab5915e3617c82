"""SWIM/Lifeguard formulas against values worked out by hand and against memberlist's own test tables."""

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.core.broadcast_queue import retransmit_limit
from cluster.layout.presets import PRESETS
from cluster.membership.formulas import (
    expected_confirmations,
    probe_interval_scaled,
    push_pull_interval,
    suspicion_deadline,
    suspicion_timeout_bounds,
)

# node_scale = max(1, log10(max(1, n))) kept to three decimals (memberlist truncates it to 1/1000):
#   n=0,1 -> 1 (floor)   n=10 -> 1   n=50 -> log10(50)=1.69897 -> 1.698   n=100 -> 2   n=1000 -> 3
# min = mult * node_scale * interval, max = suspicion_max_timeout_mult (6 in every preset) * min.
BOUNDS = [
    # preset, n, min, max                  # how: mult x scale x interval
    ("lan", 0, 4.0, 24.0),  # 4 x 1 x 1.0 (n floored to 1)
    ("lan", 1, 4.0, 24.0),  # 4 x 1 x 1.0
    ("lan", 10, 4.0, 24.0),  # 4 x 1 x 1.0
    ("lan", 50, 6.792, 40.752),  # 4 x 1.698 x 1.0 (not 6.7959: memberlist truncates the scale)
    ("lan", 100, 8.0, 48.0),  # 4 x 2 x 1.0
    ("lan", 1000, 12.0, 72.0),  # 4 x 3 x 1.0
    ("local", 1, 3.0, 18.0),  # 3 x 1 x 1.0
    ("local", 10, 3.0, 18.0),  # 3 x 1 x 1.0
    ("local", 50, 5.094, 30.564),  # 3 x 1.698 x 1.0
    ("local", 100, 6.0, 36.0),  # 3 x 2 x 1.0
    ("local", 1000, 9.0, 54.0),  # 3 x 3 x 1.0
    ("fast", 1, 0.6, 3.6),  # 3 x 1 x 0.2
    ("fast", 10, 0.6, 3.6),  # 3 x 1 x 0.2
    ("fast", 50, 1.0188, 6.1128),  # 3 x 1.698 x 0.2
    ("fast", 100, 1.2, 7.2),  # 3 x 2 x 0.2
    ("fast", 1000, 1.8, 10.8),  # 3 x 3 x 0.2
    ("wan", 10, 30.0, 180.0),  # 6 x 1 x 5.0
    ("wan", 50, 50.94, 305.64),  # 6 x 1.698 x 5.0
    ("wan", 1000, 90.0, 540.0),  # 6 x 3 x 5.0
]


@pytest.mark.parametrize(("preset", "n", "low", "high"), BOUNDS)
def test_suspicion_timeout_bounds_for_presets(preset: str, n: int, low: float, high: float) -> None:
    t = PRESETS[preset]
    got = suspicion_timeout_bounds(t.suspicion_mult, t.suspicion_max_timeout_mult, n, t.probe_interval)
    assert got == pytest.approx((low, high))


@pytest.mark.parametrize(
    ("n", "expected_ms"),
    # memberlist util_test.go TestSuspicionTimeout: suspicionTimeout(3, n, 1s) / 3.
    [(5, 1000), (10, 1000), (50, 1698), (100, 2000), (500, 2698), (1000, 3000)],
)
def test_suspicion_timeout_matches_memberlist_table(n: int, expected_ms: int) -> None:
    low, _ = suspicion_timeout_bounds(3, 6, n, 1.0)
    assert low / 3 == pytest.approx(expected_ms / 1000)


@pytest.mark.parametrize(
    ("mult", "n", "limit"),
    [
        # mult x ceil(log10(n + 1))
        (4, 0, 0),  # log10(1) = 0: nobody to tell
        (4, 1, 4),  # ceil(log10 2 = 0.30) = 1
        (4, 9, 4),  # ceil(log10 10 = 1) = 1
        (4, 10, 8),  # ceil(log10 11 = 1.04) = 2
        (4, 50, 8),  # ceil(log10 51 = 1.71) = 2
        (4, 99, 8),  # ceil(log10 100 = 2) = 2
        (4, 100, 12),  # ceil(log10 101 = 2.004) = 3
        (4, 1000, 16),  # ceil(log10 1001 = 3.0004) = 4
        (2, 10, 4),  # local/fast preset: 2 x 2
        (3, 1, 3),  # memberlist util_test.go TestRetransmitLimit
        (3, 99, 6),  # memberlist util_test.go TestRetransmitLimit
    ],
)
def test_retransmit_limit(mult: int, n: int, limit: int) -> None:
    assert retransmit_limit(mult, n) == limit


@pytest.mark.parametrize(
    ("n", "interval"),
    [
        # base 30 s (lan); above 32: 30 x (ceil(log2 n - 5) + 1)
        (0, 30.0),
        (1, 30.0),
        (32, 30.0),  # threshold itself: unchanged
        (33, 60.0),  # log2 33 - 5 = 0.04 -> 1 -> x2
        (64, 60.0),  # 6 - 5 = 1 -> 1 -> x2
        (65, 90.0),  # 6.02 - 5 = 1.02 -> 2 -> x3
        (128, 90.0),  # 7 - 5 = 2 -> x3
        (129, 120.0),  # 7.01 - 5 -> 3 -> x4
        (1000, 180.0),  # 9.97 - 5 = 4.97 -> 5 -> x6
    ],
)
def test_push_pull_interval(n: int, interval: float) -> None:
    assert push_pull_interval(30.0, n) == pytest.approx(interval)


@pytest.mark.parametrize(
    ("n", "mult", "k"),
    [
        # k = mult - 2, but 0 when n - 2 < mult - 2 (not capped at n - 2)
        (1, 4, 0),
        (3, 4, 0),  # n - 2 = 1 < 2: all or nothing, not 1
        (4, 4, 2),  # n - 2 = 2 >= 2
        (50, 4, 2),  # lan
        (5, 6, 0),  # wan: 3 < 4
        (6, 6, 4),  # wan
        (2, 3, 0),  # local/fast: 0 < 1
        (3, 3, 1),  # local/fast
        (100, 3, 1),
        (100, 2, 0),  # mult 2: k = 0 by the formula
        (100, 1, 0),  # mult 1: memberlist's k = -1 behaves as 0
    ],
)
def test_expected_confirmations(n: int, mult: int, k: int) -> None:
    assert expected_confirmations(n, mult) == k


DEADLINES = [
    # min, max, k, c, timeout      how: max - (ln(c+1)/ln(k+1)) x (max-min), floored to ms, >= min
    (4.0, 24.0, 2, 0, 24.0),  # no confirmation yet: max
    (4.0, 24.0, 2, 1, 11.381),  # 24 - 0.63093 x 20 = 11.3814
    (4.0, 24.0, 2, 2, 4.0),  # frac 1: min
    (4.0, 24.0, 2, 3, 4.0),  # frac 1.26 would go below min: clamped
    (30.0, 180.0, 4, 1, 115.398),  # 180 - 0.43068 x 150 = 115.3985
    (30.0, 180.0, 4, 2, 77.609),  # 180 - 0.68261 x 150 = 77.6091
    (30.0, 180.0, 4, 3, 50.797),  # 180 - 0.86135 x 150 = 50.7970
    (30.0, 180.0, 4, 4, 30.0),
    # memberlist suspicion_test.go TestSuspicion_remainingSuspicionTime (remaining + elapsed):
    (2.0, 30.0, 3, 0, 30.0),
    (2.0, 30.0, 3, 1, 16.0),  # 30 - 0.5 x 28
    (2.0, 30.0, 3, 2, 7.81),  # 30 - 0.79248 x 28 = 7.8105, floored to 7.810
    (2.0, 30.0, 3, 3, 2.0),
    (2.0, 30.0, 3, 5, 2.0),
    # k = 0: no confirmation expected, min from the start whatever arrives
    (4.0, 24.0, 0, 0, 4.0),
    (4.0, 24.0, 0, 3, 4.0),
]


@pytest.mark.parametrize(("low", "high", "k", "c", "timeout"), DEADLINES)
def test_suspicion_deadline(low: float, high: float, k: int, c: int, timeout: float) -> None:
    assert suspicion_deadline(100.0, low, high, c, k) == pytest.approx(100.0 + timeout)


@pytest.mark.parametrize(
    ("interval", "score", "scaled"),
    [(1.0, 0, 1.0), (1.0, 1, 2.0), (1.0, 7, 8.0), (0.2, 3, 0.8), (5.0, 7, 40.0)],
)
def test_probe_interval_scaled(interval: float, score: int, scaled: float) -> None:
    assert probe_interval_scaled(interval, score) == pytest.approx(scaled)


@pytest.mark.parametrize(
    "call",
    [
        lambda: suspicion_timeout_bounds(4, 6, -1, 1.0),
        lambda: retransmit_limit(4, -1),
        lambda: push_pull_interval(30.0, -1),
        lambda: expected_confirmations(-1, 4),
        lambda: suspicion_deadline(0.0, 4.0, 24.0, -1, 2),
        lambda: suspicion_deadline(0.0, 24.0, 4.0, 1, 2),
        lambda: probe_interval_scaled(1.0, -1),
    ],
)
def test_rejects_impossible_inputs(call: object) -> None:
    with pytest.raises(ValueError):
        call()  # type: ignore[operator]


members = st.integers(min_value=0, max_value=100_000)
intervals = st.floats(min_value=0.01, max_value=60.0)


@settings(max_examples=200, deadline=None)
@given(
    low=st.floats(min_value=0.0, max_value=1000.0),
    spread=st.floats(min_value=1.0, max_value=10.0),
    k=st.integers(min_value=0, max_value=20),
    start=st.floats(min_value=0.0, max_value=1e6),
)
def test_deadline_never_rises_and_stays_within_bounds(
    low: float, spread: float, k: int, start: float
) -> None:
    high = low * spread
    deadlines = [suspicion_deadline(start, low, high, c, k) for c in range(k + 3)]
    assert all(later <= earlier for earlier, later in itertools.pairwise(deadlines))
    assert all(start + low <= d <= start + high for d in deadlines)
    assert deadlines[-1] == start + low


@settings(max_examples=200, deadline=None)
@given(
    mult=st.integers(min_value=1, max_value=10), max_mult=st.integers(1, 10), n=members, interval=intervals
)
def test_bounds_grow_with_the_cluster(mult: int, max_mult: int, n: int, interval: float) -> None:
    low, high = suspicion_timeout_bounds(mult, max_mult, n, interval)
    bigger_low, _ = suspicion_timeout_bounds(mult, max_mult, n + 1, interval)
    assert mult * interval <= low <= bigger_low
    assert high == pytest.approx(max_mult * low)


@settings(max_examples=200, deadline=None)
@given(n=members, mult=st.integers(min_value=1, max_value=10))
def test_counts_are_monotone_in_cluster_size(n: int, mult: int) -> None:
    assert retransmit_limit(mult, n) <= retransmit_limit(mult, n + 1)
    assert push_pull_interval(1.0, n) <= push_pull_interval(1.0, n + 1)
    k = expected_confirmations(n, mult)
    assert 0 <= k <= max(0, n - 2)
    assert k in (0, mult - 2)
    assert not math.isnan(push_pull_interval(1.0, n))
