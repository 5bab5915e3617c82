"""Timing presets: memberlist's values, and every way an override can be refused."""

from __future__ import annotations

import dataclasses
import math
import pickle

import pytest

from cluster.layout.presets import (
    DEFAULT_PRESET,
    PRESETS,
    Timings,
    TimingsError,
    timings_for,
    timings_problems,
)

# name: (probe_interval, probe_timeout, gossip_interval, gossip_nodes, suspicion_mult, retransmit_mult,
#        push_pull_interval, indirect_checks, connect_retry_min, connect_retry_max, handshake_timeout)
EXPECTED = {
    "lan": (1.0, 0.5, 0.2, 3, 4, 4, 30.0, 3, 0.1, 2.0, 5.0),
    "wan": (5.0, 3.0, 0.5, 4, 6, 4, 60.0, 3, 0.5, 10.0, 10.0),
    "local": (1.0, 0.2, 0.1, 3, 3, 2, 15.0, 1, 0.05, 1.0, 2.0),
    "fast": (0.2, 0.08, 0.05, 3, 3, 2, 5.0, 1, 0.05, 1.0, 2.0),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_preset_values(name: str) -> None:
    t = PRESETS[name]
    got = (
        t.probe_interval,
        t.probe_timeout,
        t.gossip_interval,
        t.gossip_nodes,
        t.suspicion_mult,
        t.retransmit_mult,
        t.push_pull_interval,
        t.indirect_checks,
        t.connect_retry_min,
        t.connect_retry_max,
        t.handshake_timeout,
    )
    assert got == EXPECTED[name]
    assert (t.suspicion_max_timeout_mult, t.awareness_max_multiplier) == (6, 8)
    assert (t.udp_buffer_size, t.max_frame_size, t.meta_max_size) == (1400, 4 * 1024 * 1024, 512)


def test_preset_names_and_default() -> None:
    assert set(PRESETS) == {"lan", "wan", "local", "fast"}
    assert DEFAULT_PRESET == "local"


def test_no_overrides_gives_the_preset() -> None:
    assert timings_for("wan", {}) == PRESETS["wan"]
    assert timings_for("wan") == PRESETS["wan"]


def test_overrides_are_applied_and_ints_become_floats() -> None:
    t = timings_for("local", {"probe_interval": 2, "gossip_nodes": 5, "udp_buffer_size": 9000})
    assert t.probe_interval == 2.0 and isinstance(t.probe_interval, float)
    assert (t.gossip_nodes, t.udp_buffer_size) == (5, 9000)
    assert t.probe_timeout == PRESETS["local"].probe_timeout
    assert timings_for("local", {"probe_interval": 2}) == timings_for("local", {"probe_interval": 2.0})


def test_timings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        PRESETS["lan"].probe_interval = 3.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("preset", "overrides", "field", "fragment"),
    [
        ("lans", {}, "preset", "unknown preset 'lans'"),
        ("local", {"probe_intervall": 1.0}, "probe_intervall", "did you mean 'probe_interval'"),
        ("local", {"colour": 1}, "colour", "unknown timing 'colour'"),
        ("local", {"gossip_nodes": True}, "gossip_nodes", "must be an integer, got bool"),
        ("local", {"probe_interval": False}, "probe_interval", "must be a number of seconds, got bool"),
        ("local", {"probe_interval": "1s"}, "probe_interval", "must be a number of seconds, got str"),
        ("local", {"probe_interval": None}, "probe_interval", "got NoneType"),
        ("local", {"gossip_nodes": 3.0}, "gossip_nodes", "must be an integer, got 3.0"),
        ("local", {"gossip_nodes": 0}, "gossip_nodes", "must be greater than 0, got 0"),
        ("local", {"gossip_interval": -0.1}, "gossip_interval", "must be greater than 0, got -0.1"),
        ("local", {"gossip_interval": 0.0}, "gossip_interval", "must be greater than 0"),
        ("local", {"push_pull_interval": math.inf}, "push_pull_interval", "must be a finite number"),
        ("local", {"push_pull_interval": math.nan}, "push_pull_interval", "must be a finite number"),
        ("local", {"probe_timeout": 1.0}, "probe_timeout", "must be less than probe_interval 1.0"),
        ("fast", {"probe_interval": 0.05}, "probe_interval", "probe_timeout 0.08 must be less than"),
        ("fast", {"probe_interval": 0.1, "probe_timeout": 0.1}, "probe_timeout", "must be less than"),
        ("lan", {"connect_retry_min": 3.0}, "connect_retry_min", "must not exceed connect_retry_max 2.0"),
        ("lan", {"connect_retry_max": 0.01}, "connect_retry_max", "must not exceed connect_retry_max 0.01"),
    ],
)
def test_bad_override(preset: str, overrides: dict[str, object], field: str, fragment: str) -> None:
    with pytest.raises(TimingsError) as caught:
        timings_for(preset, overrides)
    assert caught.value.field == field
    assert fragment in caught.value.message
    assert isinstance(caught.value, ValueError)
    assert str(caught.value) == f"{field}: {caught.value.message}"


def test_equal_bounds_are_allowed() -> None:
    t = timings_for("lan", {"connect_retry_min": 1.0, "connect_retry_max": 1.0})
    assert t.connect_retry_min == t.connect_retry_max == 1.0


def test_problems_are_all_collected() -> None:
    problems = timings_problems("nope", {"gossip_nodes": 0, "typo": 1, "probe_timeout": "x"})
    assert [p.field for p in problems] == ["preset", "gossip_nodes", "typo", "probe_timeout"]


def test_cross_field_checks_wait_for_good_fields() -> None:
    # A bad probe_interval must not also be blamed on probe_timeout.
    problems = timings_problems("local", {"probe_interval": -1})
    assert [p.field for p in problems] == ["probe_interval"]


def test_valid_overrides_have_no_problems() -> None:
    assert timings_problems("local", {"probe_interval": 0.5}) == ()


def test_direct_construction_is_checked() -> None:
    with pytest.raises(TimingsError, match="probe_timeout"):
        dataclasses.replace(PRESETS["lan"], probe_timeout=5.0)
    with pytest.raises(TimingsError, match="gossip_nodes"):
        dataclasses.replace(PRESETS["lan"], gossip_nodes=-1)


def test_timings_error_pickles() -> None:
    error = pickle.loads(pickle.dumps(TimingsError("probe_interval", "must be > 0")))
    assert (error.field, error.message) == ("probe_interval", "must be > 0")


def test_timings_fields_are_the_documented_set() -> None:
    names = [f.name for f in dataclasses.fields(Timings)]
    assert names == [
        "probe_interval",
        "probe_timeout",
        "gossip_interval",
        "gossip_nodes",
        "suspicion_mult",
        "suspicion_max_timeout_mult",
        "retransmit_mult",
        "push_pull_interval",
        "indirect_checks",
        "awareness_max_multiplier",
        "udp_buffer_size",
        "max_frame_size",
        "connect_retry_min",
        "connect_retry_max",
        "handshake_timeout",
        "meta_max_size",
        "unreachable_suspicion_timeout",
        "state_sync_interval",
        "state_push_nodes",
        "tombstone_grace",
        "dead_owner_grace",
    ]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_unreachable_suspicion_lasts_one_probe_interval(name: str) -> None:
    t = PRESETS[name]
    assert t.unreachable_suspicion_timeout == t.probe_interval
