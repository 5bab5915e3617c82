"""`drain`: take a node out of rotation, and know when every live node has done so.

Any node may set the intent for a target, drain or undrain: last writer wins on (Lamport version, node
name), as kv. Each node that sees a drain intent drains the target on its side and reports it, naming the
intent's version; the target is drained when every live node has reported that version. The view of a
target is a function of the latest intents, the reports and the live set: commutative, associative and
idempotent as a merge.

Entry keys: `intent/TARGET` (anyone's), `report/TARGET` (each node's own).
"""

from __future__ import annotations

from typing import Any

from cluster.state.provider import CommandError, Provider, View, WriteIntent
from cluster.wire.messages import Plain, last_writer_rank

__all__ = ["DrainProvider"]

INTENTS = ("drain", "undrain")


class DrainProvider(Provider):
    state_type = "drain"

    def check_value(self, value: Any) -> str | None:
        if isinstance(value, str):
            return None if value in INTENTS else f"an intent is drain or undrain, not {value!r}"
        if (
            isinstance(value, dict)
            and set(value) == {"intent_version"}
            and isinstance(value["intent_version"], int)
        ):
            return None
        return f"not a drain intent or report: {value!r}"

    def view_key(self, entry_key: str) -> str:
        return entry_key.partition("/")[2]

    def _intent(self, target: str) -> Any:
        entries = [e for e in self.entries_of(f"intent/{target}").values() if not e.tombstone]
        return max(entries, key=last_writer_rank) if entries else None

    def view(self, key: str) -> View | None:
        intent = self._intent(key)
        if intent is None:
            return None
        reported = sorted(
            owner
            for owner, e in self.entries_of(f"report/{key}").items()
            if not e.tombstone and _reported_version(e.value) == intent.version and owner in self.live
        )
        drained = intent.value == "drain" and set(reported) >= self.live
        value = {"intent": intent.value, "drained": drained, "reported": reported, "live": len(self.live)}
        return value, intent.source_node, intent.version

    def loses(self, entry: Any) -> bool:
        if not entry.key.startswith("intent/"):
            return False
        winner = self._intent(self.view_key(entry.key))
        return winner is not None and winner is not entry

    def after_merge(self, key: str) -> list[WriteIntent]:
        """Seeing a drain intent, this node drains the target on its side and reports it."""
        if not key.startswith("intent/"):
            return []
        target = self.view_key(key)
        intent = self._intent(target)
        if intent is None or intent.value != "drain":
            return []
        mine = self.entries_of(f"report/{target}").get(self.local)
        if mine is not None and not mine.tombstone and _reported_version(mine.value) == intent.version:
            return []
        return [WriteIntent(self.state_type, f"report/{target}", {"intent_version": intent.version})]

    def command(self, op: str, key: str, value: Any) -> list[WriteIntent]:
        """`set TARGET drain|undrain`."""
        if op != "set" or value not in INTENTS:
            raise CommandError("drain: use set TARGET drain|undrain")
        return [WriteIntent(self.state_type, f"intent/{key}", value)]


def _reported_version(value: Plain) -> int | None:
    """The intent version a report answers (reports are checked to be {intent_version} on arrival)."""
    version = value.get("intent_version") if isinstance(value, dict) else None
    return version if isinstance(version, int) else None
