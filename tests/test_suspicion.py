"""The Suspicion value: its deadline shrinks with independent confirmations, never below min."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.layout.presets import PRESETS
from cluster.membership.suspicion import Suspicion


def preset_suspicion(
    preset: str,
    *,
    n_members: int = 10,
    now: float = 100.0,
    member: str = "b",
    incarnation: int = 3,
    accuser: str = "a",
) -> Suspicion:
    t = PRESETS[preset]
    return Suspicion.begin(
        member=member,
        incarnation=incarnation,
        accuser=accuser,
        now=now,
        n_members=n_members,
        probe_interval=t.probe_interval,
        suspicion_mult=t.suspicion_mult,
        suspicion_max_timeout_mult=t.suspicion_max_timeout_mult,
    )


def lan_suspicion(n_members: int = 10, now: float = 100.0) -> Suspicion:
    return preset_suspicion("lan", n_members=n_members, now=now)


def test_begin_sizes_the_timer_for_the_cluster() -> None:
    s = lan_suspicion()
    # lan, n = 10: min 4 x 1 x 1 s = 4 s, max 6 x 4 = 24 s, k = 4 - 2 = 2 (10 - 2 >= 2).
    assert (s.min_timeout, s.max_timeout, s.expected) == (4.0, 24.0, 2)
    assert s.confirmers == frozenset({"a"})
    assert s.confirmations == 0
    assert s.deadline == 124.0


# Each row: who confirms next, whether it counts, confirmations after it, deadline after it.
# lan n = 10, start 100: timeout 24 -> 24 - (ln 2 / ln 3) x 20 = 11.381 -> 4 (min) at k = 2.
LAN_STEPS = [
    ("a", False, 0, 124.0),  # the accuser does not confirm its own accusation
    ("c", True, 1, 111.381),  # first independent confirmation
    ("c", False, 1, 111.381),  # duplicate: no effect
    ("a", False, 1, 111.381),
    ("d", True, 2, 104.0),  # k reached: min
    ("e", False, 2, 104.0),  # memberlist stops counting at k
]


def test_confirmations_shrink_the_deadline_step_by_step() -> None:
    s = lan_suspicion()
    for by, counted, confirmations, deadline in LAN_STEPS:
        s, new = s.confirm(by)
        assert (by, new, s.confirmations, s.deadline) == (by, counted, confirmations, pytest.approx(deadline))


# wan, n = 10: min 6 x 1 x 5 s = 30 s, max 180 s, k = 4; start 0.
WAN_TABLE = [
    (0, 180.0),
    (1, 115.398),  # 180 - (ln 2 / ln 5) x 150 = 115.3985
    (2, 77.609),  # 180 - (ln 3 / ln 5) x 150 = 77.6091
    (3, 50.797),  # 180 - (ln 4 / ln 5) x 150 = 50.7970
    (4, 30.0),
]


@pytest.mark.parametrize(("confirmations", "deadline"), WAN_TABLE)
def test_wan_deadline_table(confirmations: int, deadline: float) -> None:
    s = preset_suspicion("wan", now=0.0, member="x", incarnation=1, accuser="me")
    for i in range(confirmations):
        s, counted = s.confirm(f"peer-{i}")
        assert counted
    assert s.deadline == pytest.approx(deadline)


@pytest.mark.parametrize("preset", ["local", "fast"])
def test_one_confirmation_is_enough_on_local_presets(preset: str) -> None:
    s = preset_suspicion(preset, now=0.0, member="x", incarnation=1, accuser="me")
    # suspicion_mult 3: k = 1, so max (6 x min) until one peer agrees, then min.
    assert s.expected == 1
    assert s.deadline == pytest.approx(6 * s.min_timeout)
    s, counted = s.confirm("peer")
    assert counted
    assert s.deadline == pytest.approx(s.min_timeout)


def test_small_cluster_expects_nothing_and_runs_at_min() -> None:
    s = lan_suspicion(n_members=3)  # 3 - 2 = 1 < 2: k = 0
    assert s.expected == 0
    assert s.deadline == 104.0
    after, counted = s.confirm("c")
    assert not counted
    assert after is s


def test_expired() -> None:
    s = lan_suspicion()
    assert not s.expired(123.999)
    assert s.expired(124.0)
    s, _ = s.confirm("c")
    assert s.expired(111.381)


def test_is_an_immutable_value() -> None:
    s = lan_suspicion()
    after, _ = s.confirm("c")
    assert s.confirmations == 0
    assert after.confirmations == 1
    with pytest.raises(AttributeError):
        s.start = 0.0  # type: ignore[misc]
    assert after == lan_suspicion().confirm("c")[0]


def test_accuser_is_added_to_confirmers() -> None:
    s = Suspicion(
        member="b", incarnation=1, start=0.0, min_timeout=4.0, max_timeout=24.0, expected=2, accuser="a"
    )
    assert s.confirmers == frozenset({"a"})


@pytest.mark.parametrize(
    "changes",
    [
        {"min_timeout": 30.0},  # above max
        {"min_timeout": -1.0},
        {"expected": -1},
        {"confirmers": frozenset({"c", "d", "e"})},  # three confirmations, k = 2
    ],
)
def test_rejects_inconsistent_values(changes: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "member": "b",
        "incarnation": 1,
        "start": 0.0,
        "min_timeout": 4.0,
        "max_timeout": 24.0,
        "expected": 2,
        "accuser": "a",
    }
    with pytest.raises(ValueError):
        Suspicion(**{**fields, **changes})  # type: ignore[arg-type]


peers = st.sampled_from(["a", "b", "c", "d", "e", "f", "g", "h"])


@settings(max_examples=200, deadline=None)
@given(
    confirmers=st.lists(peers, max_size=20),
    n_members=st.integers(min_value=0, max_value=2000),
    mult=st.integers(min_value=1, max_value=8),
    max_mult=st.integers(min_value=1, max_value=8),
    interval=st.floats(min_value=0.05, max_value=10.0),
    now=st.floats(min_value=0.0, max_value=1e6),
)
def test_deadline_never_rises_and_stays_within_bounds(
    confirmers: list[str], n_members: int, mult: int, max_mult: int, interval: float, now: float
) -> None:
    s = Suspicion.begin(
        member="target",
        incarnation=0,
        accuser="a",
        now=now,
        n_members=n_members,
        probe_interval=interval,
        suspicion_mult=mult,
        suspicion_max_timeout_mult=max_mult,
    )
    low, high = now + s.min_timeout, now + s.max_timeout
    counted_peers = set()
    for by in confirmers:
        before = s.deadline
        s, counted = s.confirm(by)
        if counted:
            counted_peers.add(by)
        assert s.deadline <= before
        assert low <= s.deadline <= high
        assert s.confirmations <= s.expected
    assert "a" not in counted_peers
    assert s.confirmations == len(counted_peers)
    if s.confirmations == s.expected:
        assert s.deadline == low


@pytest.mark.parametrize(
    ("cuts", "deadline"),
    [
        ((), None),  # the formula's
        ((101.0,), 101.0),
        ((101.0, 103.0), 101.0),  # an earlier cut stands
        ((103.0, 101.0), 101.0),
        ((10_000.0,), None),  # a cut past the formula changes nothing
    ],
)
def test_a_cut_caps_the_deadline(cuts: tuple[float, ...], deadline: float | None) -> None:
    suspicion = preset_suspicion("lan")
    formula = suspicion.deadline
    for at in cuts:
        suspicion = suspicion.cut(at)
    assert suspicion.deadline == (formula if deadline is None else deadline)
    confirmed, _ = suspicion.confirm("c")
    assert confirmed.deadline <= suspicion.deadline
