"""The membership precedence table (memberlist's rules), one row per case."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cluster.core.events import (
    MemberAliveEvent,
    MemberEvent,
    MemberFailedEvent,
    MemberJoinedEvent,
    MemberLeftEvent,
    MemberSuspectEvent,
    MemberUpdatedEvent,
)
from cluster.membership.members import MemberTable, State
from cluster.wire.messages import NodeInfo

ME = NodeInfo(node_id="me-1", name="me", host="127.0.0.1", port=1, role="worker", incarnation=3)
PEER = NodeInfo(node_id="peer-1", name="peer", host="127.0.0.1", port=2, role="worker", incarnation=5)


def table_with_peer(state: State = State.ALIVE) -> MemberTable:
    table, _ = MemberTable(ME).alive(PEER, 0.0)
    if state is State.SUSPECT:
        table, _ = table.suspect("peer", 5, "x", 1.0)
    elif state is State.DEAD:
        table, _ = table.dead("peer", 5, "x", 1.0)
    elif state is State.LEFT:
        table, _ = table.dead("peer", 5, "peer", 1.0)
    assert table.get("peer").state is state
    return table


def test_unknown_member_joins() -> None:
    table, change = MemberTable(ME).alive(PEER, 0.0)
    assert change.event is MemberJoinedEvent and change.gossip
    assert table.get("peer").state is State.ALIVE
    assert table.live_count() == 2


@pytest.mark.parametrize(
    ("held", "news", "state", "incarnation", "event"),
    [
        # alive news
        (State.SUSPECT, ("alive", 6), State.ALIVE, 6, MemberAliveEvent),
        (State.DEAD, ("alive", 6), State.ALIVE, 6, MemberAliveEvent),
        (State.LEFT, ("alive", 6), State.ALIVE, 6, MemberAliveEvent),
        (State.ALIVE, ("alive", 6), State.ALIVE, 6, None),
        (State.ALIVE, ("alive", 5), State.ALIVE, 5, None),
        (State.SUSPECT, ("alive", 5), State.SUSPECT, 5, None),  # equal incarnation: suspect wins
        (State.DEAD, ("alive", 5), State.DEAD, 5, None),
        # suspect news
        (State.ALIVE, ("suspect", 5), State.SUSPECT, 5, MemberSuspectEvent),
        (State.ALIVE, ("suspect", 7), State.SUSPECT, 7, MemberSuspectEvent),
        (State.ALIVE, ("suspect", 4), State.ALIVE, 5, None),
        (State.DEAD, ("suspect", 9), State.DEAD, 5, None),
        # dead news
        (State.ALIVE, ("dead", 5), State.DEAD, 5, MemberFailedEvent),
        (State.SUSPECT, ("dead", 5), State.DEAD, 5, MemberFailedEvent),
        (State.SUSPECT, ("dead", 4), State.SUSPECT, 5, None),
        (State.DEAD, ("dead", 9), State.DEAD, 5, None),
        (State.ALIVE, ("leave", 5), State.LEFT, 5, MemberLeftEvent),
    ],
)
def test_precedence(
    held: State, news: tuple[str, int], state: State, incarnation: int, event: type[MemberEvent] | None
) -> None:
    table = table_with_peer(held)
    kind, inc = news
    if kind == "alive":
        table2, change = table.alive(replace(PEER, incarnation=inc), 2.0)
    elif kind == "suspect":
        table2, change = table.suspect("peer", inc, "y", 2.0)
    elif kind == "dead":
        table2, change = table.dead("peer", inc, "y", 2.0)
    else:
        table2, change = table.dead("peer", inc, "peer", 2.0)
    assert table2.get("peer").state is state
    assert table2.get("peer").incarnation == incarnation
    assert change.event is event
    assert table.get("peer").state is held  # the old value is untouched


def test_suspect_while_suspect_is_a_confirmation() -> None:
    table = table_with_peer(State.SUSPECT)
    same, change = table.suspect("peer", 5, "z", 2.0)
    assert same is table and change.confirmed_by == "z" and change.event is None


def test_metadata_change_needs_a_higher_incarnation_and_is_an_update() -> None:
    table = table_with_peer()
    _, change = table.alive(replace(PEER, incarnation=6, tags=(("zone", "b"),)), 2.0)
    assert change.event is MemberUpdatedEvent
    _, ignored = table.alive(replace(PEER, tags=(("zone", "b"),)), 2.0)
    assert ignored.event is None and not ignored.gossip


@pytest.mark.parametrize(
    ("held", "incarnation", "joins"),
    [
        (State.DEAD, 0, True),
        (State.LEFT, 0, True),
        (State.ALIVE, 6, True),
        (State.ALIVE, 5, False),
        (State.SUSPECT, 2, False),
    ],
)
def test_a_new_life_of_a_name(held: State, incarnation: int, joins: bool) -> None:
    table = table_with_peer(held)
    reborn = replace(PEER, node_id="peer-2", incarnation=incarnation)
    table2, change = table.alive(reborn, 3.0)
    assert (change.event is MemberJoinedEvent) is joins
    assert (table2.get("peer").info.node_id == "peer-2") is joins


@pytest.mark.parametrize(
    ("news", "refute"),
    [
        (("suspect", 3), True),
        (("suspect", 2), False),
        (("dead", 3), True),
        (("dead", 9), True),
        (("alive", 3), False),  # our own word
        (("alive", 4), True),  # someone claims a newer incarnation of us
        (("old-life", 3), True),  # an earlier life of this name at our incarnation
        (("old-life", 2), False),
    ],
)
def test_news_about_myself(news: tuple[str, int], refute: bool) -> None:
    table = MemberTable(ME)
    kind, inc = news
    if kind == "suspect":
        _, change = table.suspect("me", inc, "x", 1.0)
    elif kind == "dead":
        _, change = table.dead("me", inc, "x", 1.0)
    elif kind == "alive":
        _, change = table.alive(replace(ME, incarnation=inc), 1.0)
    else:
        _, change = table.alive(replace(ME, node_id="me-0", incarnation=inc), 1.0)
    assert change.refute is refute
    assert table.local.state is State.ALIVE


def test_refutation_outbids_the_accusation() -> None:
    table = MemberTable(ME).refuted(at_least=7)
    assert table.local.incarnation == 8 and table.local.state is State.ALIVE


def test_leaving_accepts_our_own_dead_message_as_left() -> None:
    table = MemberTable(ME).leave()
    table2, change = table.dead("me", 3, "me", 1.0)
    assert change.event is MemberLeftEvent and table2.local.state is State.LEFT


def test_forget_drops_a_member_so_its_name_can_return() -> None:
    table = table_with_peer(State.DEAD).forget("peer")
    assert table.get("peer") is None
    _, change = table.alive(replace(PEER, incarnation=0), 5.0)
    assert change.event is MemberJoinedEvent


def test_a_refutation_names_the_incarnation_to_outbid() -> None:
    _, change = MemberTable(ME).dead("me", 9, "x", 1.0)
    assert change.refute and change.refute_above == 9
    _, change = MemberTable(ME).alive(replace(ME, node_id="me-0", incarnation=5), 1.0)
    assert change.refute and change.refute_above == 5
