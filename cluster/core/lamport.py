"""A Lamport clock: the version every owner stamps on its replicated state entries.

Versions must order an owner's own writes and must move past anything the owner has seen, so that a write
made after reading a peer's entry carries a larger version than that entry. Each node holds its own clock
object (passed to the cores that need it); there is deliberately no module-level clock, so several nodes can
share one process and tests can start a clock wherever they like.
"""

from __future__ import annotations

__all__ = ["LAMPORT_CEILING", "MAX_TIME", "LamportClock"]

MAX_TIME = 2**63 - 1
"""The largest time a clock may reach: versions travel as signed 64-bit integers on the wire."""

LAMPORT_CEILING = 2**62
"""The highest time a node takes from the wire (`StateGossip._implausible`): a clock caught up to it still
has 2⁶² writes before `MAX_TIME`."""


def _check_time(value: object, what: str) -> int:
    """Refuse what the wire could not carry, so a bad value fails here and not on a peer's decoder."""
    # bool is an int subclass, but True as a timestamp is always a bug.
    if type(value) is not int:
        raise ValueError(f"{what} must be an int, got {type(value).__name__}")
    if not 0 <= value <= MAX_TIME:
        raise ValueError(f"{what} must be within 0..{MAX_TIME}, got {value}")
    return value


class LamportClock:
    """One node's logical clock: `next()` for each local write, `update()` for each received timestamp."""

    __slots__ = ("_current",)

    def __init__(self, start: int = 0) -> None:
        self._current = _check_time(start, "start")

    @property
    def current(self) -> int:
        """The last time handed out or seen; the next local write is stamped above it."""
        return self._current

    def next(self) -> int:
        """Advance and return the new time, to stamp a local event."""
        if self._current >= MAX_TIME:
            raise OverflowError("Lamport clock exhausted the signed 64-bit range")
        self._current += 1
        return self._current

    def update(self, received: int) -> int:
        """Catch up with a timestamp seen on the wire; the following `next()` is then above it."""
        self._current = max(self._current, _check_time(received, "received"))
        return self._current

    def __repr__(self) -> str:
        return f"LamportClock(current={self._current})"
