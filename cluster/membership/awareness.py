"""Lifeguard's local health awareness: how much to distrust our own timing.

A node that is itself slow (CPU starved, GC pauses, a full socket buffer) misses acks and would accuse healthy
peers. Lifeguard has it keep a score of evidence that the fault is local and stretch its own probe interval
by (score + 1), so it accuses more slowly while it is unwell. This is memberlist's ``awareness.go`` as an
immutable value, with the deltas memberlist applies and where it applies them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from cluster.membership.formulas import probe_interval_scaled

__all__ = [
    "FAILED_PROBE",
    "MISSED_NACK",
    "REFUTED",
    "SUCCESSFUL_PROBE",
    "Awareness",
    "failed_probe_delta",
]

SUCCESSFUL_PROBE = -1
"""A probe that got an ack, directly, through ping-req or over the TCP fallback: we are keeping up.

memberlist ``state.go`` ``probeNode`` sets this delta as soon as the ping is sent; every later success path
returns with it, so the score recovers by one per successful probe.
"""

FAILED_PROBE = 1
"""A probe that failed when no ping-req helper was expected to nack (none asked, or none that can nack).

memberlist ``state.go`` ``probeNode``: without nacks it cannot tell whose fault the failure is, so any failed
probe counts as a small mark against our own health.
"""

MISSED_NACK = 1
"""Per ping-req helper whose nack did not arrive before the probe gave up.

memberlist ``state.go`` ``probeNode``: a helper nacks when the target does not answer it, so a missing nack
means we did not hear a peer we believe healthy, evidence that the problem is ours rather than the target's.
When every expected nack arrives the failure was the target's and the score is unchanged.
"""

REFUTED = 1
"""We had to refute a suspect or dead message about ourselves.

memberlist ``state.go`` ``refute`` (called from ``suspectNode`` and ``deadNode`` when the message is about
us): others could not hear us in time, which most often means we were slow.
"""


def failed_probe_delta(expected_nacks: int, received_nacks: int) -> int:
    """The awareness delta of a probe that ended with no ack, as memberlist's ``state.go`` ``probeNode``.

    With helpers expected to nack: :data:`MISSED_NACK` for each nack that did not come (0 if all came).
    Without: :data:`FAILED_PROBE`.
    """
    if expected_nacks < 0 or received_nacks < 0:
        raise ValueError(f"nack counts must be >= 0, got {expected_nacks}, {received_nacks}")
    if expected_nacks == 0:
        return FAILED_PROBE
    return MISSED_NACK * max(0, expected_nacks - received_nacks)


@dataclass(frozen=True)
class Awareness:
    """The local health score, 0 (healthy) to ``max_multiplier - 1``, as memberlist's ``awareness``.

    ``max_multiplier`` is the preset's ``awareness_max_multiplier`` (8 in memberlist's defaults): the score is
    kept below it, so the probe interval is stretched at most ``max_multiplier`` times. ``score`` is what
    memberlist's ``GetHealthScore`` reports.
    """

    max_multiplier: int
    score: int = 0

    def __post_init__(self) -> None:
        if self.max_multiplier < 1:
            raise ValueError(f"max_multiplier must be >= 1, got {self.max_multiplier}")
        if not 0 <= self.score < self.max_multiplier:
            raise ValueError(f"score must be within 0..{self.max_multiplier - 1}, got {self.score}")

    def apply(self, delta: int) -> Awareness:
        """The score after ``delta``, held within 0..max_multiplier - 1 (memberlist ``ApplyDelta``).

        A delta at either rail is absorbed, not remembered: a long healthy run does not bank credit against a
        later bad spell, and a long bad spell recovers in at most max_multiplier - 1 successful probes.
        """
        score = min(max(self.score + delta, 0), self.max_multiplier - 1)
        if score == self.score:
            return self
        return dataclasses.replace(self, score=score)

    def scale(self, timeout: float) -> float:
        """``timeout`` stretched by the score (memberlist ``ScaleTimeout``): timeout * (score + 1)."""
        return probe_interval_scaled(timeout, self.score)
