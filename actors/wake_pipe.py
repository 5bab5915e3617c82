"""A self-pipe: how another thread wakes a thread blocked in `select` (the reactor, a timed inbox).

Writing one byte makes the read end readable; the woken thread drains everything written so far, so many
wake-ups before it runs cost it one. Both ends are non-blocking: a full pipe means a wake-up is pending
anyway, and a closed one (the owner is shutting down) has nobody left to wake.
"""

from __future__ import annotations

import contextlib
import os


class WakePipe:
    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)

    def fileno(self) -> int:
        """The end to register with a selector."""
        return self._read

    def wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._write, b"x")

    def drain(self) -> None:
        """Read every pending wake-up (on the woken thread, after the selector reported the pipe)."""
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read, 4096):
                pass

    def close(self) -> None:
        os.close(self._read)
        os.close(self._write)
