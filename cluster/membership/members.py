"""The membership table and its precedence rules: which news about a member wins.

The rules are memberlist's (state.go: aliveNode, suspectNode, deadNode), read as a table:

    news            about a member we hold as ...        result
    alive  inc > I  suspect                               alive  (member_alive: refuted)
    alive  inc > I  dead / left                           alive  (member_alive: came back)
    alive  inc > I  alive, other role/host/port/tags      alive  (member_updated)
    alive  inc <= I anything                              ignored (equal incarnation: alive never wins)
    alive  new id   dead / left, or inc > I               alive  (member_joined: a new life)
    suspect inc >= I alive                                suspect (member_suspect, timer starts)
    suspect inc >= I suspect                              a confirmation of the running suspicion
    dead   inc >= I alive / suspect                       dead   (member_failed), or left when by == member
    any    inc < I                                        ignored
    suspect/dead about this node (not leaving)            refute: alive at incarnation max(I, inc) + 1

Members are identified by name, as in memberlist; the node id tells one life of a name from the next (a
restarted process gets a new id), which memberlist infers from the address instead.

The table is an immutable value: every rule returns a new table and a `Change` saying what happened, so
the membership core (and the simulator) can decide what to gossip and which event to raise.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from itertools import chain

from cluster.core.events import (
    MemberAliveEvent,
    MemberEvent,
    MemberFailedEvent,
    MemberJoinedEvent,
    MemberLeftEvent,
    MemberSuspectEvent,
    MemberUpdatedEvent,
)
from cluster.wire.messages import NodeInfo


class State(StrEnum):
    ALIVE = "alive"
    SUSPECT = "suspect"
    DEAD = "dead"
    LEFT = "left"

    @property
    def gone(self) -> bool:
        return self in (State.DEAD, State.LEFT)


_LIVE = frozenset((State.ALIVE, State.SUSPECT))
GONE = frozenset((State.DEAD, State.LEFT))
"""`state in GONE` is `state.gone`, at a tenth of the cost: an enum's property goes through the enum
machinery on every call, and the membership core asks it of every member it scans."""


@dataclass(frozen=True, slots=True)
class Member:
    info: NodeInfo
    state: State
    since: float  # when `state` was entered: dead members are gossiped for a while, then forgotten
    by: str = ""  # who suspected or declared it dead

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def incarnation(self) -> int:
        return self.info.incarnation


@dataclass(frozen=True, slots=True)
class Change:
    """What one piece of news did to the table.

    `event` is the cluster event to raise (or None); `gossip` says whether the news was new to us and
    must be passed on; `refute` is set when the news was about this node and it must announce itself
    alive above `refute_above`; `confirmed_by` names an accuser confirming a running suspicion.
    """

    event: type[MemberEvent] | None = None
    member: Member | None = None
    gossip: bool = False
    refute: bool = False
    refute_above: int = 0  # with `refute`: the incarnation the refutation must outbid
    confirmed_by: str | None = None
    previous: Member | None = None


IGNORED = Change()


_CHUNK_BITS = 6
_CHUNK = 1 << _CHUNK_BITS
_MASK = _CHUNK - 1
CHUNK_BITS, CHUNK_MASK = _CHUNK_BITS, _MASK  # for readers of `MemberTable.lookup`


class _Index:
    """Where each name sits in the tables of one line of descent: positions only ever added, at the tip.

    A table built from another adds a name at the next free position; when the table it grew from is not
    the last that grew (two tables grew from one), the newcomer copies the index first, so no table ever
    sees a position that another line gave out. Positions at or beyond a table's length are not its own."""

    __slots__ = ("length", "positions")

    def __init__(self, positions: dict[str, int], length: int) -> None:
        self.positions = positions
        self.length = length


class MemberTable:
    """Immutable: `table = table.alive(...)[0]`.

    A persistent value: the members sit in chunks of 64 in the order they were first added (the order a
    dict would keep), so a change copies one chunk and the tuple of chunks, not every member. At 10,000
    members a copy of the whole table per change, on every one of the 10,000 joins each node learns of,
    was what kept a large simulated cluster from forming. Positions come from an index shared along one
    line of descent (see `_Index`); a forgotten member leaves an empty slot."""

    __slots__ = ("_chunks", "_count", "_counts", "_index", "_leaving", "_length", "_local", "_local_member")

    def __init__(
        self,
        local: NodeInfo,
        members: Mapping[str, Member] | None = None,
        *,
        leaving: bool = False,
        now: float = 0.0,
    ) -> None:
        held = dict(members or {})
        held.setdefault(local.name, Member(local, State.ALIVE, now))
        ordered = list(held.values())
        self._local = local.name
        self._local_member = held[local.name]
        self._chunks: tuple[tuple[Member | None, ...], ...] = tuple(
            tuple(ordered[i : i + _CHUNK]) for i in range(0, len(ordered), _CHUNK)
        )
        self._length = len(ordered)
        self._index = _Index({member.name: i for i, member in enumerate(ordered)}, len(ordered))
        self._count = len(ordered)
        counts = dict.fromkeys(State, 0)
        for member in ordered:
            counts[member.state] += 1
        self._counts = counts
        self._leaving = leaving

    # -- reading --------------------------------------------------------------------------------

    @property
    def local(self) -> Member:
        return self._local_member

    @property
    def leaving(self) -> bool:
        return self._leaving

    def get(self, name: str) -> Member | None:
        position = self._index.positions.get(name)
        if position is None or position >= self._length:
            return None
        return self._chunks[position >> _CHUNK_BITS][position & _MASK]

    def __iter__(self) -> Iterator[Member]:
        return filter(None, chain.from_iterable(self._chunks))

    def __len__(self) -> int:
        return self._count

    def lookup(self) -> tuple[Mapping[str, int], int, tuple[tuple[Member | None, ...], ...]]:
        """What `get` reads, for a caller that looks up thousands of names in a row: the positions (of
        which only those below the span are this table's), the span and the chunks. The member at
        position p < span is `chunks[p >> CHUNK_BITS][p & CHUNK_MASK]`."""
        return self._index.positions, self._length, self._chunks

    @property
    def chunks(self) -> tuple[tuple[Member | None, ...], ...]:
        """The members in chunks, in order, an empty slot as None: a table shares every chunk but those a
        change copied with the table it was made from, so a reader can keep what it derived per chunk."""
        return self._chunks

    @property
    def span(self) -> int:
        """The positions this table uses: `at` takes 0 <= position < span."""
        return self._length

    def at(self, position: int) -> Member | None:
        """The member at `position` (in the order members were first added), None for an empty slot."""
        return self._chunks[position >> _CHUNK_BITS][position & _MASK]

    def missing(self, names: Iterable[str]) -> list[str]:
        """Those of `names` the table does not hold, or holds as dead or left, in order: what a node
        greets again. `get` per name, inlined: each node of a simulated 1,000-node start scans 1,000
        seeds at each of its retries while its table still grows."""
        positions, length, chunks = self._index.positions, self._length, self._chunks
        missing: list[str] = []
        for name in names:
            position = positions.get(name)
            if position is None or position >= length:
                missing.append(name)
                continue
            member = chunks[position >> _CHUNK_BITS][position & _MASK]
            if member is None or member.state in GONE:
                missing.append(name)
        return missing

    def in_state(self, *states: State) -> list[Member]:
        return [member for member in self if member.state in states]

    def count(self, state: State) -> int:
        """Members in `state`, this node included."""
        return self._counts[state]

    def live_count(self) -> int:
        """Alive or suspect members, this node included: the `n` of the SWIM formulas."""
        return self._counts[State.ALIVE] + self._counts[State.SUSPECT]

    # -- the rules ------------------------------------------------------------------------------

    def alive(self, info: NodeInfo, now: float) -> tuple[MemberTable, Change]:
        known = self.get(info.name)
        if info.name == self._local:
            other_life = info.node_id != self.local.info.node_id
            return self, self._about_me(info.incarnation, other_life=other_life, alive_news=True)
        if known is None:
            member = Member(info, State.ALIVE, now)
            return self._with(member), Change(MemberJoinedEvent, member, gossip=True)
        if info.node_id != known.info.node_id:
            if not (known.state in GONE or info.incarnation > known.incarnation):
                return self, IGNORED
            member = Member(info, State.ALIVE, now)
            return self._with(member), Change(MemberJoinedEvent, member, gossip=True, previous=known)
        if info.incarnation <= known.incarnation:
            return self, IGNORED
        member = Member(info, State.ALIVE, now if known.state is not State.ALIVE else known.since)
        if known.state is not State.ALIVE:
            event: type[MemberEvent] | None = MemberAliveEvent
        elif _descriptor(info) != _descriptor(known.info):
            event = MemberUpdatedEvent
        else:
            event = None
        return self._with(member), Change(event, member, gossip=True, previous=known)

    def suspect(self, name: str, incarnation: int, by: str, now: float) -> tuple[MemberTable, Change]:
        known = self.get(name)
        if known is None or incarnation < known.incarnation:
            return self, IGNORED
        if name == self._local:
            return self, self._about_me(incarnation)
        if known.state is State.SUSPECT:
            return self, Change(member=known, confirmed_by=by)
        if known.state is not State.ALIVE:
            return self, IGNORED
        member = Member(replace(known.info, incarnation=incarnation), State.SUSPECT, now, by)
        return self._with(member), Change(MemberSuspectEvent, member, gossip=True, previous=known)

    def dead(self, name: str, incarnation: int, by: str, now: float) -> tuple[MemberTable, Change]:
        known = self.get(name)
        if known is None or incarnation < known.incarnation or known.state in GONE:
            return self, IGNORED
        if name == self._local:
            if not self._leaving:
                return self, self._about_me(incarnation)
            member = Member(replace(known.info, incarnation=incarnation), State.LEFT, now, by)
            return self._with(member), Change(MemberLeftEvent, member, gossip=True, previous=known)
        state = State.LEFT if by == name else State.DEAD
        member = Member(replace(known.info, incarnation=incarnation), state, now, by)
        event = MemberLeftEvent if state is State.LEFT else MemberFailedEvent
        return self._with(member), Change(event, member, gossip=True, previous=known)

    def refuted(self, at_least: int) -> MemberTable:
        """This node announces itself at an incarnation above anything said about it."""
        local = self.local
        bumped = replace(local.info, incarnation=max(local.incarnation, at_least) + 1)
        return self._with(Member(bumped, State.ALIVE, local.since))

    def leave(self) -> MemberTable:
        """From now on a dead message about this node is accepted: it is our own leave."""
        return self._copy(leaving=True)

    def forget(self, name: str) -> MemberTable:
        """Drop a dead or left member after its retention period (its name may then come back anew)."""
        if name == self._local or self.get(name) is None:
            return self
        position = self._index.positions[name]
        old = self.at(position)
        assert old is not None
        table = self._copy(chunks=self._replaced(position, None))
        positions = {n: p for n, p in self._index.positions.items() if p < self._length and n != name}
        table._index = _Index(positions, self._length)
        table._count -= 1
        table._counts = self._counts.copy()
        table._counts[old.state] -= 1
        return table

    # -- helpers --------------------------------------------------------------------------------

    def _about_me(self, incarnation: int, *, other_life: bool = False, alive_news: bool = False) -> Change:
        """News about this node that contradicts it must be refuted; our own current word is not news.

        Suspicion or death at our incarnation or above is refuted. Alive news is refuted when it claims an
        incarnation above ours, or comes from an earlier life of this name (another node id) that others
        may still hold at that incarnation: we must outbid it to replace it everywhere.

        A node that is leaving refutes nothing: its leave is its last word, and a refutation would bring
        it back to life everywhere as it stops (a suspecter that missed the leave tells it of its suspicion).
        """
        if self._leaving:
            return IGNORED
        mine = self.local.incarnation
        if alive_news:
            needs = incarnation > mine or (other_life and incarnation >= mine)
        else:
            needs = incarnation >= mine
        return Change(member=self.local, refute=True, refute_above=incarnation) if needs else IGNORED

    def _with(self, member: Member) -> MemberTable:
        name = member.name
        position = self._index.positions.get(name)
        counts = self._counts.copy()
        counts[member.state] += 1
        if position is not None and position < self._length:
            old = self.at(position)
            assert old is not None
            counts[old.state] -= 1
            table = self._copy(chunks=self._replaced(position, member))
        else:
            index = self._growable_index()
            position = self._length
            index.positions[name] = position
            index.length = position + 1
            if position & _MASK:
                chunks = (*self._chunks[:-1], (*self._chunks[-1], member))
            else:
                chunks = (*self._chunks, (member,))
            table = self._copy(chunks=chunks)
            table._index = index
            table._length = position + 1
            table._count += 1
        table._counts = counts
        if name == self._local:
            table._local_member = member
        return table

    def joined(self, infos: Sequence[NodeInfo], now: float) -> tuple[MemberTable, list[Member]]:
        """Members none of whom the table holds, added in one step: what a push-pull brings a node that
        joins a large cluster. `alive` per member copied the last chunk and the tuple of chunks each time,
        the bulk of a 1,000-node start's cost in the simulator; here the chunks grow once.

        The names must be distinct and none held (ValueError if not, rather than a table that holds a
        name twice); this node's own name is always held."""
        names = [info.name for info in infos]
        positions, length = self._index.positions, self._length
        distinct = set(names)
        # Names the shared index holds may be past this table's end (another line grew them): only a
        # position within it is held here. The intersection is taken in C; it is small or empty.
        held = any(positions[name] < length for name in positions.keys() & distinct)
        if len(distinct) != len(names) or held:
            raise ValueError("joined takes distinct members the table does not hold")
        if not infos:
            return self, []
        members = [Member(info, State.ALIVE, now) for info in infos]
        index = self._growable_index()
        start = self._length
        for offset, name in enumerate(names):
            index.positions[name] = start + offset
        index.length = start + len(members)
        chunks = self._chunks
        tail: list[Member | None] = []
        if start & _MASK:
            tail = list(chunks[-1])
            chunks = chunks[:-1]
        tail += members
        chunks = (*chunks, *(tuple(tail[i : i + _CHUNK]) for i in range(0, len(tail), _CHUNK)))
        table = self._copy(chunks=chunks)
        table._index = index
        table._length = index.length
        table._count = self._count + len(members)
        counts = self._counts.copy()
        counts[State.ALIVE] += len(members)
        table._counts = counts
        return table, members

    def _growable_index(self) -> _Index:
        """The index a table grown from this one adds positions to: the shared one, unless another table
        already grew from this one's line, in which case this one takes its own copy first."""
        index = self._index
        if index.length == self._length:
            return index
        return _Index({n: p for n, p in index.positions.items() if p < self._length}, self._length)

    def _replaced(self, position: int, member: Member | None) -> tuple[tuple[Member | None, ...], ...]:
        c, i = position >> _CHUNK_BITS, position & _MASK
        chunk = self._chunks[c]
        return (*self._chunks[:c], (*chunk[:i], member, *chunk[i + 1 :]), *self._chunks[c + 1 :])

    def _copy(
        self, *, chunks: tuple[tuple[Member | None, ...], ...] | None = None, leaving: bool | None = None
    ) -> MemberTable:
        table = MemberTable.__new__(MemberTable)
        table._local = self._local
        table._local_member = self._local_member
        table._chunks = self._chunks if chunks is None else chunks
        table._length = self._length
        table._index = self._index
        table._count = self._count
        table._counts = self._counts
        table._leaving = self._leaving if leaving is None else leaving
        return table


def _descriptor(info: NodeInfo) -> tuple[object, ...]:
    return (info.host, info.port, info.role, info.tags)
