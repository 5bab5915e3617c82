"""A log line per reason at most every `interval` seconds.

Garbage from the network must be visible without letting a flood of it fill the disk (architecture §4).
"""

from __future__ import annotations

import logging
from typing import Any

from actors.clock import Clock


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, clock: Clock, *, interval: float) -> None:
        self._logger = logger
        self._clock = clock
        self._interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, reason: str, template: str, *args: Any) -> None:
        now = self._clock.now()
        last = self._last.get(reason)
        if last is not None and now - last < self._interval:
            self._suppressed[reason] = self._suppressed.get(reason, 0) + 1
            return
        self._last[reason] = now
        suppressed = self._suppressed.pop(reason, 0)
        suffix = f" ({suppressed} similar suppressed)" if suppressed else ""
        self._logger.warning(template + suffix, *args)
