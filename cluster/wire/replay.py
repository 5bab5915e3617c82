"""Replay protection for sealed traffic: a sliding window of sequence numbers per sender epoch.

memberlist seals every packet but takes a captured one again whenever it is replayed, so anyone on the
path can repeat a suspicion or a write at will. Here each sealed packet carries its sender's epoch (a
random 64-bit number drawn once per life, and again whenever its counter would wrap) and a counter
(`cluster.wire.seal`); a receiver keeps, per epoch, the highest counter seen and a bitmap of the
`WINDOW` below it, as IPsec's anti-replay window does (RFC 4303 §3.4.3). A counter at or below the window,
or one already marked in it, is a replay. Datagrams may arrive out of order within the window.

The windows are bounded (`max_epochs`, least recently used first out), so a flood of forged epochs costs a
bounded amount of memory; what that gives up is named in `ReplayGuard`. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["WINDOW", "ReplayGuard"]

WINDOW = 64
"""Counters below the highest seen that are still told apart (reordered datagrams within it are taken)."""


class ReplayGuard:
    """Per-epoch anti-replay windows.

    What it cannot catch: a replay of an epoch it no longer holds, because the epoch was pushed out by
    `max_epochs` newer ones or this receiver restarted since. Sized at a few times the cluster's nodes,
    only an active flood of epochs (which must each be sealed with the cluster key) pushes a live sender
    out; and a restarted receiver has lost the windows but not the stale-news rules above the seal
    (incarnations, Lamport versions), which a replayed old packet meets like any stale one."""

    __slots__ = ("_max_epochs", "_windows")

    def __init__(self, max_epochs: int) -> None:
        if max_epochs < 1:
            raise ValueError(f"max_epochs must be >= 1, got {max_epochs}")
        self._max_epochs = max_epochs
        self._windows: OrderedDict[int, tuple[int, int]] = OrderedDict()  # epoch -> (highest, bitmap)

    def __len__(self) -> int:
        return len(self._windows)

    def seen(self, epoch: int, counter: int) -> bool:
        """Whether (epoch, counter) was taken already, or is too old to tell; if not, it is taken now.
        Call it only for a packet that opened (its tag checked): forged counters never move a window."""
        window = self._windows.get(epoch)
        if window is None:
            self._windows[epoch] = (counter, 1)
            if len(self._windows) > self._max_epochs:
                self._windows.popitem(last=False)
            return False
        self._windows.move_to_end(epoch)
        highest, bitmap = window
        if counter > highest:
            shift = counter - highest
            bitmap = ((bitmap << shift) | 1) & ((1 << WINDOW) - 1) if shift < WINDOW else 1
            self._windows[epoch] = (counter, bitmap)
            return False
        back = highest - counter
        if back >= WINDOW:
            return True  # older than the window: cannot be told from a replay
        bit = 1 << back
        if bitmap & bit:
            return True
        self._windows[epoch] = (highest, bitmap | bit)
        return False
