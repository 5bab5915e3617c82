"""The state provider interface (the gossip seed's, in Python) and what every provider shares.

The store (`cluster.state.store`) replicates each owner's entries without knowing what they mean. A provider
gives one state type its meaning: it folds every owner's entries into the view users read (its merge rule),
says which of its own entries this node must write, and reacts when a node fails. Providers are pure cores;
each runs in its own actor and talks to the gossip scheduler only by messages.

A merge rule is a function of the *set* of entries received, so it is commutative, associative and
idempotent by construction as long as `fold` depends only on that set (tests check it with Hypothesis).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cluster.core.events import StateChangedEvent
from cluster.wire.messages import Digest, SyncableState, digest_from_dict, last_writer_rank

__all__ = ["ApplyResult", "CommandError", "Provider", "ProviderOutput", "View", "WriteIntent"]


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """The seed's counts: `applied` entries that were news, `conflicts` that lost to a rival owner's entry
    under the provider's merge rule, and `rejected` that the provider cannot read (a malformed value)."""

    applied: int = 0
    conflicts: int = 0
    rejected: int = 0


@dataclass(frozen=True, slots=True)
class WriteIntent:
    """A write of this node's own entry that a provider asks the scheduler to stamp and spread."""

    state_type: str
    key: str
    value: Any
    tombstone: bool = False


View = tuple[Any, str, int]
"""What users see for a key: (value, owner, version) of the entry (or rule) that decides it."""


class CommandError(ValueError):
    """A request to a provider that it cannot carry out, said in words for the user."""


@dataclass(slots=True)
class ProviderOutput:
    """What one input to a provider gives: results, writes to make, changes to announce."""

    result: ApplyResult = ApplyResult()
    writes: list[WriteIntent] = field(default_factory=list)
    changes: list[StateChangedEvent] = field(default_factory=list)


class Provider:
    """Base of the provider cores: keeps every owner's latest entry of this type per key."""

    state_type: str = ""

    def __init__(self, local: str) -> None:
        self.local = local
        self._entries: dict[str, dict[str, SyncableState]] = {}  # key -> owner -> entry
        self.live: frozenset[str] = frozenset({local})

    # -- the seed's interface -------------------------------------------------------------------

    def provider_type(self) -> str:
        return self.state_type

    def get_sync_state(self) -> list[SyncableState]:
        """This node's own entries of this type: what it answers for."""
        return [by_owner[self.local] for by_owner in self._entries.values() if self.local in by_owner]

    def get_state_digest(self) -> Digest:
        """owner -> (generation, highest version) over what this provider holds: equal digests on two nodes
        mean equal views, which is what `clusterctl state` compares."""
        best: dict[str, tuple[int, int]] = {}
        for by_owner in self._entries.values():
            for owner, entry in by_owner.items():
                best[owner] = max(best.get(owner, (0, 0)), (entry.generation, entry.version))
        return digest_from_dict(best)

    def holdings(self) -> tuple[int, str]:
        """How many entries this provider holds (every owner's) and a hash of them all: (key, owner,
        generation, version, tombstone), which name one entry's content. Equal on two nodes means equal
        entries, where the digest's highest versions do not (see `StateDigest`). Computed when asked."""
        rows = sorted(
            (entry.key, owner, entry.generation, entry.version, entry.tombstone)
            for by_owner in self._entries.values()
            for owner, entry in by_owner.items()
        )
        return len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()

    def apply_remote_state(self, states: Iterable[SyncableState]) -> ProviderOutput:
        output = ProviderOutput()
        applied = conflicts = rejected = 0
        for entry in states:
            if entry.state_type != self.state_type:
                continue
            problem = None if entry.tombstone else self.check_value(entry.value)
            if problem is not None:
                rejected += 1
                continue
            shown = self.view_key(entry.key)
            before = self.view(shown)
            held = self._entries.setdefault(entry.key, {}).get(entry.source_node)
            if held is not None and (held.generation, held.version) >= (entry.generation, entry.version):
                continue
            self._entries[entry.key][entry.source_node] = entry
            applied += 1
            if self.loses(entry):
                conflicts += 1
            output.changes += self._announce(shown, before, self.view(shown))
            output.writes += self.after_merge(entry.key)
        output.result = ApplyResult(applied, conflicts, rejected)
        return output

    def forget(self, dropped: Iterable[SyncableState]) -> ProviderOutput:
        """Entries the store dropped (a dead owner after its grace, a former life, a snapshot)."""
        output = ProviderOutput()
        for entry in dropped:
            by_owner = self._entries.get(entry.key)
            if by_owner is None or by_owner.get(entry.source_node) != entry:
                continue
            shown = self.view_key(entry.key)
            before = self.view(shown)
            del by_owner[entry.source_node]
            if not by_owner:
                del self._entries[entry.key]
            output.changes += self._announce(shown, before, self.view(shown))
        return output

    def on_node_failure(self, node: str, live: Iterable[str]) -> ProviderOutput:
        """A member was declared failed or left; `live` are the members alive now (this node included).
        Default: views that count live members are shown anew."""
        return self.on_members(live)

    def on_members(self, live: Iterable[str]) -> ProviderOutput:
        """The members alive now changed (a join, a failure, a return)."""
        before = self.views()
        self.live = frozenset(live) | {self.local}
        after = self.views()
        output = ProviderOutput()
        for key in sorted(set(before) | set(after)):
            output.changes += self._announce(key, before.get(key), after.get(key))
        return output

    def command(self, op: str, key: str, value: Any) -> list[WriteIntent]:
        """A user's request (`clusterctl state set|del`): the own writes it makes. CommandError if it
        cannot be done. Default: `set` writes the value as this node's entry, `del` its tombstone."""
        if op == "set":
            problem = self.check_value(value)
            if problem is not None:
                raise CommandError(f"{self.state_type}: {key}: {problem}")
            return [WriteIntent(self.state_type, key, value)]
        if op == "del":
            return [WriteIntent(self.state_type, key, None, tombstone=True)]
        raise CommandError(f"{self.state_type}: no operation {op!r} (set, del)")

    def views(self) -> dict[str, View]:
        return {key: view for key in self.view_keys() if (view := self.view(key)) is not None}

    # -- for subclasses -------------------------------------------------------------------------

    def check_value(self, value: Any) -> str | None:
        """Why `value` is not a valid value of this type, or None."""
        return None

    def view(self, key: str) -> View | None:
        """What users see for `key`. Default: the visible entry's value."""
        winner = self.visible(key)
        return None if winner is None else (winner.value, winner.source_node, winner.version)

    def loses(self, entry: SyncableState) -> bool:
        """Whether `entry`, just applied, lost to a rival under the merge rule (a conflict)."""
        return not entry.tombstone and self.visible(entry.key) is not entry

    def visible(self, key: str) -> SyncableState | None:
        """The entry users see for `key` (None: no live value). Default: last writer wins on
        (version, owner) over every owner's latest entry, a tombstone hiding the key."""
        by_owner = self._entries.get(key)
        if not by_owner:
            return None
        winner = max(by_owner.values(), key=last_writer_rank)
        return None if winner.tombstone else winner

    def after_merge(self, key: str) -> list[WriteIntent]:
        """Own writes a merge calls for (e.g. retract our entry that lost). Default: none."""
        return []

    def view_key(self, entry_key: str) -> str:
        """The key users see that an entry's key feeds. Default: the same."""
        return entry_key

    def view_keys(self) -> list[str]:
        return sorted({self.view_key(key) for key in self._entries})

    def entries_of(self, key: str) -> Mapping[str, SyncableState]:
        return self._entries.get(key, {})

    def keys(self) -> list[str]:
        return sorted(self._entries)

    def _announce(self, key: str, before: View | None, after: View | None) -> list[StateChangedEvent]:
        """A change users can see: the value appears, goes, becomes another, or passes to another owner
        (a session claimed by a survivor keeps its data)."""
        if after is None:
            if before is None:
                return []
            return [StateChangedEvent(self.state_type, key, None, before[1], before[2])]
        if before is not None and before[:2] == after[:2]:
            return []  # same value from the same owner: a rewrite users cannot tell apart
        return [StateChangedEvent(self.state_type, key, after[0], after[1], after[2])]
