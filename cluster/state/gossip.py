"""The gossip scheduler's core: when and to whom replicated state travels (architecture §3).

- A write is stamped with this node's Lamport clock and pushed at once to up to `state_push_nodes`
  members (everyone, in clusters of up to that size); a member that receives a write it did not have
  forwards it at once to `gossip_nodes` random members, on first receipt only (infection style), which
  covers loss and larger clusters. Both are also retransmitted from a transmit-limited queue (each update
  sent retransmit_mult * ceil(log10(n + 1)) times, as membership news), batched into compound datagrams
  on each gossip tick while there is news.
- Every `state_sync_interval`, anti-entropy with one random member: `pull` (our digest) -> `push-pull` (the
  delta we lack, theirs digest) -> `push` (the delta they lack). Deltas are cut to the datagram budget
  (safe: see `cluster.state.store`); when a cut was needed and a TCP peering to that member is up, the
  rest goes over it with the frame limit instead. A node that joins does this exchange at once with the
  first member it sees, and goes on while it is behind: its full sync.
- Idle cost is one pull per sync interval: nothing else is sent while nothing changes.
- A failed member's entries are kept for `dead_owner_grace`, then dropped (see the store); tombstones are
  collected after `tombstone_grace`.

State datagrams share the node's UDP port with membership: they start with the byte 0xC1, which msgpack
never uses, so the transport can route them without decoding.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from cluster.core.broadcast_queue import TransmitLimitedQueue
from cluster.core.effects import Address, Send, SendDatagram, StartTimer
from cluster.core.lamport import LAMPORT_CEILING, LamportClock
from cluster.layout.presets import Timings
from cluster.state.gaps import GapLedger
from cluster.state.store import GENERATION_STEP_LIMIT, ApplyReport, StateStore
from cluster.wire.codec import CodecError, encode, encoded_size
from cluster.wire.compound import HEADER_OVERHEAD, PART_OVERHEAD, pack, unpack
from cluster.wire.messages import (
    INT64_MAX,
    MAX_NAME_CHARS,
    Digest,
    OwnerDelta,
    Plain,
    Pull,
    Push,
    PushPull,
    SyncableState,
    WireMessage,
    digest_from_dict,
)
from cluster.wire.schema import plain_depth

__all__ = [
    "STATE_DATAGRAM_MARKER",
    "Applied",
    "CollectTick",
    "EntryTooLarge",
    "Forgotten",
    "GapRepairTick",
    "LiveChanged",
    "OwnerFailed",
    "StateGossip",
    "StateGossipTick",
    "SyncTick",
]

PUSH_OVERHEAD = 160
"""Bytes of a push of one delta beyond its entries (names of fields, source, clock, range): generous."""

MAX_QUEUED_UPDATES = 64
"""Updates waiting to be forwarded; the oldest go first past this (anti-entropy still carries them)."""

MAX_CONTINUATIONS = 256
"""Exchanges that go on at once with one peer within one sync interval (about 300 KB by datagram)."""

STATE_DATAGRAM_MARKER = 0xC1
"""First byte of a state datagram: 0xC1 is the one byte msgpack never uses, so no membership datagram
starts with it."""


class EntryTooLarge(ValueError):
    """A write whose entry cannot travel: over one datagram, or nested deeper than `MAX_VALUE_DEPTH`."""


MAX_VALUE_DEPTH = 8
"""How deeply a replicated value may nest (containers within containers). Every answer that carries a value
wraps it in an envelope of its own (a read's reply body, its entries, the entry: four levels, and the wire
takes `MAX_PLAIN_DEPTH` = 16 in all), so a value accepted at the wire's own limit could be written but
never read back: a 14-deep `state set` was taken, and the next read of it stopped the node that answered.
What a node accepts it can always send back."""


@dataclass(frozen=True, slots=True)
class Applied:
    """Entries of one state type now in the store (written here or received): for its provider. One
    input's entries come as one `Applied` per state type, so a provider hears of a burst at once."""

    state_type: str
    entries: tuple[SyncableState, ...]


@dataclass(frozen=True, slots=True)
class Forgotten:
    """Entries of one state type the store dropped: a dead owner's after its grace, a former life's,
    a snapshot's. Like `Applied`, one per state type per input."""

    state_type: str
    entries: tuple[SyncableState, ...]


@dataclass(frozen=True, slots=True)
class OwnerFailed:
    """A member was declared failed or left; `live` are the members alive now, this node included."""

    owner: str
    live: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LiveChanged:
    """The members alive now, this node included, whenever that set changes."""

    live: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StateGossipTick:
    """Timer key: forward queued updates (armed only while there are some)."""


@dataclass(frozen=True, slots=True)
class SyncTick:
    """Timer key: anti-entropy with one random member."""


@dataclass(frozen=True, slots=True)
class CollectTick:
    """Timer key: collect old tombstones and the entries of owners dead for long enough."""


@dataclass(frozen=True, slots=True)
class GapRepairTick:
    """Timer key: ask for the ranges still missing below news already held (armed while there are gaps)."""


StateTimer = StateGossipTick | SyncTick | CollectTick | GapRepairTick
"""Every timer key the gossip scheduler's core arms; `timer` takes exactly these."""

StateEffect = SendDatagram | Send | StartTimer | Applied | Forgotten | OwnerFailed | LiveChanged


class StateGossip:
    def __init__(
        self,
        local: str,
        generation: int,
        timings: Timings,
        rng: random.Random,
        now: float,
        *,
        deferred_push: bool = False,
    ) -> None:
        """`deferred_push`: what is to be pushed at once waits for `burst_over`, which the actor calls when
        its inbox is empty, so that a burst of writes or news travels together in few datagrams."""
        self.local = local
        self.timings = timings
        self.store = StateStore(local, generation)
        # A life's clock starts above any earlier life's: a restarted owner's writes must not lose to what
        # it wrote before, nor (under last-writer-wins) to others' writes it simply has not heard of yet.
        self.clock = LamportClock(generation << 32)
        self._rng = rng
        self._queue = TransmitLimitedQueue()
        self._gossip_armed = False
        self._members: dict[str, Address] = {}
        # Each member's generation as the membership holds it, once it tells them (`members(generations=)`):
        # no later generation of an owner's entries is taken (`_unproven`).
        self._generations: Mapping[str, int] | None = None
        self._joined = False
        self._stream_peers: set[str] = set()
        self._continuations: dict[str, int] = {}
        self._catching_up = False  # the last exchange left us behind: sync at the gossip pace
        self.gaps = GapLedger()
        self._repair_due: float | None = None  # when the armed GapRepairTick fires
        self._asked: dict[str, float] = {}  # owner -> when its open gap was last asked for
        self._sync_due = now + timings.state_sync_interval
        self._fresh: list[tuple[OwnerDelta, int]] = []  # our writes not pushed yet, with their sizes
        self._news: list[bytes] = []  # news received, as received, to pass on at once
        self._news_owners: set[str] = set()  # whose news it is
        self._turn = -1  # where `_in_turn` goes on from; -1 until the first tick draws a start
        self._deferred_push = deferred_push
        # What a state message from this node costs besides its deltas and digest, measured on the
        # largest one (a push-pull at the highest Lamport time): the map, tag, field names and our name,
        # plus 2 bytes each for the deltas' and the digest's arrays outgrowing a one-byte header.
        self._envelope = len(encode(PushPull(local, INT64_MAX, (), ()))) + 4
        self.stats = {
            "sent_datagrams": 0,
            "sent_bytes": 0,
            "received_rejected": 0,
            "oversized": 0,
            "syncs": 0,  # anti-entropy exchanges started: sync ticks and continuations
            "syncs_answered": 0,
            "repairs": 0,  # gap repairs asked for (a pull of the missing ranges only)
            "repairs_answered": 0,
            "implausible_times": 0,  # messages refused whole for a Lamport time or version (`_implausible`)
            "unproven_generations": 0,  # deltas of a new generation with no new life of it (`_unproven`)
        }

    # -- inputs ---------------------------------------------------------------------------------

    def start(self, now: float) -> list[StateEffect]:
        self._sync_due = now + self.timings.state_sync_interval
        return [
            StartTimer(SyncTick(), self._sync_due),
            StartTimer(CollectTick(), now + self.timings.tombstone_grace / 4),
        ]

    def members(
        self, alive: Mapping[str, Address], now: float, *, generations: Mapping[str, int] | None = None
    ) -> list[StateEffect]:
        """The membership's current view: who is alive, and where; `generations`: each one's generation,
        beyond which none of its entries is taken (`_unproven`). Without it, any plausible generation is
        taken (the simulator, which runs no membership)."""
        if generations is not None:
            self._generations = dict(generations)
        effects: list[StateEffect] = []
        live = tuple(sorted({*alive, self.local}))
        for gone in sorted(set(self._members) - set(alive)):
            self.store.owner_failed(gone, now)
            effects.append(OwnerFailed(gone, live))
        for name in alive:
            self.store.owner_alive(name)
        if set(alive) - {self.local} != set(self._members):
            effects.append(LiveChanged(live))
        newcomers = sorted(set(alive) - set(self._members) - {self.local})
        self._members = {name: address for name, address in alive.items() if name != self.local}
        if newcomers:
            effects += self._introduce(newcomers)
        if not self._joined and self._members:
            # The joiner's full sync: it pulls from one member as soon as it sees any (and the exchange
            # goes on while it is behind). The others do not pull from every newcomer: fifty nodes
            # starting together would make 2,450 exchanges at once.
            self._joined = True
            effects += self.pull(self._rng.choice(sorted(self._members)))
        return effects

    def _introduce(self, newcomers: list[str]) -> list[StateEffect]:
        """Our own entries, pushed once to each member we see for the first time. A write made before
        this node knew anyone (an actor subscribing as it starts, a value set at boot) was pushed to
        nobody, and its retransmissions went to the few members known then; without this, a node that
        appears later learns it only at the next anti-entropy round, seconds away. One datagram's worth
        each (the rest comes by anti-entropy): cheap, and nothing at all for a node with no entries."""
        others = {owner: mark for owner, mark in self.store.owners().items() if owner != self.local}
        deltas, _cut = self.store.delta_for(digest_from_dict(others), self._datagram_room() - PUSH_OVERHEAD)
        if not deltas:
            return []
        push = self._encode_push(*deltas)
        return [effect for name in newcomers for effect in self._datagram(name, [push])]

    def peer_up(self, name: str) -> None:
        self._stream_peers.add(name)

    def peer_down(self, name: str) -> None:
        self._stream_peers.discard(name)

    def write(
        self,
        state_type: str,
        key: str,
        value: Plain,
        now: float,
        *,
        tombstone: bool = False,
    ) -> list[StateEffect]:
        """Our own write: stamped, stored, queued for retransmission and pushed at once."""
        # Measured as it will be stamped, once: the push below packs by these sizes.
        entry = SyncableState(
            state_type,
            key,
            None if tombstone else value,
            self.clock.current + 1,
            self.local,
            self.store.generation,
            tombstone,
        )
        depth = plain_depth(value, MAX_VALUE_DEPTH + 1)
        if depth > MAX_VALUE_DEPTH:
            raise EntryTooLarge(
                f"{state_type}/{key}: the value nests more than {MAX_VALUE_DEPTH} deep, the most that every "
                "answer carrying it can hold within the wire's limit"
            )
        size = encoded_size(entry)
        limit = self.max_entry_size()
        if size > limit:
            raise EntryTooLarge(
                f"{state_type}/{key}: {size} bytes encoded; an entry must fit one datagram ({limit} bytes)"
            )
        version = self.clock.next()
        delta = self.store.write(state_type, key, value, version, now, tombstone=tombstone)
        self._fresh.append((delta, size))  # queued for retransmission as it is pushed, merged with its burst
        effects = _for_providers(Applied, delta.states)
        return self._arm(effects + self._push_now(), now)

    def _push_now(self) -> list[StateEffect]:
        return [] if self._deferred_push else self.burst_over()

    @property
    def queued_updates(self) -> int:
        """State news waiting for retransmission on gossip ticks."""
        return len(self._queue)

    def max_entry_size(self) -> int:
        """Largest entry, encoded: every entry must travel by datagram, since most members have no TCP
        peering with each other (Serf caps user events at 512 bytes for the same reason)."""
        return self._datagram_room() - PUSH_OVERHEAD - 2 * MAX_NAME_CHARS

    def burst_over(self) -> list[StateEffect]:
        """The input that arrived together is all in (the actor's inbox is empty): in `deferred_push` mode,
        this is when what it wrote and received is pushed, together. Writes and news not pushed yet, merged
        into as few deltas and datagrams as fit: our writes to up to `state_push_nodes` members, news to
        `gossip_nodes` (none, where its owner pushed it to everyone). Consecutive deltas of one owner's
        life cover one range of its versions, so they merge into one delta that vouches for all of it."""
        fresh, self._fresh = self._fresh, []
        news, self._news = self._news, []
        effects = self._push_ours(fresh) if fresh else []
        if news:
            # News goes on as an infection to `gossip_nodes` members (only in a cluster too large for
            # its owners to push to everyone; see `_apply`). Never back to its owners: they would only
            # refuse their own entries.
            owners = set(self._news_owners)
            for name in self._sample(self.timings.gossip_nodes, besides=owners):
                effects += self._datagram(name, news)
        self._news_owners.clear()
        return effects

    def _push_ours(self, fresh: list[tuple[OwnerDelta, int]]) -> list[StateEffect]:
        """Our writes follow one another in our versions, so any run of them merges into one delta."""
        room = self._datagram_room() - PUSH_OVERHEAD
        parts: list[bytes] = []
        chunk: list[OwnerDelta] = []
        size = 0
        for delta, grows in fresh:
            if chunk and size + grows + 1 > room:
                parts.append(self._queue_update(merged := _merge(chunk), self._encode_push(merged)))
                chunk, size = [], 0
            chunk.append(delta)
            size += grows + 1
        parts.append(self._queue_update(merged := _merge(chunk), self._encode_push(merged)))
        # Straight to up to `state_push_nodes` members: one hop to everyone in a cluster of that size.
        effects: list[StateEffect] = []
        for name in self._sample(self.timings.state_push_nodes):
            effects += self._datagram(name, parts)
        return effects

    def _encode_push(self, *deltas: OwnerDelta) -> bytes:
        return encode(Push(self.local, self.clock.current, deltas))

    def datagram(self, source: Address, payload: bytes, now: float) -> list[StateEffect]:
        """A state datagram (marker byte first); garbage is counted, never raised."""
        if not payload or payload[0] != STATE_DATAGRAM_MARKER:
            self.stats["received_rejected"] += 1
            return []
        try:
            result = unpack(payload[1:], max_size=self.timings.udp_buffer_size)
        except CodecError:
            self.stats["received_rejected"] += 1
            return []
        self.stats["received_rejected"] += result.dropped
        effects: list[StateEffect] = []
        for message, raw in zip(result.messages, result.parts, strict=True):
            effects += self._received(message, now, stream=False, raw=raw)
        return self._arm(effects + self._push_now(), now)

    def stream(self, peer: str, message: WireMessage, now: float) -> list[StateEffect]:
        """A state message over the TCP peering with `peer`, which must be who the message says it is from."""
        if getattr(message, "source", None) != peer:
            self.stats["received_rejected"] += 1
            return []
        return self._arm(self._received(message, now, stream=True) + self._push_now(), now)

    def timer(self, key: object, now: float) -> list[StateEffect]:
        match key:
            case StateGossipTick():
                self._gossip_armed = False
                return self._arm(self._forward(), now)
            case SyncTick():
                self._continuations.clear()
                pace = self.timings.gossip_interval if self._catching_up else self.timings.state_sync_interval
                self._sync_due = now + pace
                effects: list[StateEffect] = [StartTimer(SyncTick(), self._sync_due)]
                for name in self._sample(1):
                    effects += self.pull(name)
                return effects
            case GapRepairTick():
                self._repair_due = None
                return self._repair(now)
            case CollectTick():
                collected = self.store.collect_tombstones(now, self.timings.tombstone_grace)
                dropped = self.store.drop_dead_owners(now, self.timings.dead_owner_grace)
                for owner in list(self.gaps.open):
                    if not self.store.gapped(owner):
                        self.gaps.forget(owner)
                effects = [StartTimer(CollectTick(), now + self.timings.tombstone_grace / 4)]
                if collected or dropped:
                    effects += _for_providers(Forgotten, collected + dropped)
                return effects
        return []

    # -- the exchange ---------------------------------------------------------------------------

    def _received(
        self, message: WireMessage, now: float, *, stream: bool, raw: bytes | None = None
    ) -> list[StateEffect]:
        """`raw`: the message's encoding as received, passed on unchanged when it is news."""
        if self._implausible(message):
            self.stats["implausible_times"] += 1
            return []
        match message:
            case Pull(source, lamport, digest, repair):
                # A repair is answered by a plain push of the listed owners' missing ranges, one datagram's
                # worth; a sync by a push-pull that carries our digest for the second leg.
                self.clock.update(lamport)
                self.stats["repairs_answered" if repair else "syncs_answered"] += 1
                answer, _cut = self._answer(
                    source,
                    digest,
                    stream,
                    (lambda deltas: Push(self.local, self.clock.current, deltas))
                    if repair
                    else (
                        lambda deltas: PushPull(self.local, self.clock.current, deltas, self.store.digest())
                    ),
                    skip_empty=repair,
                    listed_only=repair,
                    datagram_only=repair,
                )
                return answer
            case PushPull(source, lamport, deltas, digest):
                self.clock.update(lamport)
                effects = self._apply(deltas, now, forward=False)
                answer, cut = self._answer(
                    source,
                    digest,
                    stream,
                    lambda theirs: Push(self.local, self.clock.current, theirs),
                    skip_empty=True,
                )
                return effects + answer + self._continue(source, digest, cut)
            case Push(_source, lamport, deltas):
                self.clock.update(lamport)
                return self._apply(deltas, now, forward=True, raw=raw if len(deltas) == 1 else None)
        return []

    def _implausible(self, message: WireMessage) -> bool:
        """A Lamport time or version this far ahead of our clock is forged or garbled, never real.

        Every time a node sees moves its clock past it, so one push at a version near 2⁶³ left the next
        local write with no version to take ("Lamport clock exhausted"), and its last-writer-wins entry
        would have shadowed the owner's real writes for good. Lives start 2³² apart (`generation << 32`)
        and a generation grows by one per start, so a clock more than `GENERATION_STEP_LIMIT` lives ahead
        of ours is refused as the store refuses such a generation; none above `LAMPORT_CEILING` is taken
        at all, so our own clock always has room for its writes."""
        bound = min(LAMPORT_CEILING, self.clock.current + (GENERATION_STEP_LIMIT << 32))
        match message:
            case Pull(_, lamport, _, _):
                return lamport > bound
            case PushPull(_, lamport, deltas, _) | Push(_, lamport, deltas):
                return lamport > bound or any(d.through > bound or d.floor > bound for d in deltas)
        return False

    def _answer(
        self,
        peer: str,
        digest: Digest,
        stream: bool,
        build: Callable[[tuple[OwnerDelta, ...]], WireMessage],
        *,
        skip_empty: bool,
        listed_only: bool = False,
        datagram_only: bool = False,
    ) -> tuple[list[StateEffect], bool]:
        """Answer a digest with what the peer lacks: in one datagram when it fits, else over the TCP
        peering with the frame limit, else the datagram's worth. Returns whether something was left out.
        `datagram_only` (a repair): the datagram's worth, lowest versions first, which is what a lost
        datagram of a burst held; the frame limit's worth would mostly be news already on its way."""
        if not stream or datagram_only:
            carries_digest = not skip_empty  # a push-pull carries our digest beside the deltas
            room = self._datagram_room() - (encoded_size(self.store.digest()) if carries_digest else 0)
            deltas, cut = self.store.delta_for(digest, room, listed_only=listed_only)
            if not cut or peer not in self._stream_peers or datagram_only:
                if skip_empty and not deltas:
                    return [], cut
                effects: list[StateEffect] = []
                if cut and not deltas and carries_digest:
                    # Not even one entry fits beside our digest: the entries go in a push of their own.
                    alone, _ = self.store.delta_for(digest, self._datagram_room())
                    if alone:
                        effects += self._datagram(peer, [self._encode_push(*alone)])
                return effects + self._datagram(peer, [encode(build(deltas))]), cut
        deltas, cut = self.store.delta_for(digest, self.timings.max_frame_size // 2, listed_only=listed_only)
        if skip_empty and not deltas:
            return [], cut
        return [Send(peer, build(deltas))], cut

    def _continue(self, peer: str, digest: Digest, cut: bool) -> list[StateEffect]:
        """An exchange that left something out either way goes on at once with the same peer, rather than
        one datagram's worth per sync interval: a joiner or a replica back from a partition catches up at
        the speed of round trips. Bounded per sync interval, so a peer we refuse cannot keep us busy. A
        lost datagram ends the chain, so while we know we are behind, sync ticks come at the gossip pace."""
        behind = self._behind(digest)
        self._catching_up = behind
        if not (cut or behind):
            self._continuations.pop(peer, None)
            return []
        rounds = self._continuations.get(peer, 0)
        if rounds >= MAX_CONTINUATIONS:
            return []
        self._continuations[peer] = rounds + 1
        return self.pull(peer)

    def _note_gaps(self, owners: Iterable[str], now: float) -> list[StateEffect]:
        """Open gaps for the owners whose news now stands above a range we lack, close those filled, and
        arm the repair. It waits `gap_settle` first: a datagram overtaken on its way (another member's
        forward outran the owner's own push) lands in that time, and a repair asked for then is wasted."""
        fresh = False
        for owner in owners:
            if self.store.gapped(owner):
                fresh = self.gaps.opened(owner, now) or fresh
        for owner in list(self.gaps.open):
            if not self.store.gapped(owner):
                self.gaps.closed(owner, now)
        # A fresh gap is asked for once it settles, not at the retry of an older one that is armed.
        return self._arm_repair(now + self._gap_settle()) if fresh else []

    def _gap_settle(self) -> float:
        return self.timings.gossip_interval / 10

    def _gap_retry(self) -> float:
        """How long an asked-for range may take before it is asked for again: the ask or its answer was
        lost, or the owner is busy. Half a gossip interval, as a repair should take under 0.1 s on `lan`;
        shorter would ask a busy owner twice for what is already on its way."""
        return self.timings.gossip_interval / 2

    def _arm_repair(self, due: float) -> list[StateEffect]:
        if self._repair_due is not None and self._repair_due <= due:
            return []
        self._repair_due = due
        return [StartTimer(GapRepairTick(), due)]

    def _repair(self, now: float) -> list[StateEffect]:
        """Ask for each settled open gap's range: from its owner, who holds all of its own entries, or from
        a random member when the owner is not one. Asked again after `_gap_retry` while open, as a repair
        can be lost too; each gap on its own schedule, so a new one never waits behind an old one's."""
        by_peer: dict[str, list[str]] = {}
        next_due: float | None = None
        for owner, seen in sorted(self.gaps.open.items()):
            if not self.store.gapped(owner):
                self.gaps.closed(owner, now)
                continue
            asked = self._asked.get(owner)
            # An ask older than the gap was for an earlier gap of this owner, since filled.
            due = seen + self._gap_settle() if asked is None or asked < seen else asked + self._gap_retry()
            if due > now:
                next_due = due if next_due is None else min(next_due, due)
                continue
            peer = owner if owner in self._members else next(iter(self._sample(1)), None)
            if peer is not None:
                by_peer.setdefault(peer, []).append(owner)
            self._asked[owner] = now
            retry = now + self._gap_retry()
            next_due = retry if next_due is None else min(next_due, retry)
        for owner in [o for o in self._asked if o not in self.gaps.open]:
            del self._asked[owner]
        effects: list[StateEffect] = []
        marks = self.store.owners()
        for peer, owners in by_peer.items():
            digest = digest_from_dict({owner: marks[owner] for owner in owners})
            self.stats["repairs"] += 1
            effects += self._datagram(
                peer, [encode(Pull(self.local, self.clock.current, digest, repair=True))]
            )
        if next_due is not None:
            effects += self._arm_repair(next_due)
        return effects

    def _unproven(self, owner: str, generation: int) -> bool:
        """A generation above the one we hold of `owner` and above the membership's for it.

        A higher generation replaces everything known of an owner's former life, so one push in the
        manager's name at generation + 1 replaced the manager's entries on every node that took it. An
        owner's real restart is a new life, which announces its generation to the membership at the
        layout's address (`cluster.membership.admission`); until the membership holds it, the news
        waits, and anti-entropy brings it once it does."""
        if self._generations is None:
            return False
        held = self.store.generation_of(owner)
        return held is not None and generation > held and generation > self._generations.get(owner, 0)

    def _behind(self, digest: Digest) -> bool:
        ours = self.store.owners()
        for owner, generation, watermark in digest:
            if (
                owner == self.local
                or self.store.refuses(owner, generation)
                or self._unproven(owner, generation)
            ):
                continue
            if (generation, watermark) > ours.get(owner, (0, 0)):
                return True
        return False

    def _apply(
        self, deltas: Iterable[OwnerDelta], now: float, *, forward: bool, raw: bytes | None = None
    ) -> list[StateEffect]:
        effects: list[StateEffect] = []
        report = ApplyReport()
        touched: set[str] = set()
        for delta in deltas:
            if self._unproven(delta.owner, delta.generation):
                self.stats["unproven_generations"] += 1
                continue
            one = self.store.apply([delta], now)
            report.merge(one)
            touched.add(delta.owner)
            if forward and one.applied and len(self._members) > self.timings.state_push_nodes:
                # Infection style: where its owner could not push it to every member, news is passed on
                # at once, on first receipt, and queued for a few more transmissions on gossip ticks.
                # Where it could, every member has had a copy, and a loss is covered by the owner's own
                # retransmissions and the gap repair: a forward of every datagram besides doubled what
                # every replica received, and the forwards, overtaking the owner's own pushes on their
                # way, were what opened nearly every gap of a burst (134 in 5 bursts at N = 10; 0 without).
                self._news_owners.add(delta.owner)
                self._news.append(self._queue_update(delta, raw))
        for entry in report.changed:
            self.clock.update(entry.version)
        effects += self._note_gaps(sorted(touched), now)
        self.stats["received_rejected"] += report.rejected
        effects += _for_providers(Applied, report.changed)
        effects += _for_providers(Forgotten, report.dropped)
        return effects

    def pull(self, name: str) -> list[StateEffect]:
        """Start an exchange. The pull goes by datagram whenever it fits: TCP goes through two more actor
        hand-offs on each side, which an idle node's periodic sync should not pay (the answer still
        takes the TCP peering when it does not fit a datagram)."""
        self.stats["syncs"] += 1
        message = Pull(self.local, self.clock.current, self.store.digest())
        encoded = encode(message)
        if len(encoded) > self._datagram_room() and name in self._stream_peers:
            return [Send(name, message)]
        if len(encoded) > self._datagram_room():
            # More owners than one datagram can list (about 80 at 1,400 bytes): list a random share of
            # them; the answer covers those, and other rounds the rest.
            owners = list(message.digest)
            self._rng.shuffle(owners)
            while len(encoded) > self._datagram_room():
                owners = owners[: len(owners) * 3 // 4]
                encoded = encode(Pull(self.local, self.clock.current, tuple(sorted(owners))))
        return self._datagram(name, [encoded])

    # -- datagrams ------------------------------------------------------------------------------

    def _queue_update(self, delta: OwnerDelta, encoded: bytes | None = None) -> bytes:
        """Queue one update for retransmission; updates never replace each other (each covers its own
        range of the owner's versions). `encoded`: the push that brought it, passed on as it came."""
        push = Push(self.local, self.clock.current, (delta,))
        encoded = encoded or encode(push)
        self._queue.queue(f"{delta.owner}\x00{delta.generation}\x00{delta.through}", push, encoded)
        # Faster writes than the ticks can carry would only queue news that anti-entropy delivers first:
        # keep what a few ticks can send (memberlist prunes its broadcast queue the same way).
        self._queue.prune(MAX_QUEUED_UPDATES)
        return encoded

    def _forward(self) -> list[StateEffect]:
        """A gossip tick: queued updates to `gossip_nodes` members. In a cluster small enough for owners to
        push to everyone, the queue holds only our own writes, and their retransmissions are the cover for
        a lost push (nobody forwards it): each goes once more to every member, in turn, rather than to
        `retransmit_limit` members drawn at random, of whom some would be drawn twice and others never
        (of 4 others, drawn 4 times, a given member is missed a third of the time)."""
        effects: list[StateEffect] = []
        n = max(len(self._members) + 1, 1)
        small = len(self._members) <= self.timings.state_push_nodes
        fanout = self.timings.gossip_nodes
        targets = self._in_turn(fanout) if small else self._sample(fanout)
        limit = len(self._members) if small else None
        for name in targets:
            parts = self._queue.take(
                self._datagram_room(), PART_OVERHEAD, n, self.timings.retransmit_mult, limit=limit
            )
            if not parts:
                break
            effects += self._datagram(name, parts)
        return effects

    def _in_turn(self, count: int) -> list[str]:
        """The next `count` members in a fixed rotation (sorted names, from a random start): consecutive
        ticks reach every member once before any twice."""
        names = sorted(self._members)
        if not names:
            return []
        if self._turn < 0:
            self._turn = self._rng.randrange(len(names))
        chosen = [names[(self._turn + i) % len(names)] for i in range(min(count, len(names)))]
        self._turn = (self._turn + len(chosen)) % len(names)
        return chosen

    def _datagram(self, name: str, parts: list[bytes]) -> list[StateEffect]:
        """As many datagrams as the parts need (each part fits one on its own)."""
        address = self._members.get(name)
        if address is None:
            return []
        budget = self.timings.udp_buffer_size - 1
        fitting = [part for part in parts if len(part) <= budget]
        self.stats["oversized"] += len(parts) - len(fitting)  # a digest of very many owners: TCP only
        parts = fitting
        effects: list[StateEffect] = []
        while parts:
            body, parts = pack(parts[0], parts[1:], budget)
            payload = bytes([STATE_DATAGRAM_MARKER]) + body
            self.stats["sent_datagrams"] += 1
            self.stats["sent_bytes"] += len(payload)
            effects.append(SendDatagram(address, payload))
        return effects

    def _datagram_room(self) -> int:
        """The bytes of deltas and digest one state message may carry: the budget, less the marker byte,
        a compound's framing (the message may share the datagram) and this node's message envelope."""
        return self.timings.udp_buffer_size - 1 - HEADER_OVERHEAD - self._envelope

    def _arm(self, effects: list[StateEffect], now: float) -> list[StateEffect]:
        """The last step of every input: the forwarding tick armed if news is queued, and what the
        input applied merged per state type (an input can carry several deltas of one type)."""
        effects = _merged_per_type(effects)
        if len(self._queue) and not self._gossip_armed:
            self._gossip_armed = True
            effects.append(StartTimer(StateGossipTick(), now + self.timings.gossip_interval))
        return effects

    def _sample(self, count: int, *, besides: set[str] | frozenset[str] = frozenset()) -> list[str]:
        names = sorted(name for name in self._members if name not in besides)
        return self._rng.sample(names, min(count, len(names)))


def _for_providers(
    kind: type[Applied] | type[Forgotten], entries: Iterable[SyncableState]
) -> list[StateEffect]:
    by_type: dict[str, list[SyncableState]] = {}
    for entry in entries:
        by_type.setdefault(entry.state_type, []).append(entry)
    return [kind(state_type, tuple(of_type)) for state_type, of_type in by_type.items()]


def _merged_per_type(effects: list[StateEffect]) -> list[StateEffect]:
    """One `Applied` and one `Forgotten` per state type, in the place of the first of each."""
    entries: dict[tuple[type, str], list[SyncableState]] = {}
    for effect in effects:
        if isinstance(effect, Applied | Forgotten):
            entries.setdefault((type(effect), effect.state_type), []).extend(effect.entries)
    out: list[StateEffect] = []
    for effect in effects:
        if not isinstance(effect, Applied | Forgotten):
            out.append(effect)
            continue
        slot = (type(effect), effect.state_type)
        if slot in entries:
            out.append(type(effect)(effect.state_type, tuple(entries.pop(slot))))
    return out


def _merge(deltas: list[OwnerDelta]) -> OwnerDelta:
    """Consecutive deltas of one owner's life as one: the union of their ranges, the latest entry per key."""
    latest = {(e.state_type, e.key): e for delta in deltas for e in delta.states}
    first, last = deltas[0], deltas[-1]
    states = tuple(sorted(latest.values(), key=lambda e: e.version))
    return OwnerDelta(first.owner, first.generation, first.after, last.through, False, last.floor, states)
