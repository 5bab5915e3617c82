"""Reconnect delays: exponential backoff with jitter.

A whole layout restarting at once must not redial in lock step, so each delay is drawn from the upper
half of the exponential window ("equal jitter", as described in the AWS Architecture Blog post
"Exponential Backoff And Jitter", 2015): it still grows with every failure but never collapses to zero.
"""

from __future__ import annotations

import random


def backoff_delay(attempt: int, minimum: float, maximum: float, rng: random.Random) -> float:
    """Delay before redial number `attempt` (0 for the first retry after a failure)."""
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    if not 0 < minimum <= maximum:
        raise ValueError(f"need 0 < minimum <= maximum, got {minimum}, {maximum}")
    window = min(maximum, minimum * 2 ** min(attempt, 32))
    delay: float = window / 2 + rng.uniform(0, window / 2)
    return delay
