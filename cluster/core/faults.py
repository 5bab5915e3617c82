"""Injected faults: what a node's transport does to its own traffic when told to (`clusterctl partition`,
`heal`, `loss`, `delay`), after Akka's TestConductor (blackhole, throttle) and memberlist's mock transport.

A plan is a value set through the control port and carried out inside the node:
- **blocked** peers are cut off both ways: no datagram to or from them, and no TCP connection (those open
  are closed, none is dialled or accepted; see `PeeringTable.block`), as a partition that resets
  connections does. Each side of a partition is told, so every connection has a dialler that refuses it.
- **loss** drops that share of the UDP datagrams the node sends. TCP is left alone: a lossy network makes
  TCP retransmit, which is delay, not loss; and a node told 10 % while its peers are too sees 10 % of the
  datagrams between any two of them lost, not 19 %.
- **delay** holds everything the node sends, UDP and TCP, that long before it leaves, in order.

Plans are not persisted: a restarted node starts with none.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from cluster.core.effects import Address

__all__ = ["MAX_DELAY", "FaultPlan", "NetworkFaults", "fault_problem"]

MAX_DELAY = 60.0
"""Seconds: more than any protocol timeout, which is all a test needs to see."""


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """A node's faults by peer name, as the control endpoint keeps and shows them."""

    blocked: frozenset[str] = frozenset()
    loss: float = 0.0
    delay: float = 0.0

    @property
    def active(self) -> bool:
        return bool(self.blocked) or self.loss > 0 or self.delay > 0

    def changed(
        self,
        *,
        blocked: frozenset[str] | None = None,
        loss: float | None = None,
        delay: float | None = None,
    ) -> FaultPlan:
        """This plan with the given parts replaced (None: kept), so `loss` leaves a partition standing."""
        return replace(
            self,
            blocked=self.blocked if blocked is None else blocked,
            loss=self.loss if loss is None else loss,
            delay=self.delay if delay is None else delay,
        )


def fault_problem(loss: float | None, delay: float | None) -> str | None:
    """Why these values cannot be a plan, or None."""
    if loss is not None and not 0.0 <= loss <= 1.0:
        return f"loss must be a share between 0 and 1 (0 % and 100 %), got {loss!r}"
    if delay is not None and not 0.0 <= delay <= MAX_DELAY:
        return f"delay must be between 0 and {MAX_DELAY:g} seconds, got {delay!r}"
    return None


@dataclass(frozen=True, slots=True)
class NetworkFaults:
    """A plan as the I/O thread applies it: blocked peers by address."""

    blocked: frozenset[Address] = frozenset()
    loss: float = 0.0
    delay: float = 0.0

    @property
    def active(self) -> bool:
        return bool(self.blocked) or self.loss > 0 or self.delay > 0

    def datagram_fate(self, address: Address, rng: random.Random) -> float | None:
        """None: the datagram to `address` is dropped; else the seconds it waits before it is sent."""
        if address in self.blocked:
            return None
        if self.loss > 0 and rng.random() < self.loss:
            return None
        return self.delay

    def admits_from(self, address: Address) -> bool:
        """Whether a datagram from `address` is let in."""
        return address not in self.blocked
