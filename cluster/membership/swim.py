"""The SWIM failure detector with Lifeguard, as a pure core (architecture §3 "Membership").

Each probe interval the node pings the next member of a shuffled round-robin list. With no ack within
the probe timeout it asks `indirect_checks` other members to ping the target for it (`ping-req`); they
answer with an ack relayed from the target or a nack. With no ack by the end of the probe interval the
target is suspected. A suspicion becomes a death when its timer runs out; the timer starts long and
shrinks with independent confirmations (Lifeguard). The suspect refutes by announcing itself alive at a
higher incarnation; a ping to a suspect carries the suspicion, so the suspect hears of it at once.

A probe whose target's address answers "port unreachable" (ICMP, reported by the transport) needs no
waiting: nothing listens there, so the probe goes indirect at once, helpers that get the same answer nack
at once, and the suspicion that follows is cut to `unreachable_suspicion_timeout`. SIGSTOP, partitions and
loss give no such answer and keep Lifeguard's timings; see `port_unreachable`.

Lifeguard's local health (awareness) stretches this node's own probe interval and timeouts after missed
nacks and refutations, so a node starved of CPU probes less and accuses less.

Membership news (alive, suspect, dead, leave) rides on probe traffic: a transmit-limited queue hands out
each update a bounded number of times, packed into compound datagrams within the UDP budget.

Like every core, it takes the time as an argument and returns effects; randomness comes from the
`random.Random` it is given. Sources: SWIM (Das, Gupta, Motivala, 2002); Lifeguard (Dadgar, Phillips,
Currey, 2018); memberlist's state.go for the probe/ack/nack sequence.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from itertools import chain, islice

from cluster.core.effects import Address, CancelTimer, Emit, Send, SendDatagram, StartTimer
from cluster.core.events import MemberAliveEvent, MemberFailedEvent, MemberJoinedEvent, MemberSuspectEvent
from cluster.layout.presets import Timings
from cluster.membership.admission import info_refusal, refusal
from cluster.membership.awareness import REFUTED, SUCCESSFUL_PROBE, Awareness, failed_probe_delta
from cluster.membership.dissemination import Dissemination, GossipTick
from cluster.membership.formulas import push_pull_interval
from cluster.membership.members import CHUNK_BITS, CHUNK_MASK, GONE, Change, Member, MemberTable, State
from cluster.membership.stats import MembershipStats
from cluster.membership.suspicion import Suspicion
from cluster.wire.codec import CodecError, encode
from cluster.wire.compound import CodecCache, unpack
from cluster.wire.messages import (
    Alive,
    Dead,
    Join,
    Leave,
    MemberRecord,
    MemberSync,
    Nack,
    NodeInfo,
    Ping,
    PingAck,
    PingReq,
    Suspect,
    WireMessage,
)

_LIVE = frozenset((State.ALIVE, State.SUSPECT))
_NEWS = frozenset((Alive, Join, Suspect, Dead, Leave))
"""What may change the member table, and so passes admission first."""
_ALIVE = State.ALIVE.value
_STATE_VALUE = {state: state.value for state in State}  # `.value` is a property call on every enum member

_SCAN_UP_TO = 64
"""Up to this many table positions, random choices of members scan the table (see `Membership._sample`)."""

GREETED_SEEDS = 3
"""Seeds a node greets when it starts, and again at each seed retry among those it still does not know."""

GREET_ALL_UP_TO = 24
"""Up to this many other seeds, a node greets them all at start: a few hundred datagrams in all, and
everyone knows everyone within a round trip instead of a push-pull later."""


@dataclass(frozen=True, slots=True)
class PushPullTick:
    """Timer key: exchange whole member lists with one random member (anti-entropy)."""


@dataclass(frozen=True, slots=True)
class ProbeTick:
    """Timer key: time to probe the next member."""


@dataclass(frozen=True, slots=True)
class ProbeTimeout:
    """Timer key: the direct ack for probe `seq` is late; go indirect."""

    seq: int


@dataclass(frozen=True, slots=True)
class ProbeDeadline:
    """Timer key: the probe period of `seq` is over; no ack means suspect."""

    seq: int


@dataclass(frozen=True, slots=True)
class RelayTimeout:
    """Timer key: as an intermediary, no ack from the target for `seq`: nack the asker."""

    seq: int


@dataclass(frozen=True, slots=True)
class SuspicionTimeout:
    member: str
    incarnation: int


@dataclass(frozen=True, slots=True)
class SeedRetry:
    """Timer key: say hello again to layout seeds we do not see as alive (heals partitions)."""


MembershipTimer = (
    ProbeTick
    | ProbeTimeout
    | ProbeDeadline
    | RelayTimeout
    | SuspicionTimeout
    | GossipTick
    | SeedRetry
    | PushPullTick
)
"""Every timer key the membership core arms; `timer` takes exactly these."""

MembershipEffect = SendDatagram | Send | Emit | StartTimer | CancelTimer


@dataclass(slots=True)
class _Probe:
    target: str
    started: float
    indirect: bool = False
    nacks_expected: int = 0
    nacks: int = 0


@dataclass(slots=True)
class _Relay:
    asker: Address
    asker_seq: int
    target: str


@dataclass(slots=True)
class _Round:
    order: list[str] = field(default_factory=list)
    index: int = 0


class Membership:
    """Pure core of the membership actor."""

    def __init__(
        self,
        local: NodeInfo,
        seeds: Mapping[str, Address],
        timings: Timings,
        rng: random.Random,
        now: float,
        *,
        streams_need_peering: bool = False,
        codec_cache: CodecCache | None = None,
        events: Collection[str] | None = None,
        admitted: Mapping[str, Address] | None = None,
    ) -> None:
        """`streams_need_peering`: push-pull goes only to members with a TCP peering (a live node, whose
        streams ride on the handshaken connections of the layout); the simulator can reach anyone.
        `codec_cache`: parts decoded and news encoded before (the simulator shares one among its cores).
        `events`: the names of the events to raise (None: all); the simulator keeps a few, and a
        10,000-node start would otherwise build 10^8 `member_joined` only to drop them.
        `admitted`: the names that may be members, each at its address (the layout's nodes); news of any
        other, or at another address, is refused (`cluster.membership.admission`). None admits anyone."""
        self.timings = timings
        self.table = MemberTable(local, now=now)
        self._name = local.name
        self._cache = codec_cache if codec_cache is not None else CodecCache()
        # Held, not copied (the caller does not change it): 10,000 simulated nodes share one layout's map.
        self._seeds = seeds
        self._admitted = admitted
        self._other_seeds = len(seeds) - (local.name in seeds)
        self._rng = rng
        self._awareness = Awareness(timings.awareness_max_multiplier)
        self._news = Dissemination(timings, self._cache)
        self._round = _Round()
        self._seq = 0
        self._probes: dict[int, _Probe] = {}
        self._relays: dict[int, _Relay] = {}
        self._suspicions: dict[str, Suspicion] = {}
        self._unreachable: dict[str, float] = {}  # member -> when its address last answered "unreachable"
        self._stream_peers: set[str] | None = set() if streams_need_peering else None
        # Greetings are datagrams and seeds start in any order: retry soon, backing off to push-pull's pace
        # while retrying finds nobody new (`_retry_seeds`).
        self._seed_retry = timings.probe_interval
        self._missing_at_retry: int | None = None  # seeds missing at the last retry
        self.stats = MembershipStats()
        # A small cluster greets everyone: N² greetings cost nothing there, and it knows everyone at once.
        few = self._other_seeds <= GREET_ALL_UP_TO
        in_order = (name for name in seeds if name != local.name)
        self._greeted: tuple[str, ...] = tuple(in_order if few else islice(in_order, GREETED_SEEDS))
        self._synced = False  # whether this node has started a push-pull yet
        self._wanted = None if events is None else frozenset(events)
        self._all_seeds_in: MemberTable | None = None  # the last table found to hold every seed
        self._chunk_records: dict[int, tuple[tuple[Member | None, ...], tuple[MemberRecord, ...]]] = {}

    # -- queries --------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def health_score(self) -> int:
        return self._awareness.score

    def members(self) -> list[Member]:
        return sorted(self.table, key=lambda member: member.name)

    def reachable(self) -> tuple[tuple[str, Address], ...]:
        """The members worth talking to (alive or suspect: a suspect may yet refute), this node included,
        by name: who replicated state goes to, and whose entries count as live."""
        return tuple((m.name, _address(m)) for m in self.members() if m.state not in GONE)

    def reachable_generations(
        self,
    ) -> tuple[tuple[tuple[str, Address], ...], tuple[tuple[str, int], ...]]:
        """`reachable`, and the generation of each of those members as its life announced it (replicated
        state takes no later generation of a member's entries: `StateGossip._unproven`), from one pass."""
        live = [m for m in self.members() if m.state not in GONE]
        return tuple((m.name, _address(m)) for m in live), tuple((m.name, m.info.generation) for m in live)

    @property
    def broadcasts_queued(self) -> int:
        """Membership news waiting for its retransmissions (memberlist's `queue.broadcasts`)."""
        return len(self._news)

    @property
    def version(self) -> tuple[MemberTable, int]:
        """Changes whenever what `members` and `health_score` show does (tables are immutable values):
        the shell republishes only then, since probes and acks change nothing most of the time."""
        return (self.table, self._awareness.score)

    # -- inputs ---------------------------------------------------------------------------------

    def start(self, now: float) -> list[MembershipEffect]:
        """Announce ourselves to a few seeds and start probing.

        Only a few: every node of a layout is a seed, and N nodes each greeting all N others was N² joins
        and N² answers at once, which starved a 101-node start of CPU until probes timed out. The seeds
        greeted pass the news on by gossip, and the first push-pull brings the whole table, as a memberlist
        join through one address does. They are the first of the layout (in Zeek's shape the manager and
        the loggers, whom most nodes peer with over TCP): so they soon know everyone, and the first
        push-pull with one of them brings a joiner the whole table."""
        effects = self._greet_seeds(list(self._greeted))
        effects.append(StartTimer(ProbeTick(), now + self._scaled(self.timings.probe_interval)))
        effects.append(StartTimer(SeedRetry(), now + self._seed_retry))
        # The first push-pull comes as soon as the TCP peerings are likely up: it is the join's full sync.
        effects.append(StartTimer(PushPullTick(), now + self.timings.probe_interval))
        return effects

    def stream(self, peer: str, message: WireMessage, now: float) -> list[MembershipEffect]:
        """A message that came over the TCP peering with `peer`: the membership push-pull."""
        if not isinstance(message, MemberSync) or message.source == self.name:
            return []
        # Members never heard of go in first, together (see `_met`); the rest follow in order. A name
        # can come twice only in a malformed list: its first record is then taken as a stranger's, and
        # the second as news about a member we hold.
        # Most of a push-pull between members of a formed cluster is what both hold already (old news,
        # as `_received` would judge it): skipped at once, without building the alive news first. It is
        # judged against the table before the exchange, so a name met earlier in the list (a malformed
        # one, whose earlier record may have changed that member) goes the long way.
        seen: set[str] = set()
        strangers: dict[str, NodeInfo] = {}
        rest: list[MemberRecord] = []
        # Members the partner holds alive, no fresher than we do: `Dissemination.known_to_partner` takes
        # those it holds just as we do as contacts that already knew their joins (only while the news
        # queue is crowded, so only looked for then).
        knew: list[NodeInfo] | None = [] if self._news.crowded() else None
        positions, span, chunks = self.table.lookup()
        me = self._name
        meta_max = self.timings.meta_max_size
        for record in message.members:
            info = record.member
            name = info.name
            alive = record.state == _ALIVE
            repeated = name in seen
            seen.add(name)
            # `table.get`, inlined: a push-pull of a 10,000-member table calls it 10,000 times.
            position = positions.get(name, span)
            known = chunks[position >> CHUNK_BITS][position & CHUNK_MASK] if position < span else None
            if known is None:
                if (
                    alive
                    and name not in strangers
                    and name != message.source
                    # (metadata without tags and short enough needs no closer look)
                    and not (
                        (info.tags or len(info.role) + len(info.host) > meta_max)
                        and self._meta_too_large(info)
                    )
                ):
                    reason = info_refusal(info, self.table, self._admitted)
                    if reason is not None:
                        self.stats.refused[reason] += 1
                        continue
                    strangers[name] = info
                    continue
            elif (
                alive
                and not repeated
                and known.state in _LIVE
                and info.incarnation <= known.info.incarnation
                and info.node_id == known.info.node_id
                and name != me
            ):
                if knew is not None:
                    knew.append(info)
                continue
            rest.append(record)
        if knew:
            self._news.known_to_partner(knew)
        effects: list[MembershipEffect] = self._met(list(strangers.values()), now)
        for record in rest:
            effects += self._merge(record, message.source, now)
        if not message.reply:
            self.stats.push_pulls_answered += 1
            effects.append(Send(peer, self._sync(reply=True)))
        return self._arm_gossip(effects, now)

    def leave(self, now: float) -> list[MembershipEffect]:
        """Graceful leave: a dead message about ourselves, sent straight to every live member."""
        self.table = self.table.leave()
        local = self.table.local
        self.table, change = self.table.dead(local.name, local.incarnation, local.name, now)
        message = Leave(local.name, local.incarnation)
        effects = self._events(change)
        payload = encode(message)
        effects += [
            SendDatagram(_address(m), payload)
            for m in self.table.in_state(State.ALIVE, State.SUSPECT)
            if m.name != self.name
        ]
        return effects

    def timer(self, key: object, now: float) -> list[MembershipEffect]:
        return self._arm_gossip(self._timer(key, now), now)

    def _timer(self, key: object, now: float) -> list[MembershipEffect]:
        match key:
            case GossipTick():
                return self._gossip_round(now)
            case PushPullTick():
                effects: list[MembershipEffect] = [
                    StartTimer(PushPullTick(), now + self._push_pull_interval())
                ]
                partner = self._push_pull_partner()
                if partner is not None:
                    self._synced = True
                    self.stats.push_pulls += 1
                    effects.append(Send(partner.name, self._sync(reply=False)))
                return effects
            case ProbeTick():
                return self._probe_next(now)
            case ProbeTimeout(seq):
                return self._go_indirect(seq, now)
            case ProbeDeadline(seq):
                return self._conclude(seq, now)
            case RelayTimeout(seq):
                relay = self._relays.pop(seq, None)
                return [] if relay is None else self._send(relay.asker, Nack(relay.asker_seq, self.name))
            case SuspicionTimeout(member, incarnation):
                return self._suspicion_expired(member, incarnation, now)
            case SeedRetry():
                return self._retry_seeds(now)
        return []

    def _push_pull_partner(self) -> Member | None:
        """A random alive member that push-pull can reach (over a TCP peering, in a live node).

        The first exchange goes to a greeted seed if one can be reached: it is the one likeliest to know
        everyone by now (see `start`). Later ones draw from the whole table (`_sample`) rather than list
        it: a list of every alive member at each push-pull was a tenth of a simulated 1,000-node
        cluster's push-pull round."""
        name, peers = self._name, self._stream_peers

        def candidate(m: Member) -> bool:
            return m.state is State.ALIVE and m.name != name and (peers is None or m.name in peers)

        if not self._synced:
            others = [m for m in self.table if candidate(m)]
            seeds = [m for m in others if m.name in self._greeted]
            return self._rng.choice(seeds or others) if others else None
        table = self.table
        # Without a peering to require, every alive member but this node is a candidate.
        known = 0 if peers is not None else table.count(State.ALIVE) - (table.local.state is State.ALIVE)
        chosen = self._sample(candidate, 1, known)
        return chosen[0] if chosen else None

    def _retry_seeds(self, now: float) -> list[MembershipEffect]:
        """Greet a few of the seeds we do not see as alive; back off only while that finds nobody new.

        Every member of a layout is a seed, so the missing seeds are the members whose join news has not
        reached us, and greeting one brings its answer within a round trip. A rumour can die before it
        reaches us (joins give way in a crowded queue, and a saturated start drops datagrams): a retry
        that doubled whatever happened left a 101-node start with a few such pairs until the retries 8
        and 16 s in, where Serf converged 2 s after the last launch. While fewer seeds are missing at
        each retry the cluster is still forming, and the retry keeps the probe interval; a seed that
        stays missing (down, or not started) backs it off to push-pull's pace, as before."""
        missing = self._missing_seeds()
        effects = self._greet_seeds(self._some(missing))
        forming = self._missing_at_retry is not None and len(missing) < self._missing_at_retry
        self._missing_at_retry = len(missing)
        if not missing:
            self._seed_retry = self.timings.push_pull_interval
        elif forming:
            self._seed_retry = self.timings.probe_interval
        else:
            self._seed_retry = min(2 * self._seed_retry, self.timings.push_pull_interval)
        return [*effects, StartTimer(SeedRetry(), now + self._seed_retry)]

    def _missing_seeds(self) -> list[str]:
        """The seeds we do not see as alive. Tables are immutable values, and none changes while nothing
        happens: a table already found to hold every seed is not scanned again (each node of a simulated
        1,000-node cluster scanning 1,000 seeds at every retry was half of the simulator's idle cost)."""
        if self.table is self._all_seeds_in:
            return []
        table = self.table
        missing = [n for n in table.missing(self._seeds) if n != self._name]
        self._all_seeds_in = None if missing else table
        return missing

    def peer_up_hint(self, name: str, now: float) -> list[MembershipEffect]:
        """A TCP peering is up: push-pull can reach that member. A seed we do not know, or hold as dead,
        is there after all (it did not listen yet when we greeted it, or a partition healed), so it is
        greeted now rather than at the next seed retry: its answer, or its refutation of the death we
        then tell it of, brings it back within round trips. (Syncing with it at once as well made 101
        nodes push-pull with the same three seeds in the same instant, and the start storm with it.)"""
        if self._stream_peers is not None:
            self._stream_peers.add(name)
        member = self.table.get(name)
        effects: list[MembershipEffect] = []
        if name in self._seeds and name != self._name and (member is None or member.state is State.DEAD):
            # Unknown: our greeting reached it before it listened (all nodes start at once), or its
            # answer was lost; the peering says it is there now.
            effects += self._greet_seeds([name])
        return self._arm_gossip(effects, now)

    def peer_down_hint(self, name: str, now: float) -> list[MembershipEffect]:
        """A TCP peering reset: probe that member now instead of in its turn. Never a verdict by itself."""
        if self._stream_peers is not None:
            self._stream_peers.discard(name)
        member = self.table.get(name)
        if member is None or member.state in GONE or name == self.name:
            return []
        if any(probe.target == name for probe in self._probes.values()):
            return []
        return self._arm_gossip(self._probe(member, now), now)

    def port_unreachable(self, address: Address, now: float) -> list[MembershipEffect]:
        """A datagram to `address` drew "port unreachable": no process is bound to that member's port.

        That is what a crashed member looks like from its host's kernel, and what a stopped (SIGSTOP),
        partitioned or overloaded one never does: their sockets stay bound, so they keep Lifeguard's full
        timings. Without this, kill -9 waits out the same suspicion floor as a silent member (memberlist
        has no use for ICMP). What it changes, and why each is safe:

        - a direct probe of the member stops waiting for its ack and goes indirect at once; the helpers
          still have to fail too, so our own broken path cannot accuse anyone alone;
        - a helper relaying a ping to it nacks at once instead of at its relay timeout;
        - a suspicion of it, running or raised within two probe intervals, is cut to
          `unreachable_suspicion_timeout`. A restarted process at the same address has a new id and
          takes the name over by itself; the cut only ends the old life sooner.

        The evidence alone never suspects anyone: a datagram that went astray to a reused port must not.
        """
        member = next(
            (m for m in self.table if (m.info.host, m.info.port) == address and m.state not in GONE), None
        )
        if member is None or member.name == self.name:
            return []
        self._unreachable[member.name] = now
        effects: list[MembershipEffect] = []
        for seq, probe in list(self._probes.items()):
            if probe.target == member.name and not probe.indirect:
                effects += [CancelTimer(ProbeTimeout(seq)), *self._go_indirect(seq, now)]
        for seq, relay in list(self._relays.items()):
            if relay.target == member.name:
                del self._relays[seq]
                effects += [
                    CancelTimer(RelayTimeout(seq)),
                    *self._send(relay.asker, Nack(relay.asker_seq, self.name)),
                ]
        effects += self._cut_suspicion(member.name, now)
        return self._arm_gossip(effects, now)

    def datagram(self, source: Address, payload: bytes, now: float) -> tuple[list[MembershipEffect], int]:
        """Handle one datagram; returns the effects and how many of its parts were dropped as garbage."""
        self.stats.datagrams_received += 1
        try:
            result = unpack(payload, max_size=self.timings.udp_buffer_size, cache=self._cache)
        except CodecError:
            self.stats.datagrams_dropped += 1
            return [], 1
        self.stats.datagrams_dropped += result.dropped
        effects: list[MembershipEffect] = []
        for message in result.messages:
            if type(message) is Alive and self._old_news(message.member):
                # Neither stale (alive news) nor new: the bulk of a large cluster's parts. If we are
                # passing it on too, the sender shows it is spreading without us.
                self._news.heard(message.member.name, message)
                continue
            effects += self._correct_stale(source, message)
            effects += self._received(source, message, now)
        return self._arm_gossip(effects, now), result.dropped

    def _old_news(self, info: NodeInfo) -> bool:
        """Alive news about a live member at no higher incarnation of the same life: changes nothing.

        Alive never wins at an equal incarnation, and a live member has no stale view to reveal (the
        rules of `_received` agree); most of what a large cluster's datagrams carry is this."""
        known = self.table.get(info.name)
        return (
            known is not None
            and known.state in _LIVE
            and info.incarnation <= known.info.incarnation
            and info.node_id == known.info.node_id
            and info.name != self._name
        )

    def received(self, source: Address, message: WireMessage, now: float) -> list[MembershipEffect]:
        effects = self._correct_stale(source, message)
        return self._arm_gossip(effects + self._received(source, message, now), now)

    def _correct_stale(self, source: Address, message: WireMessage) -> list[MembershipEffect]:
        """A suspicion or death of a member we know alive at a higher incarnation: its sender missed the
        refutation, so it gets it from us, straight back.

        A refutation is gossiped a bounded number of times, so a node can miss all of them, and stale news
        of the death it missed still circulates (after a partition heals, every node of the other side
        holds it). Without this the node that missed it can take that stale news as fresh, declare a live
        member dead, and stay wrong until a push-pull happens to pair it with someone who knows better.
        Each stale message draws at most one answer, and stale news is itself retransmit-limited.

        An accusation of this node at an incarnation it has already refuted is answered the same way, by
        the node itself. Lifeguard's buddy system sends the suspect the suspicion it is held under, so that
        it can refute at once; but a suspecter that missed the refutation sends it at the old incarnation,
        which the suspect ignored as old, and its ack carried no refutation once that had left the queue.
        The suspecter then failed a node that had answered every probe (a 10-minute soak lost a node that
        way, 33.5 s after 9 of its 10 neighbours had heard it refute).
        """
        match message:
            case Suspect(member, incarnation, _by) | Dead(member, incarnation, _by):
                known = self.table.get(member)
                if known is None or known.incarnation <= incarnation:
                    return []
                ours = member == self.name
                if (ours and not self.table.leaving) or (not ours and known.state is State.ALIVE):
                    self.stats.corrections += 1
                    return self._send(source, Alive(known.info))
        return []

    def _received(self, source: Address, message: WireMessage, now: float) -> list[MembershipEffect]:
        if type(message) is Alive and self._old_news(message.member):
            return []
        if type(message) in _NEWS and self._refused(message):
            return []
        match message:
            case Ping(seq, _source, target):
                if target != self.name:
                    return []
                return self._send(source, PingAck(seq, self.name))
            case PingAck(seq, _source):
                return self._on_ack(seq, now)
            case Nack(seq, _source):
                probe = self._probes.get(seq)
                if probe is None:
                    return []
                probe.nacks += 1
                self.stats.nacks_received += 1
                if probe.nacks < probe.nacks_expected:
                    return []
                # Every helper has already given up on the target, so no indirect ack can still come:
                # conclude now rather than at the end of the probe period (memberlist waits it out).
                return [CancelTimer(ProbeDeadline(seq)), *self._conclude(seq, now)]
            case PingReq(seq, _source, target, _intermediary):
                return self._relay(source, seq, target, now)
            case Alive(info) if self._meta_too_large(info):
                return []
            case Join(info) if self._meta_too_large(info):
                return []
            case Join(info):
                # A greeting, sent only by the joiner itself: answered with our own, so that both sides
                # know each other at once (memberlist gets there with a push-pull on join). What we pass
                # on is the plain alive news, so that nobody else answers it.
                effects = self._apply(self.table.alive(info, now), Alive(info), now)
                if info.name != self.name:
                    effects += self._send(source, Alive(self.table.local.info))
                return effects + self._reveal_stale_view(info)
            case Alive(info):
                effects = self._apply(self.table.alive(info, now), message, now)
                return effects + self._reveal_stale_view(info)
            case Suspect(member, incarnation, by):
                return self._apply(self.table.suspect(member, incarnation, by, now), message, now, source)
            case Dead(member, incarnation, by):
                return self._apply(self.table.dead(member, incarnation, by, now), message, now, source)
            case Leave(member, incarnation):
                return self._apply(self.table.dead(member, incarnation, member, now), message, now)
        return []

    # -- probing --------------------------------------------------------------------------------

    def _probe_next(self, now: float) -> list[MembershipEffect]:
        effects: list[MembershipEffect] = [
            StartTimer(ProbeTick(), now + self._scaled(self.timings.probe_interval))
        ]
        target = self._next_target()
        if target is not None:
            effects += self._probe(target, now)
        return effects

    def _next_target(self) -> Member | None:
        """Round robin over a shuffled list; a new round reshuffles (SWIM §4.3)."""
        for _ in range(2):
            while self._round.index < len(self._round.order):
                name = self._round.order[self._round.index]
                self._round.index += 1
                member = self.table.get(name)
                if member is not None and member.state not in GONE and name != self.name:
                    return member
            order = [m.name for m in self.table if m.name != self.name and m.state not in GONE]
            self._rng.shuffle(order)
            self._round = _Round(order)
            if not order:
                return None
        return None

    def _probe(self, target: Member, now: float) -> list[MembershipEffect]:
        seq = self._next_seq()
        self._probes[seq] = _Probe(target.name, now)
        self.stats.probes_sent += 1
        extra: list[bytes] = []
        if target.state is State.SUSPECT:
            # Lifeguard: tell the suspect it is suspected, so that it can refute at once.
            extra.append(encode(Suspect(target.name, target.incarnation, target.by or self.name)))
        effects = self._send(_address(target), Ping(seq, self.name, target.name), extra)
        # memberlist scales the probe period by local health, not the ack timeout (state.go probeNode).
        effects.append(StartTimer(ProbeTimeout(seq), now + self.timings.probe_timeout))
        return effects

    def _go_indirect(self, seq: int, now: float) -> list[MembershipEffect]:
        probe = self._probes.get(seq)
        if probe is None:
            return []
        chosen = self._helpers(probe.target)
        probe.nacks_expected = len(chosen)
        probe.indirect = True
        self.stats.probes_indirect += 1
        # The end of the probe period is armed only now: most probes are acked in time and never need it.
        # Helpers nack only after their own probe timeout: the period must outlast that, or every nack
        # would arrive late and count against our own health (memberlist's TCP fallback wait gives them
        # this time). With all nacks in, the probe concludes at once anyway.
        deadline = max(
            probe.started + self._scaled(self.timings.probe_interval), now + 2 * self.timings.probe_timeout
        )
        effects: list[MembershipEffect] = [StartTimer(ProbeDeadline(seq), deadline)]
        for helper in chosen:
            effects += self._send(_address(helper), PingReq(seq, self.name, probe.target, helper.name))
        return effects

    def _on_ack(self, seq: int, now: float) -> list[MembershipEffect]:
        relay = self._relays.pop(seq, None)
        if relay is not None:
            return [
                *self._send(relay.asker, PingAck(relay.asker_seq, self.name)),
                CancelTimer(RelayTimeout(seq)),
            ]
        probe = self._probes.pop(seq, None)
        if probe is None:
            return []
        self._unreachable.pop(probe.target, None)
        self.stats.probes_acked += 1
        self.stats.probe_seconds += now - probe.started
        # Concluded at once (memberlist's probeNode returns on the ack): the probe's timers are moot.
        self._awareness = self._awareness.apply(SUCCESSFUL_PROBE)
        return [CancelTimer(ProbeDeadline(seq) if probe.indirect else ProbeTimeout(seq))]

    def _conclude(self, seq: int, now: float) -> list[MembershipEffect]:
        probe = self._probes.pop(seq, None)
        if probe is None:
            return []
        self.stats.probes_failed += 1
        # Lifeguard: missing nacks mean our own network or process is the likelier culprit.
        self._awareness = self._awareness.apply(failed_probe_delta(probe.nacks_expected, probe.nacks))
        target = self.table.get(probe.target)
        if target is None or target.state in GONE:
            return []
        # Of a member already suspected, our own failed probe is an independent confirmation (memberlist's
        # suspectNode confirms the running timer and re-gossips): without it only the accuser's probe
        # counts, and a crash waits out nearly the maximum suspicion timeout.
        return self._suspect(target.name, target.incarnation, self.name, now)

    def _relay(self, asker: Address, asker_seq: int, target_name: str, now: float) -> list[MembershipEffect]:
        target = self.table.get(target_name)
        if target is None or target.state in GONE:
            return self._send(asker, Nack(asker_seq, self.name))
        seq = self._next_seq()
        self._relays[seq] = _Relay(asker, asker_seq, target_name)
        self.stats.relays += 1
        effects = self._send(_address(target), Ping(seq, self.name, target_name))
        effects.append(StartTimer(RelayTimeout(seq), now + self.timings.probe_timeout))
        return effects

    # -- news -----------------------------------------------------------------------------------

    def _apply(
        self,
        outcome: tuple[MemberTable, Change],
        message: WireMessage,
        now: float,
        source: Address | None = None,
    ) -> list[MembershipEffect]:
        """`source`: the sender of an accusation, which a refutation of it is sent to straight back (None:
        news of our own making, or merged from a push-pull, which has no sender to answer)."""
        self.table, change = outcome
        effects: list[MembershipEffect] = []
        if change.refute:
            self.table = self.table.refuted(change.refute_above)
            self.stats.refutations += 1
            self._awareness = self._awareness.apply(REFUTED)
            refutation = Alive(self.table.local.info)
            # The sender holds the accusation and runs a timer on it: it gets the refutation at once, not
            # only if gossip happens to pick it (sent before it is queued, so the datagram does not carry
            # it twice). Later senders of the old accusation are answered by `_correct_stale`.
            if source is not None:
                effects += self._send(source, refutation)
            self._gossip(self.name, refutation)
            return effects
        if change.confirmed_by is not None:
            return self._confirm(change, message, now)
        if change.gossip:
            member = change.member
            assert member is not None
            # A join of a name never held: a new life of a held name outbids the old one, which others
            # may hold suspect, so its news clears an accusation and keeps the full count.
            join = change.event is MemberJoinedEvent and change.previous is None
            self._news.queue(member.name, message, join=join)
        effects += self._events(change)
        effects += self._track_suspicion(change, now)
        return effects

    def _refused(self, message: WireMessage) -> bool:
        """Whether news must be refused (`cluster.membership.admission`); counted by reason if so."""
        reason = refusal(message, self.table, self._admitted)
        if reason is None:
            return False
        self.stats.refused[reason] += 1
        return True

    def _suspect(self, name: str, incarnation: int, by: str, now: float) -> list[MembershipEffect]:
        """A suspicion with no sender: our own, or merged from a push-pull."""
        return self._apply(
            self.table.suspect(name, incarnation, by, now), Suspect(name, incarnation, by), now
        )

    def _meta_too_large(self, info: NodeInfo) -> bool:
        """Node metadata (role, host, tags) is bounded, as memberlist's MetaMaxSize: news that carries
        more is dropped rather than let one member bloat every datagram."""
        size = len(info.role) + len(info.host)
        if info.tags:
            size += sum(len(k) + len(v) for k, v in info.tags)
        return size > self.timings.meta_max_size

    def _met(self, strangers: list[NodeInfo], now: float) -> list[MembershipEffect]:
        """Members a push-pull told us of whom we never heard: joined, and not gossiped on.

        Anti-entropy repairs what rumours missed; it does not start rumours (Demers et al., "Epidemic
        Algorithms for Replicated Database Maintenance", PODC 1987: rumour mongering spreads an update,
        anti-entropy backs it up). A join's rumour is started by whoever the joiner greeted and by the
        joiner's own push-pull (its record of itself still goes through `_merge`), and those who hear it
        by gossip pass it on. memberlist gossips every member a push-pull brings (mergeState calls
        aliveNode), so in a start of N nodes, each learning most of the others from its first push-pull,
        every node sent N updates a retransmit limit of times each, long after all had formed: in a
        simulated 1,000-node start, 1,299 datagrams per node over 100 probe periods, where this sends 372.
        The strangers go into the table in one step (`MemberTable.joined`)."""
        self.table, joined = self.table.joined(strangers, now)
        if self._wanted is not None and MemberJoinedEvent.NAME not in self._wanted:
            return []  # `_events` would raise none, and counts no joins
        return [effect for member in joined for effect in self._events(Change(MemberJoinedEvent, member))]

    def _merge(self, record: MemberRecord, source: str, now: float) -> list[MembershipEffect]:
        """memberlist's mergeState: a death we did not witness is only a suspicion to us."""
        info = record.member
        if record.state == _ALIVE:
            return self._received(_address_of(info), Alive(info), now)
        if record.state == State.LEFT.value:
            return self._received(_address_of(info), Leave(info.name, info.incarnation), now)
        if record.state in (State.SUSPECT.value, State.DEAD.value) and self.table.get(info.name) is not None:
            # The record's address is the member's (perhaps of an earlier life of our name), not the
            # partner's: a refutation goes by gossip, not there.
            if self._refused(Suspect(info.name, info.incarnation, source)):
                return []
            return self._suspect(info.name, info.incarnation, source, now)
        return []

    def _sync(self, *, reply: bool) -> MemberSync:
        """The whole table as records, built per chunk of the table and kept per chunk.

        A table shares every chunk but the one a change copied with the table it grew from
        (`MemberTable.chunks`), so only the records of changed chunks are built again: a seed of a
        simulated 10,000-node start answers some 3,000 push-pulls while its table changes between each,
        and built all 10,000 records for each answer."""
        held = self._chunk_records
        kept: dict[int, tuple[tuple[Member | None, ...], tuple[MemberRecord, ...]]] = {}
        parts: list[tuple[MemberRecord, ...]] = []
        for chunk in self.table.chunks:
            entry = held.get(id(chunk))
            if entry is None or entry[0] is not chunk:  # (the chunk is held with its id: never reused)
                records = tuple(MemberRecord(m.info, _STATE_VALUE[m.state]) for m in chunk if m is not None)
                entry = (chunk, records)
            kept[id(chunk)] = entry
            parts.append(entry[1])
        self._chunk_records = kept
        return MemberSync(self.name, tuple(chain.from_iterable(parts)), reply)

    def _push_pull_interval(self) -> float:
        return push_pull_interval(self.timings.push_pull_interval, max(self.table.live_count(), 1))

    def _reveal_stale_view(self, info: NodeInfo) -> list[MembershipEffect]:
        """A member we hold as dead speaks up at an incarnation we already buried: tell it so.

        After a partition heals, each side holds the other as dead at the incarnation it last heard, and
        a greeting at that same incarnation cannot win (alive never beats dead at equal incarnation). The
        member learns of its death, refutes it at a higher incarnation, and that news does win; memberlist
        reaches the same point through the full state exchange of push-pull.

        It is told at its own address, whoever passed its alive news on: told to a relayer, the death was
        news to the relayer, by us, and a member that had only just left gracefully was failed there. A
        member that left is not told anything: it is gone by its own choice, and a new life of it comes
        with a new id.
        """
        known = self.table.get(info.name)
        if known is None or known.state is not State.DEAD or known.info.node_id != info.node_id:
            return []
        if known.incarnation < info.incarnation:
            return []
        return self._send(_address(known), Dead(info.name, known.incarnation, self.name))

    def _track_suspicion(self, change: Change, now: float) -> list[MembershipEffect]:
        member = change.member
        if member is None:
            return []
        if member.state is not State.SUSPECT:
            self._suspicions.pop(member.name, None)
            if member.state is State.ALIVE:
                self._unreachable.pop(member.name, None)
            return []
        # Sized for the cluster the layout declares (every node of it is a seed, this one besides) when
        # that is larger than the members met so far.
        # memberlist sizes it by the members known (estNumNodes), which in a start of 101 nodes on two
        # cores is a handful: with n <= 3 no confirmation is expected and the timer runs at its 4 s floor,
        # while the suspected manager, busiest of all at the start, took 6 s to refute. It was failed by
        # 75 nodes; sized for 101 the floor is 8 s and two confirmations are expected.
        suspicion = Suspicion.begin(
            member=member.name,
            incarnation=member.incarnation,
            accuser=member.by,
            now=now,
            n_members=max(self.table.live_count(), self._other_seeds + 1),
            probe_interval=self.timings.probe_interval,
            suspicion_mult=self.timings.suspicion_mult,
            suspicion_max_timeout_mult=self.timings.suspicion_max_timeout_mult,
        )
        self._suspicions[member.name] = suspicion
        effects: list[MembershipEffect] = [
            StartTimer(SuspicionTimeout(member.name, member.incarnation), suspicion.deadline)
        ]
        if member.by == self.name:
            # Our own accusation: Lifeguard's buddy system tells the suspect on the next probe of it, which
            # round robin can put N periods away, past the timeout; told now, it answers with its
            # refutation straight back. Only the accuser tells: every node that took the suspicion on
            # telling it too sent a starved suspect N datagrams per suspicion (201 nodes took 11.5 minutes,
            # not 5.6, to reach cluster_started). The accusation alone: it is queued for gossip already,
            # and a piggyback would carry it twice.
            tell = Suspect(member.name, member.incarnation, self.name)
            effects.append(SendDatagram(_address(member), self._cache.encode(tell)))
        return effects + self._cut_suspicion(member.name, now)

    def _cut_suspicion(self, name: str, now: float) -> list[MembershipEffect]:
        """Cut the running suspicion of `name` if its port answered "unreachable" lately."""
        suspicion = self._suspicions.get(name)
        seen = self._unreachable.get(name)
        if suspicion is None or seen is None or now - seen > 2 * self.timings.probe_interval:
            return []
        cut = suspicion.cut(now + self.timings.unreachable_suspicion_timeout)
        if cut is suspicion:
            return []
        self._suspicions[name] = cut
        return [StartTimer(SuspicionTimeout(name, cut.incarnation), cut.deadline)]

    def _confirm(self, change: Change, message: WireMessage, now: float) -> list[MembershipEffect]:
        member = change.member
        assert member is not None and change.confirmed_by is not None
        suspicion = self._suspicions.get(member.name)
        if suspicion is None:
            return []
        suspicion, fresh = suspicion.confirm(change.confirmed_by)
        if not fresh:
            return []
        self._suspicions[member.name] = suspicion
        self._gossip(member.name, message)
        return [StartTimer(SuspicionTimeout(member.name, suspicion.incarnation), suspicion.deadline)]

    def _suspicion_expired(self, name: str, incarnation: int, now: float) -> list[MembershipEffect]:
        member = self.table.get(name)
        if member is None or member.state is not State.SUSPECT or member.incarnation != incarnation:
            return []
        return self._apply(
            self.table.dead(name, incarnation, self.name, now), Dead(name, incarnation, self.name), now
        )

    def _events(self, change: Change) -> list[MembershipEffect]:
        if change.event is None or change.member is None:
            return []
        member = change.member
        if change.event is MemberSuspectEvent:
            self.stats.suspicions += 1
        elif change.event is MemberAliveEvent:
            self.stats.suspicions_refuted += 1
        elif change.event is MemberFailedEvent:
            self.stats.members_failed += 1
        if self._wanted is not None and change.event.NAME not in self._wanted:
            return []
        accused = member.state in (State.SUSPECT, State.DEAD) and member.by
        event = change.event(
            member=member.name,
            id=member.info.node_id,
            incarnation=member.incarnation,
            by=member.by if accused else None,
        )
        return [Emit(event)]

    # -- sending --------------------------------------------------------------------------------

    def _arm_gossip(self, effects: list[MembershipEffect], now: float) -> list[MembershipEffect]:
        effects += self._news.arm(now)
        return effects

    def _gossip_round(self, now: float) -> list[MembershipEffect]:
        """memberlist's gossip(): queued news to `gossip_nodes` random members, one datagram each.

        Members declared dead recently are still candidates (memberlist's GossipToTheDeadTime, which
        equals the push-pull interval in all its presets): a member wrongly declared dead hears it and
        refutes, instead of waiting for the next seed retry.
        """
        recently = now - self.timings.push_pull_interval
        name = self._name

        def candidate(m: Member) -> bool:
            return m.name != name and (m.state not in GONE or (m.state is State.DEAD and m.since >= recently))

        others_live = self.table.live_count() - (self.table.local.state in _LIVE)
        chosen = self._sample(candidate, self.timings.gossip_nodes, others_live)
        return list(self._news.gossip([_address(member) for member in chosen], self.table.live_count()))

    def _helpers(self, target: str) -> list[Member]:
        """Up to `indirect_checks` alive members, other than us and `target`, for a ping-req."""
        name = self._name

        def candidate(m: Member) -> bool:
            return m.state is State.ALIVE and m.name != name and m.name != target

        table = self.table
        known = table.count(State.ALIVE)
        known -= table.local.state is State.ALIVE
        known -= (t := table.get(target)) is not None and t.state is State.ALIVE
        return self._sample(candidate, self.timings.indirect_checks, known)

    def _sample(self, candidate: Callable[[Member], bool], k: int, at_least: int) -> list[Member]:
        """`k` members for which `candidate` holds, chosen uniformly at random without replacement (all of
        them when there are fewer), in random order; `at_least` is how many of the members are known to be
        candidates.

        A small table, or one mostly of non-candidates, is scanned and sampled (`Random.sample`); a large
        one is drawn from by position, a draw that is not a candidate or was drawn already being drawn
        again. Both give every ordered choice of `k` candidates the same chance, but the second costs a few
        draws instead of a pass over 10,000 members on every gossip tick and every indirect probe."""
        table = self.table
        span = table.span
        if span <= _SCAN_UP_TO or at_least < k or 2 * at_least < span:
            pool = [m for m in table if candidate(m)]
            return self._rng.sample(pool, min(k, len(pool)))
        chosen: list[Member] = []
        seen: set[int] = set()
        randbelow = self._rng.randrange
        while len(chosen) < k:
            position = randbelow(span)
            if position in seen:
                continue
            seen.add(position)
            member = table.at(position)
            if member is not None and candidate(member):
                chosen.append(member)
        return chosen

    def _gossip(self, member: str, message: WireMessage) -> None:
        self._news.queue(member, message)

    def _greet_seeds(self, names: list[str]) -> list[MembershipEffect]:
        join = Join(self.table.local.info)
        effects: list[MembershipEffect] = []
        for name in names:
            effects += self._send(self._seeds[name], join)
        return effects

    def _some(self, seeds: list[str]) -> list[str]:
        """Up to `GREETED_SEEDS` of these, chosen at random (all of them in a small cluster)."""
        if len(seeds) <= GREETED_SEEDS or self._other_seeds <= GREET_ALL_UP_TO:
            return seeds
        return self._rng.sample(seeds, GREETED_SEEDS)

    def _send(
        self, address: Address, message: WireMessage, extra: list[bytes] | None = None
    ) -> list[MembershipEffect]:
        """One datagram: the message, then as much queued news as fits the budget."""
        return [self._news.datagram(address, message, self.table.live_count(), extra or ())]

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _scaled(self, interval: float) -> float:
        return self._awareness.scale(interval)


def _address(member: Member) -> Address:
    return _address_of(member.info)


def _address_of(info: NodeInfo) -> Address:
    return Address(info.host, info.port)
