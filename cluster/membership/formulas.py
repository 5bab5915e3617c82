"""The numbers of SWIM with Lifeguard, as HashiCorp memberlist computes them.

Each function here is one formula from memberlist, rewritten in our own Python from the facts of its source
(file and function named in each docstring), so that a reader who knows memberlist can check ours line by line
and so that our timings match theirs for the same preset and cluster size. They are pure: no clock, no
randomness, no state; times are float seconds, like the fields of :class:`cluster.layout.presets.Timings`.

``n_members`` is always memberlist's ``estNumNodes()``: every member in the local list, ourselves included
(memberlist keeps dead members in that count until its probe round reaps them).

Where memberlist works in integer nanoseconds (Go's ``time.Duration``) and truncates, we truncate at the same
place, so a table computed from memberlist's tests (``util_test.go``, ``suspicion_test.go``) holds here too.
"""

from __future__ import annotations

import math

__all__ = [
    "PUSH_PULL_SCALE_THRESHOLD",
    "expected_confirmations",
    "probe_interval_scaled",
    "push_pull_interval",
    "suspicion_deadline",
    "suspicion_timeout_bounds",
]

PUSH_PULL_SCALE_THRESHOLD = 32
"""Cluster size up to which the push-pull interval is not stretched.

memberlist ``util.go`` ``pushPullScaleThreshold``.
"""


def _check_members(n_members: int) -> None:
    if n_members < 0:
        raise ValueError(f"n_members must be >= 0, got {n_members}")


def suspicion_timeout_bounds(
    suspicion_mult: int, max_timeout_mult: int, n_members: int, probe_interval: float
) -> tuple[float, float]:
    """The (min, max) suspicion timeouts for a cluster of ``n_members``.

    memberlist ``util.go`` ``suspicionTimeout``: min = suspicion_mult * node_scale * probe_interval with
    node_scale = max(1, log10(max(1, n))), so small clusters get a floor of suspicion_mult intervals and
    large ones grow only logarithmically (gossip reaches everyone in O(log n) rounds). memberlist keeps
    node_scale to three decimals (it multiplies by 1000 and truncates to an integer before scaling the
    Duration), so for n = 50 the scale is 1.698, not 1.69897; we truncate the same way to give memberlist's
    exact values.

    max = max_timeout_mult * min (``state.go`` ``suspectNode``): Lifeguard starts the timer at max and
    shrinks it towards min as independent confirmations arrive (see :func:`suspicion_deadline`).
    """
    _check_members(n_members)
    node_scale = max(1.0, math.log10(max(1, n_members)))
    node_scale = int(node_scale * 1000) / 1000
    minimum = suspicion_mult * node_scale * probe_interval
    return minimum, max_timeout_mult * minimum


def push_pull_interval(base: float, n_members: int) -> float:
    """The full-state push-pull period for a cluster of ``n_members``, stretched as the cluster grows.

    memberlist ``util.go`` ``pushPullScale`` (called each tick from ``state.go`` ``pushPullTrigger``):
    unchanged up to :data:`PUSH_PULL_SCALE_THRESHOLD` (32) members, then
    base * (ceil(log2(n) - log2(32)) + 1), so the 33rd member doubles it and the 65th triples it. Each
    push-pull moves the whole membership over TCP; without the stretch the cluster's total push-pull traffic
    would grow with n squared.
    """
    _check_members(n_members)
    if n_members <= PUSH_PULL_SCALE_THRESHOLD:
        return base
    multiplier = math.ceil(math.log2(n_members) - math.log2(PUSH_PULL_SCALE_THRESHOLD)) + 1
    return multiplier * base


def expected_confirmations(n_members: int, suspicion_mult: int) -> int:
    """Lifeguard's k: independent confirmations that drive a suspicion timer all the way down to min.

    memberlist ``state.go`` ``suspectNode``: k = suspicion_mult - 2 ("we hit the nominal timeout two probe
    intervals short of what we expect given the suspicion multiplier"), but if the cluster cannot supply
    that many confirmers, n - 2 < k (n minus ourselves and the suspect), k is 0: no confirmation is expected
    and the timer runs at min from the start. It is all or nothing: memberlist does not cap k at n - 2.

    memberlist would carry a negative k for suspicion_mult < 2; it behaves exactly like 0 there (the timer
    starts at min and every confirmation is refused), so we return 0.
    """
    _check_members(n_members)
    k = suspicion_mult - 2
    if n_members - 2 < k:
        return 0
    return max(0, k)


def suspicion_deadline(
    start: float, min_timeout: float, max_timeout: float, confirmations: int, expected: int
) -> float:
    """When a suspicion started at ``start`` expires into dead, after ``confirmations`` of ``expected`` (k).

    memberlist ``suspicion.go``:

    - ``newSuspicion``: with k < 1 the timer is min from the start; otherwise it starts at max.
    - ``remainingSuspicionTime`` (used by ``Confirm`` for n >= 1): timeout = max - frac * (max - min) with
      frac = log(n + 1) / log(k + 1), floored to whole milliseconds, and never below min. The log makes the
      first confirmations count most: one independent witness is strong evidence, the tenth adds little.

    The result is the absolute deadline (start + timeout), which is what a pure core hands to its timer
    service; memberlist computes the same thing as "timeout - elapsed" to reset a Go timer.
    """
    if confirmations < 0:
        raise ValueError(f"confirmations must be >= 0, got {confirmations}")
    if not 0 <= min_timeout <= max_timeout:
        raise ValueError(f"need 0 <= min_timeout <= max_timeout, got {min_timeout}, {max_timeout}")
    if expected < 1 or confirmations >= expected:
        return start + min_timeout  # exactly min: the formula gets there too, but rounding may miss it
    if confirmations == 0:
        return start + max_timeout
    frac = math.log(confirmations + 1) / math.log(expected + 1)
    raw = max_timeout - frac * (max_timeout - min_timeout)
    timeout = math.floor(1000.0 * raw) / 1000.0
    return start + max(min_timeout, timeout)


def probe_interval_scaled(interval: float, health_score: int) -> float:
    """Our own probe interval stretched by Lifeguard's local health score.

    memberlist ``awareness.go`` ``ScaleTimeout``: timeout * (score + 1), applied in ``state.go`` ``probeNode``
    to the probe interval (the ack deadline and the indirect/TCP wait), so a node that is itself slow waits
    longer before accusing others. memberlist deliberately does not scale the probe timeout: waiting longer
    for a direct UDP ack does not help, the extra time goes to the indirect probes.
    """
    if health_score < 0:
        raise ValueError(f"health_score must be >= 0, got {health_score}")
    return interval * (health_score + 1)
