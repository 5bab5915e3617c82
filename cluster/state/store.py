"""The replicated state store: every owner's entries, what we can vouch for, and the deltas between nodes.

An entry is keyed by (owner, state_type, key) and only its owner writes it (architecture §3). Per owner the
store keeps the owner's generation and a **watermark**: the highest version V such that we hold every entry
the owner has with a version up to V (or something newer of the same key). Our digest is
`{owner: (generation, watermark)}`; it is what a peer answers with a delta.

Why a watermark and not the highest version seen: news travels two ways. Anti-entropy deltas come in
version order, but an urgent write is pushed at once and forwarded (infection style), so an entry can
arrive before the ones below it. Advertising the highest version would tell peers not to send what we
still lack (the seed's "equal versions that never converge"). So every delta says which range of the
owner's versions it covers, `(after, through]`, and the watermark only moves when the range starts at or
below it. The owner itself stamps a fresh write's range from its previous version, so even a forwarded
single write advances a watermark that is up to date.

Deletes are tombstones. A tombstone is collected after a grace period, and the owner's **floor** (the
highest collected version) travels with deltas: a peer whose watermark is below the floor may have missed
a collected delete, so it gets a **snapshot** (all of the owner's entries up to `through`) that removes what
is not in it, instead of an increment that would leave the deleted value alive there forever.

A higher generation of an owner replaces everything known of its former life (a restarted owner's fresh
Lamport clock must not lose to its old writes). A generation that jumps implausibly far is refused: one
garbled or forged packet must not shadow an owner's real writes for good. A dead owner's entries are kept
for a grace period (so a false alarm loses nothing), then dropped, and its generation quarantined so that
stale gossip still in flight cannot bring them back; a new life (higher generation) lifts the quarantine.

Pure: the time is an argument, and sizes are measured with the codec the deltas will travel in.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from cluster.wire.codec import encoded_size
from cluster.wire.messages import Digest, OwnerDelta, Plain, SyncableState, digest_from_dict, last_writer_rank

__all__ = [
    "FIRST_GENERATION_LIMIT",
    "GENERATION_STEP_LIMIT",
    "ApplyReport",
    "StateStore",
    "StoreError",
]

FIRST_GENERATION_LIMIT = 2**32
"""Highest generation accepted for an owner we know nothing of (a generation grows by one per start)."""
GENERATION_STEP_LIMIT = 2**16
"""Largest jump accepted over the generation we know: 65,536 restarts unseen is not plausible."""

EntryKey = tuple[str, str]  # (state_type, key) within one owner


class StoreError(ValueError):
    """A local write the store cannot take (the caller's bug, not the network's)."""


@dataclass(slots=True)
class _Owner:
    generation: int
    watermark: int = 0
    floor: int = 0  # highest version of a collected tombstone
    entries: dict[EntryKey, SyncableState] = field(default_factory=dict)
    received_at: dict[EntryKey, float] = field(default_factory=dict)
    failed_at: float | None = None
    # Ranges (after, through, floor) of deltas held above the watermark: news that overtook the news
    # before it. When the watermark reaches one, it moves past it at once (see `_absorb`).
    held: list[tuple[int, int, int]] = field(default_factory=list)


MAX_HELD_RANGES = 64
"""Ranges kept per owner above its watermark; past this the highest are forgotten (anti-entropy covers
them), so garbage cannot grow the list."""


@dataclass(slots=True)
class ApplyReport:
    """What one delta did: `changed` lists the entries now visible in the store (new or replaced)."""

    applied: int = 0
    stale: int = 0  # already known, or older than what we hold
    rejected: int = 0  # refused: wrong owner, implausible or quarantined generation, outside the range
    reasons: list[str] = field(default_factory=list)
    changed: list[SyncableState] = field(default_factory=list)
    dropped: list[SyncableState] = field(default_factory=list)  # removed by a snapshot

    def merge(self, other: ApplyReport) -> None:
        self.applied += other.applied
        self.stale += other.stale
        self.rejected += other.rejected
        self.reasons += other.reasons
        self.changed += other.changed
        self.dropped += other.dropped


class StateStore:
    def __init__(self, local: str, generation: int) -> None:
        if generation < 1:
            raise StoreError(f"generation must be >= 1, got {generation}")
        self.local = local
        self._owners: dict[str, _Owner] = {local: _Owner(generation)}
        self._quarantine: dict[str, int] = {}  # owner -> highest generation whose gossip is refused

    # -- queries --------------------------------------------------------------------------------

    def __len__(self) -> int:
        return sum(len(owner.entries) for owner in self._owners.values())

    @property
    def generation(self) -> int:
        return self._owners[self.local].generation

    def entries(self, state_type: str | None = None) -> Iterator[SyncableState]:
        for owner in self._owners.values():
            for entry in owner.entries.values():
                if state_type is None or entry.state_type == state_type:
                    yield entry

    def get(self, owner: str, state_type: str, key: str) -> SyncableState | None:
        known = self._owners.get(owner)
        return None if known is None else known.entries.get((state_type, key))

    def digest(self) -> Digest:
        return digest_from_dict({name: (o.generation, o.watermark) for name, o in self._owners.items()})

    def vouched(self, owner: str) -> tuple[int, int]:
        """(generation, watermark) we hold of `owner`; (0, 0) for an owner we know nothing of."""
        known = self._owners.get(owner)
        return (0, 0) if known is None else (known.generation, known.watermark)

    def gapped(self, owner: str) -> bool:
        """Whether we hold news of `owner` above a range we lack: a gap, which only a repair fills."""
        known = self._owners.get(owner)
        return known is not None and bool(known.held)

    def owners(self) -> dict[str, tuple[int, int]]:
        return {name: (o.generation, o.watermark) for name, o in self._owners.items()}

    def generation_of(self, owner: str) -> int | None:
        """The generation held of `owner` (that of its quarantined life, once dropped), or None."""
        known = self._owners.get(owner)
        return known.generation if known is not None else self._quarantine.get(owner)

    def refuses(self, owner: str, generation: int) -> bool:
        """Whether gossip of `owner` at `generation` would be refused (ours, or a quarantined life)."""
        return owner == self.local or self._quarantined(owner, generation)

    def _quarantined(self, owner: str, generation: int) -> bool:
        """A dead owner's dropped life, or an earlier one: its gossip still in flight is stale."""
        quarantined = self._quarantine.get(owner)
        return quarantined is not None and generation <= quarantined

    def quarantined(self, owner: str) -> int | None:
        return self._quarantine.get(owner)

    # -- local writes ---------------------------------------------------------------------------

    def write(
        self, state_type: str, key: str, value: Plain, version: int, now: float, *, tombstone: bool = False
    ) -> OwnerDelta:
        """Our own write at `version` (from our Lamport clock); returns the delta to push at once."""
        own = self._owners[self.local]
        if version <= own.watermark:
            raise StoreError(f"version {version} is not above our last write {own.watermark}")
        entry = SyncableState(
            state_type, key, None if tombstone else value, version, self.local, own.generation, tombstone
        )
        previous = own.watermark
        own.entries[(state_type, key)] = entry
        own.received_at[(state_type, key)] = now
        own.watermark = version
        return OwnerDelta(self.local, own.generation, previous, version, False, own.floor, (entry,))

    # -- deltas ---------------------------------------------------------------------------------

    def delta_for(
        self, digest: Digest, budget: int, *, listed_only: bool = False
    ) -> tuple[tuple[OwnerDelta, ...], bool]:
        """What a peer with `digest` lacks, lowest versions first per owner, within `budget` bytes.

        Returns the deltas and whether anything was left out for the budget (the caller may then go over
        TCP with a larger one). Owners the peer lacks the most of come first, so a cut spreads fairly.
        An owner missing from the digest is one the peer knows nothing of, unless `listed_only`.
        """
        theirs = {owner: (generation, watermark) for owner, generation, watermark in digest}
        wanted: list[tuple[int, str, OwnerDelta]] = []
        for name, owner in self._owners.items():
            if listed_only and name not in theirs:
                continue
            their_generation, their_watermark = theirs.get(name, (0, 0))
            if their_generation > owner.generation:
                continue
            if their_generation == owner.generation and their_watermark >= owner.watermark:
                continue
            # A newer life is announced even before it wrote anything: it ends the former life's entries.
            after = their_watermark if their_generation == owner.generation else 0
            snapshot = after < owner.floor
            states = sorted(
                (e for e in owner.entries.values() if snapshot or e.version > after),
                key=lambda e: e.version,
            )
            states = [e for e in states if e.version <= owner.watermark]
            delta = OwnerDelta(
                name, owner.generation, 0 if snapshot else after, owner.watermark, snapshot, owner.floor, ()
            )
            wanted.append((owner.watermark - after, name, replace(delta, states=tuple(states))))
        wanted.sort(key=lambda item: (-item[0], item[1]))
        out: list[OwnerDelta] = []
        room = budget
        cut = False
        for _lag, _name, delta in wanted:
            fitted = self._fit(delta, room)
            if fitted is None:
                cut = True
                continue
            if fitted.through < delta.through:
                cut = True
            out.append(fitted)
            room -= encoded_size(fitted)
        return tuple(out), cut

    @staticmethod
    def _fit(delta: OwnerDelta, room: int) -> OwnerDelta | None:
        """The longest prefix of `delta` (by version) within `room` bytes, vouching only for what it holds."""
        if encoded_size(delta) <= room:
            return delta
        empty = replace(delta, states=(), through=delta.after)
        used = encoded_size(empty)
        kept: list[SyncableState] = []
        for entry in delta.states:
            size = encoded_size(entry) + 1
            if used + size > room:
                break
            kept.append(entry)
            used += size
        if not kept:
            return None
        return replace(delta, states=tuple(kept), through=kept[-1].version)

    def apply(self, deltas: Iterable[OwnerDelta], now: float) -> ApplyReport:
        report = ApplyReport()
        for delta in deltas:
            report.merge(self._apply_one(delta, now))
        return report

    def _apply_one(self, delta: OwnerDelta, now: float) -> ApplyReport:
        report = ApplyReport()
        name = delta.owner
        refusal = self._refusal(delta)
        if refusal is not None:
            report.rejected += len(delta.states) or 1
            report.reasons.append(f"{name}: {refusal}")
            return report
        owner = self._owners.get(name)
        if owner is None or delta.generation > owner.generation:
            if owner is not None:
                report.dropped += owner.entries.values()
            owner = self._owners[name] = _Owner(delta.generation)
            self._quarantine.pop(name, None)
        elif delta.generation < owner.generation:
            report.stale += len(delta.states) or 1
            return report
        for entry in delta.states:
            if (
                entry.source_node != name
                or entry.generation != delta.generation
                or entry.version > delta.through
                or (not delta.snapshot and entry.version <= delta.after)
            ):
                report.rejected += 1
                report.reasons.append(f"{name}: entry {entry.state_type}/{entry.key} outside its delta")
                continue
            slot = (entry.state_type, entry.key)
            held = owner.entries.get(slot)
            # At or below the watermark we already hold the owner's current entry for every key, so a
            # slot we lack there was deleted (and its tombstone maybe collected): stale gossip of the
            # value must not bring it back.
            below = not delta.snapshot and entry.version <= owner.watermark
            if below or (held is not None and held.version >= entry.version):
                report.stale += 1
                continue
            owner.entries[slot] = entry
            owner.received_at[slot] = now
            report.applied += 1
            report.changed.append(entry)
        if delta.snapshot:
            listed = {(e.state_type, e.key) for e in delta.states}
            for slot, held in list(owner.entries.items()):
                if held.version <= delta.through and slot not in listed:
                    del owner.entries[slot]
                    owner.received_at.pop(slot, None)
                    report.dropped.append(held)
        if delta.snapshot or owner.watermark >= delta.after:
            owner.watermark = max(owner.watermark, delta.through)
            owner.floor = max(owner.floor, min(delta.floor, owner.watermark))
            _absorb(owner)
        elif delta.through > owner.watermark:
            owner.held.append((delta.after, delta.through, delta.floor))
            owner.held.sort()
            del owner.held[MAX_HELD_RANGES:]
        return report

    def _refusal(self, delta: OwnerDelta) -> str | None:
        if delta.owner == self.local:
            # Only we write our entries; our own past echoed back is not news.
            return "our own entries are written only here"
        if delta.through < delta.after:
            return f"empty range ({delta.after}, {delta.through}]"
        quarantined = self._quarantine.get(delta.owner)
        if self._quarantined(delta.owner, delta.generation):
            return f"generation {delta.generation} is of a dead owner (quarantined up to {quarantined})"
        known = self._owners.get(delta.owner)
        base = known.generation if known is not None else quarantined
        limit = FIRST_GENERATION_LIMIT if base is None else base + GENERATION_STEP_LIMIT
        if delta.generation > limit:
            return f"implausible generation {delta.generation} (limit {limit})"
        return None

    # -- time passing ---------------------------------------------------------------------------

    def collect_tombstones(self, now: float, grace: float) -> list[SyncableState]:
        """Forget tombstones older than `grace`, raising each owner's floor to the highest one forgotten.

        Only tombstones at or below the watermark go: above it we could not vouch for the range anyway.
        A tombstone that still hides another owner's older live entry of the same key stays: forgotten, it
        would let that value show again (under last-writer-wins views such as kv's).
        """
        live_rivals: dict[EntryKey, list[SyncableState]] = {}
        for owner in self._owners.values():
            for slot, entry in owner.entries.items():
                if not entry.tombstone:
                    live_rivals.setdefault(slot, []).append(entry)
        collected: list[SyncableState] = []
        for owner in self._owners.values():
            for slot, entry in list(owner.entries.items()):
                if not entry.tombstone or entry.version > owner.watermark:
                    continue
                if now - owner.received_at.get(slot, now) < grace:
                    continue
                rank = last_writer_rank(entry)
                if any(last_writer_rank(rival) < rank for rival in live_rivals.get(slot, ())):
                    continue
                del owner.entries[slot]
                owner.received_at.pop(slot, None)
                owner.floor = max(owner.floor, entry.version)
                collected.append(entry)
        return collected

    def owner_failed(self, owner: str, now: float) -> None:
        """Start the grace period of a dead owner (membership declared it failed or left)."""
        known = self._owners.get(owner)
        if known is not None and owner != self.local and known.failed_at is None:
            known.failed_at = now

    def owner_alive(self, owner: str) -> None:
        """A false alarm refuted in time: keep everything."""
        known = self._owners.get(owner)
        if known is not None:
            known.failed_at = None
        self._quarantine.pop(owner, None)

    def drop_dead_owners(self, now: float, grace: float) -> list[SyncableState]:
        """Drop owners dead for longer than `grace`; quarantine their generation against stale gossip."""
        dropped: list[SyncableState] = []
        for name, owner in list(self._owners.items()):
            if owner.failed_at is None or now - owner.failed_at < grace:
                continue
            dropped += owner.entries.values()
            del self._owners[name]
            self._quarantine[name] = max(self._quarantine.get(name, 0), owner.generation)
        return dropped


def _absorb(owner: _Owner) -> None:
    """Move the watermark past every held range it now reaches. A held range's delta vouched for all of
    the owner's entries in it, and they were applied when it came: holding them and everything below
    them, we hold everything up to its end, exactly as if the delta had come again now."""
    while owner.held and owner.held[0][0] <= owner.watermark:
        _after, through, floor = owner.held.pop(0)
        if through > owner.watermark:
            owner.watermark = through
            owner.floor = max(owner.floor, min(floor, owner.watermark))
