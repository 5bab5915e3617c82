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

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from types import MappingProxyType

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


class MemberTable:
    """Immutable: `table = table.alive(...)[0]`."""

    __slots__ = ("_leaving", "_live", "_local", "_members")

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
        self._local = local.name
        self._members: Mapping[str, Member] = MappingProxyType(held)
        self._leaving = leaving
        self._live: int | None = None

    # -- reading --------------------------------------------------------------------------------

    @property
    def local(self) -> Member:
        return self._members[self._local]

    @property
    def leaving(self) -> bool:
        return self._leaving

    def get(self, name: str) -> Member | None:
        return self._members.get(name)

    def __iter__(self) -> Iterator[Member]:
        return iter(self._members.values())

    def __len__(self) -> int:
        return len(self._members)

    def in_state(self, *states: State) -> list[Member]:
        return [member for member in self._members.values() if member.state in states]

    def live_count(self) -> int:
        """Alive or suspect members, this node included: the `n` of the SWIM formulas.

        Asked on every datagram sent, so counted once per (immutable) table."""
        if self._live is None:
            self._live = sum(1 for member in self._members.values() if member.state in _LIVE)
        return self._live

    # -- the rules ------------------------------------------------------------------------------

    def alive(self, info: NodeInfo, now: float) -> tuple[MemberTable, Change]:
        known = self._members.get(info.name)
        if info.name == self._local:
            other_life = info.node_id != self.local.info.node_id
            return self, self._about_me(info.incarnation, other_life=other_life, alive_news=True)
        if known is None:
            member = Member(info, State.ALIVE, now)
            return self._with(member), Change(MemberJoinedEvent, member, gossip=True)
        if info.node_id != known.info.node_id:
            if not (known.state.gone or info.incarnation > known.incarnation):
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
        known = self._members.get(name)
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
        known = self._members.get(name)
        if known is None or incarnation < known.incarnation or known.state.gone:
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
        return MemberTable(self.local.info, self._members, leaving=True)

    def forget(self, name: str) -> MemberTable:
        """Drop a dead or left member after its retention period (its name may then come back anew)."""
        if name == self._local or name not in self._members:
            return self
        held = dict(self._members)
        del held[name]
        return MemberTable(self.local.info, held, leaving=self._leaving)

    # -- helpers --------------------------------------------------------------------------------

    def _about_me(self, incarnation: int, *, other_life: bool = False, alive_news: bool = False) -> Change:
        """News about this node that contradicts it must be refuted; our own current word is not news.

        Suspicion or death at our incarnation or above is refuted. Alive news is refuted when it claims an
        incarnation above ours, or comes from an earlier life of this name (another node id) that others
        may still hold at that incarnation: we must outbid it to replace it everywhere.
        """
        mine = self.local.incarnation
        if alive_news:
            needs = incarnation > mine or (other_life and incarnation >= mine)
        else:
            needs = incarnation >= mine
        return Change(member=self.local, refute=True, refute_above=incarnation) if needs else IGNORED

    def _with(self, member: Member) -> MemberTable:
        held = dict(self._members)
        held[member.name] = member
        return MemberTable(
            self.local.info if member.name != self._local else member.info, held, leaving=self._leaving
        )


def _descriptor(info: NodeInfo) -> tuple[object, ...]:
    return (info.host, info.port, info.role, info.tags)
