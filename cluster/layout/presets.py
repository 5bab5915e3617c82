"""Timing presets for membership, gossip and the transport.

The SWIM numbers are HashiCorp memberlist's, taken from ``DefaultLANConfig``, ``DefaultWANConfig`` and
``DefaultLocalConfig`` in its ``config.go``: they are tuned by years of production use, and matching them lets
anyone who knows memberlist read our behaviour off the preset name. ``fast`` is ours, for tests and demos that
must see a failure detected in well under a second.

A layout names a preset and may override single values; :func:`timings_for` is the one place that checks those
overrides, so that a typo in a layout is reported instead of silently running with a default.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from cluster.layout.located_yaml import suggest

__all__ = [
    "DEFAULT_PRESET",
    "PRESETS",
    "Timings",
    "TimingsError",
    "timings_for",
    "timings_problems",
]


class TimingsError(ValueError):
    """One bad timing value, named by field so a layout can point at the line that set it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True, kw_only=True)
class Timings:
    """Every tunable delay, multiplier and size of a node, in seconds, counts and bytes.

    Values are checked on construction (positive, right type, probe timeout below the probe interval, retry
    bounds in order), so a ``Timings`` that exists can be trusted by the cores without re-checking.

    Fields, with memberlist's name where there is one:

    - ``probe_interval`` (ProbeInterval): one failure-detection round; the cost of detection is one probe per
      node per interval.
    - ``probe_timeout`` (ProbeTimeout): wait for a direct ack before asking others; about the 99th-percentile
      round trip, so it must be shorter than the interval.
    - ``gossip_interval``, ``gossip_nodes`` (GossipInterval, GossipNodes): how often and to how many peers
      queued updates are pushed; faster spreads news sooner at the cost of packets.
    - ``suspicion_mult``, ``suspicion_max_timeout_mult`` (SuspicionMult, SuspicionMaxTimeoutMult): scale the
      Lifeguard suspicion timeout by log(n) probe intervals, starting at max and shrinking with confirmations.
    - ``retransmit_mult`` (RetransmitMult): each update is sent retransmit_mult * ceil(log10(n + 1)) times.
    - ``push_pull_interval`` (PushPullInterval): full state exchange over TCP, repairing what gossip lost.
    - ``indirect_checks`` (IndirectChecks): peers asked to ping-req a silent member before suspecting it.
    - ``awareness_max_multiplier`` (AwarenessMaxMultiplier): Lifeguard's cap on stretching our own probe
      interval when we are the slow one.
    - ``udp_buffer_size`` (UDPBufferSize): largest datagram; 1400 stays under a typical 1500-byte MTU.
    - ``max_frame_size``: hard limit of one TCP frame, so a peer cannot make us buffer without bound.
    - ``connect_retry_min``, ``connect_retry_max``: bounds of the exponential reconnect backoff.
    - ``handshake_timeout``: how long a TCP connection may stay without a valid hello.
    - ``meta_max_size`` (MetaMaxSize): largest node metadata blob carried in membership messages.
    - ``state_sync_interval`` (ours): replicated state's anti-entropy with one random member; between
      exchanges, writes travel by push and infection-style forwarding, and a node that sees a gap syncs
      at the gossip pace, so this bounds only the repair of silent losses. It is most of an idle node's
      state traffic (lan: 10 s; memberlist's push-pull is 30 s).
    - ``state_push_nodes`` (ours): how many members a node's own fresh write is pushed to at once, before
      any gossip (news it receives goes on to ``gossip_nodes``). Up to this many members, a write reaches
      everyone in one hop; beyond, the infection carries it on.
    - ``tombstone_grace`` (ours): how long a delete's tombstone is kept before it is collected; a replica
      that was away longer gets a snapshot instead of the delete (see ``cluster.state.store``).
    - ``dead_owner_grace`` (ours): how long a failed member's replicated entries are kept (a false alarm
      refuted within it loses nothing) before they are dropped and its life quarantined.
    - ``unreachable_suspicion_timeout`` (ours): the suspicion timeout of a member whose address answered
      "port unreachable" after our probe of it failed. Nothing listens there, so no refutation can come
      from that process; the time left is for a process at the same id to speak up. One probe interval.
    """

    probe_interval: float
    probe_timeout: float
    gossip_interval: float
    gossip_nodes: int
    suspicion_mult: int
    suspicion_max_timeout_mult: int
    retransmit_mult: int
    push_pull_interval: float
    indirect_checks: int
    awareness_max_multiplier: int
    udp_buffer_size: int = 1400
    max_frame_size: int = 4 * 1024 * 1024
    connect_retry_min: float
    connect_retry_max: float
    handshake_timeout: float
    meta_max_size: int = 512
    unreachable_suspicion_timeout: float
    state_sync_interval: float
    state_push_nodes: int
    tombstone_grace: float
    dead_owner_grace: float

    def __post_init__(self) -> None:
        for name in _KINDS:
            value, error = _check_field(name, getattr(self, name))
            if error is not None:
                raise error
            # Ints given for float fields become floats, so equal timings compare and digest equal.
            object.__setattr__(self, name, value)
        errors = _cross_field_problems(dataclasses.asdict(self))
        if errors:
            raise errors[0]


_KINDS: Mapping[str, type] = MappingProxyType(
    {f.name: float if f.type in (float, "float") else int for f in dataclasses.fields(Timings)}
)


def _merged(base: Timings, overrides: Mapping[str, object]) -> Mapping[str, Any]:
    """A plain view of base plus overrides: cross-field checks must not construct (and so raise) early."""
    return {**dataclasses.asdict(base), **overrides}


def _check_field(name: str, value: object) -> tuple[object, TimingsError | None]:
    """Normalize one value to its field's type, or say why it cannot be.

    ``bool`` is refused although it is an ``int`` subclass: ``retransmit_mult: true`` in YAML is a mistake.
    """
    kind = _KINDS[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        wanted = "a number of seconds" if kind is float else "an integer"
        return value, TimingsError(name, f"must be {wanted}, got {type(value).__name__} {value!r}")
    if kind is int and not isinstance(value, int):
        return value, TimingsError(name, f"must be an integer, got {value!r}")
    if kind is float and not math.isfinite(value):
        return value, TimingsError(name, f"must be a finite number, got {value!r}")
    if value <= 0:
        return value, TimingsError(name, f"must be greater than 0, got {value!r}")
    return kind(value), None


def _cross_field_problems(values: Mapping[str, Any], changed: Collection[str] = ()) -> list[TimingsError]:
    """Relations between fields that single-field checks cannot see.

    Each problem is named after the field the caller changed, when only one of the pair was, so that a layout
    that set ``probe_interval`` too low is pointed at that line rather than at the preset's probe_timeout.
    """
    errors = []
    timeout, interval = values["probe_timeout"], values["probe_interval"]
    if timeout >= interval:
        # A probe round must be over (acked or escalated to ping-req) before the next one starts.
        message = f"probe_timeout {timeout} must be less than probe_interval {interval}"
        errors.append(TimingsError(_blame("probe_timeout", "probe_interval", changed), message))
    low, high = values["connect_retry_min"], values["connect_retry_max"]
    if low > high:
        message = f"connect_retry_min {low} must not exceed connect_retry_max {high}"
        errors.append(TimingsError(_blame("connect_retry_min", "connect_retry_max", changed), message))
    return errors


def _blame(first: str, second: str, changed: Collection[str]) -> str:
    return second if second in changed and first not in changed else first


DEFAULT_PRESET = "local"
"""The preset a layout gets when it names none: layouts are usually run on one machine."""

_LAN = Timings(
    probe_interval=1.0,
    probe_timeout=0.5,
    gossip_interval=0.2,
    gossip_nodes=3,
    suspicion_mult=4,
    suspicion_max_timeout_mult=6,
    retransmit_mult=4,
    push_pull_interval=30.0,
    indirect_checks=3,
    awareness_max_multiplier=8,
    connect_retry_min=0.1,
    connect_retry_max=2.0,
    handshake_timeout=5.0,
    unreachable_suspicion_timeout=1.0,
    state_sync_interval=10.0,
    state_push_nodes=32,
    tombstone_grace=300.0,
    dead_owner_grace=120.0,
)

PRESETS: Mapping[str, Timings] = MappingProxyType(
    {
        # memberlist DefaultLANConfig: the baseline the other presets are expressed against.
        "lan": _LAN,
        # memberlist DefaultWANConfig: slower probes, longer suspicion: real-world latency and loss.
        "wan": dataclasses.replace(
            _LAN,
            probe_interval=5.0,
            probe_timeout=3.0,
            gossip_interval=0.5,
            gossip_nodes=4,
            suspicion_mult=6,
            push_pull_interval=60.0,
            connect_retry_min=0.5,
            connect_retry_max=10.0,
            handshake_timeout=10.0,
            unreachable_suspicion_timeout=5.0,
            state_sync_interval=20.0,
            state_push_nodes=16,
            tombstone_grace=600.0,
            dead_owner_grace=300.0,
        ),
        # memberlist DefaultLocalConfig: loopback is fast and lossless; fewer checks and retransmits do.
        "local": dataclasses.replace(
            _LAN,
            probe_timeout=0.2,
            gossip_interval=0.1,
            suspicion_mult=3,
            retransmit_mult=2,
            push_pull_interval=15.0,
            indirect_checks=1,
            connect_retry_min=0.05,
            connect_retry_max=1.0,
            handshake_timeout=2.0,
            state_sync_interval=5.0,
            tombstone_grace=60.0,
            dead_owner_grace=30.0,
        ),
        # Ours: local's shape at five times the probe rate, so tests see a crash detected in about a second.
        "fast": dataclasses.replace(
            _LAN,
            probe_interval=0.2,
            probe_timeout=0.08,
            gossip_interval=0.05,
            suspicion_mult=3,
            retransmit_mult=2,
            push_pull_interval=5.0,
            indirect_checks=1,
            connect_retry_min=0.05,
            connect_retry_max=1.0,
            handshake_timeout=2.0,
            unreachable_suspicion_timeout=0.2,
            state_sync_interval=0.5,
            tombstone_grace=10.0,
            dead_owner_grace=5.0,
        ),
    }
)


_NO_OVERRIDES: Mapping[str, object] = MappingProxyType({})


def timings_for(preset: str, overrides: Mapping[str, object] = _NO_OVERRIDES) -> Timings:
    """The preset's timings with ``overrides`` applied; raises the first :class:`TimingsError` found.

    Callers that want every problem at once (the layout loader) use :func:`timings_problems`.
    """
    errors = timings_problems(preset, overrides)
    if errors:
        raise errors[0]
    normalized = {name: _check_field(name, value)[0] for name, value in overrides.items()}
    return dataclasses.replace(PRESETS[preset], **normalized)  # type: ignore[arg-type]  # checked above


def timings_problems(preset: str, overrides: Mapping[str, object]) -> tuple[TimingsError, ...]:
    """Every problem with ``preset`` and ``overrides``, in override order; empty when they are valid.

    Field checks run even when the preset is unknown, so one pass reports everything; the checks that relate
    two fields run only when both values are known to be good, to avoid reporting consequences of one mistake.
    """
    errors: list[TimingsError] = []
    if not isinstance(preset, str) or preset not in PRESETS:
        known = ", ".join(sorted(PRESETS))
        errors.append(TimingsError("preset", f"unknown preset {preset!r}; known: {known}"))
    normalized: dict[str, object] = {}
    for name, value in overrides.items():
        if name not in _KINDS:
            errors.append(TimingsError(name, f"unknown timing {name!r}{suggest(name, _KINDS)}"))
            continue
        good, error = _check_field(name, value)
        if error is None:
            normalized[name] = good
        else:
            errors.append(error)
    if not errors:
        errors.extend(_cross_field_problems(_merged(PRESETS[preset], normalized), normalized))
    return tuple(errors)
