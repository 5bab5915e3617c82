"""`circuit_breaker`: one shared state per circuit: closed, open, half-open, with an episode number.

Opening a circuit starts a new episode above the highest seen anywhere; within an episode the phase only
moves forward (open, then half-open, then closed). The view is the highest (episode, phase) written by
anyone, so concurrent opens agree on one episode, a late "open" of an old episode cannot re-open a closed
circuit (no re-open loops), and the state never goes backwards. Max over a total order: commutative,
associative, idempotent.
"""

from __future__ import annotations

from typing import Any

from cluster.state.provider import CommandError, Provider, View, WriteIntent
from cluster.wire.messages import Plain

__all__ = ["CircuitBreakerProvider"]

PHASES = ("open", "half-open", "closed")  # the order within an episode


def _rank(value: Plain) -> tuple[int, int]:
    """(episode, phase index) of a checked circuit state (see `check_value`)."""
    assert isinstance(value, dict)
    episode, phase = value["episode"], value["phase"]
    assert isinstance(episode, int) and isinstance(phase, str)
    return (episode, PHASES.index(phase))


class CircuitBreakerProvider(Provider):
    state_type = "circuit_breaker"

    def check_value(self, value: Any) -> str | None:
        if not isinstance(value, dict) or set(value) != {"episode", "phase"}:
            return "a circuit state is {episode, phase}"
        if (
            not isinstance(value["episode"], int)
            or isinstance(value["episode"], bool)
            or value["episode"] < 0
        ):
            return f"episode must be a count, got {value['episode']!r}"
        if value["phase"] not in PHASES:
            return f"phase is one of {', '.join(PHASES)}, not {value['phase']!r}"
        return None

    def view(self, key: str) -> View | None:
        live = [e for e in self.entries_of(key).values() if not e.tombstone]
        if not live:
            return None
        best = max(live, key=lambda e: (_rank(e.value), e.source_node))
        episode, phase = _rank(best.value)
        return ({"episode": episode, "phase": PHASES[phase]}, best.source_node, best.version)

    def loses(self, entry: Any) -> bool:
        shown = self.view(entry.key)
        return not entry.tombstone and shown is not None and _rank(entry.value) < _rank(shown[0])

    def command(self, op: str, key: str, value: Any) -> list[WriteIntent]:
        """`set CIRCUIT open|half-open|closed`: open starts a new episode; the others move the current one."""
        if op != "set" or value not in PHASES:
            raise CommandError(f"circuit_breaker: use set CIRCUIT {'|'.join(PHASES)}")
        current = self.view(key)
        episode, phase = (current[0]["episode"], current[0]["phase"]) if current else (0, "closed")
        if value == "open":
            if phase == "open":
                return []  # already open in this episode: nothing to start
            return [WriteIntent(self.state_type, key, {"episode": episode + 1, "phase": "open"})]
        if current is None or PHASES.index(value) <= PHASES.index(phase):
            raise CommandError(f"circuit_breaker: {key} is {phase} (episode {episode}); cannot go {value}")
        return [WriteIntent(self.state_type, key, {"episode": episode, "phase": value})]
