"""One Lifeguard suspicion timer as an immutable value.

memberlist keeps a ``suspicion`` object per suspect member (``suspicion.go``) holding a Go timer, a mutex-free
counter and a map of confirmers. Here the same facts are a frozen value: the membership core stores it, asks
for its :attr:`Suspicion.deadline` to set a timer, and replaces it with the value :meth:`Suspicion.confirm`
returns. No clock is read: the start time is given, and the deadline is absolute.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from cluster.membership.formulas import expected_confirmations, suspicion_deadline, suspicion_timeout_bounds

__all__ = ["Suspicion"]


@dataclass(frozen=True, kw_only=True)
class Suspicion:
    """What we know about one suspicion of ``member`` at ``incarnation``.

    - ``start``: when we began suspecting it (our time, seconds).
    - ``min_timeout``, ``max_timeout``: Lifeguard's bounds
      (:func:`~cluster.membership.formulas.suspicion_timeout_bounds`).
    - ``expected``: k, the confirmations that bring the timeout down to min
      (:func:`~cluster.membership.formulas.expected_confirmations`).
    - ``accuser``: who raised the suspicion we first heard (ourselves when our own probe failed); the
      ``by`` of the ``member_suspect`` event.
    - ``confirmers``: everyone whose suspect message has been counted, the accuser included. As in
      memberlist's ``newSuspicion``, the accuser is entered first and is not a confirmation: our own
      accusation gossiped back to us must not shrink our own timer. The accuser is added if left out.
    - ``cut_at``: an absolute deadline that caps the formula's, set when the suspect's port answered
      "unreachable" (no process listens there; see ``Membership.port_unreachable``). Confirmations can
      only bring the deadline further forward, never past the cut.
    """

    member: str
    incarnation: int
    start: float
    min_timeout: float
    max_timeout: float
    expected: int
    accuser: str
    confirmers: frozenset[str] = frozenset()
    cut_at: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.min_timeout <= self.max_timeout:
            raise ValueError(
                f"need 0 <= min_timeout <= max_timeout, got {self.min_timeout}, {self.max_timeout}"
            )
        if self.expected < 0:
            raise ValueError(f"expected confirmations must be >= 0, got {self.expected}")
        confirmers = frozenset(self.confirmers) | {self.accuser}
        object.__setattr__(self, "confirmers", confirmers)
        if self.confirmations > self.expected:
            # memberlist's Confirm stops counting at k; more would mean the value was built by hand wrongly.
            raise ValueError(f"{self.confirmations} confirmations exceed the expected {self.expected}")

    @classmethod
    def begin(
        cls,
        *,
        member: str,
        incarnation: int,
        accuser: str,
        now: float,
        n_members: int,
        probe_interval: float,
        suspicion_mult: int,
        suspicion_max_timeout_mult: int,
    ) -> Suspicion:
        """A new suspicion sized for the cluster as it is now (memberlist ``state.go`` ``suspectNode``).

        The bounds and k are fixed when the suspicion starts (memberlist reads ``estNumNodes()`` once there);
        a cluster that grows or shrinks during the suspicion does not move its deadline.
        """
        min_timeout, max_timeout = suspicion_timeout_bounds(
            suspicion_mult, suspicion_max_timeout_mult, n_members, probe_interval
        )
        return cls(
            member=member,
            incarnation=incarnation,
            start=now,
            min_timeout=min_timeout,
            max_timeout=max_timeout,
            expected=expected_confirmations(n_members, suspicion_mult),
            accuser=accuser,
        )

    @property
    def confirmations(self) -> int:
        """Independent confirmations counted so far (the accuser is not one)."""
        return len(self.confirmers) - 1

    @property
    def deadline(self) -> float:
        """When the suspect is declared dead unless it refutes first.

        See :func:`~cluster.membership.formulas.suspicion_deadline`.
        """
        formula = suspicion_deadline(
            self.start, self.min_timeout, self.max_timeout, self.confirmations, self.expected
        )
        return formula if self.cut_at is None else min(formula, self.cut_at)

    def cut(self, at: float) -> Suspicion:
        """The same suspicion, ending no later than ``at`` (an earlier cut stands)."""
        if self.cut_at is not None and self.cut_at <= at:
            return self
        return dataclasses.replace(self, cut_at=at)

    def expired(self, now: float) -> bool:
        """Whether the deadline has been reached at ``now``."""
        return now >= self.deadline

    def confirm(self, by: str) -> tuple[Suspicion, bool]:
        """Count ``by``'s suspect message about the same member; returns the new value and whether it counted.

        As memberlist's ``suspicion.go`` ``Confirm``: nothing counts once k confirmations are in (the timer
        is already at min), and each peer counts once, the accuser never. The flag is what memberlist uses to
        decide whether to re-gossip the suspect message, so a confirmation that changes nothing is not
        re-spread.
        """
        if self.confirmations >= self.expected or by in self.confirmers:
            return self, False
        return dataclasses.replace(self, confirmers=self.confirmers | {by}), True
