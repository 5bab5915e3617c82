"""Membership news on datagrams: what is queued, what replaces what, and the gossip tick."""

from __future__ import annotations

import pytest

from cluster.core.effects import Address, StartTimer
from cluster.layout.presets import PRESETS
from cluster.membership.dissemination import CROWDED_QUEUE, JOIN_REDUNDANT_AFTER, Dissemination, GossipTick
from cluster.wire.compound import unpack
from cluster.wire.messages import Alive, NodeInfo, Ping, Suspect

pytestmark = pytest.mark.timeout(30)

LAN = PRESETS["lan"]
PEER = Address("127.0.0.1", 2)
B = NodeInfo(node_id="b1", name="b", host="127.0.0.1", port=3, role="worker", incarnation=2)


def carried(news: Dissemination) -> list[object]:
    datagram = news.datagram(PEER, Ping(1, "a", "b"), n_members=3)
    return list(unpack(datagram.payload, max_size=LAN.udp_buffer_size).messages[1:])


def queued_messages(news: Dissemination) -> list[object]:
    """What the queue holds, without sending it (which would count transmits)."""
    return [update.message for update in news._queue.pending()]


def test_accusations_are_kept_one_per_accuser_and_alive_news_ends_them() -> None:
    news = Dissemination(LAN)
    news.queue("b", Suspect("b", 2, "c"))
    news.queue("b", Suspect("b", 2, "d"))
    assert sorted(m.by for m in carried(news)) == ["c", "d"]  # type: ignore[attr-defined]
    news.queue("b", Suspect("b", 2, "c"))
    news.queue("b", Alive(B))
    assert carried(news) == [Alive(B)]


def test_news_rides_on_a_datagram_until_its_retransmit_limit() -> None:
    news = Dissemination(LAN)
    news.queue("b", Alive(B))
    sends = [carried(news) for _ in range(LAN.retransmit_mult + 1)]  # 3 members: limit = mult * 1
    assert sends[:-1] == [[Alive(B)]] * LAN.retransmit_mult and sends[-1] == []
    assert len(news) == 0


def test_the_gossip_tick_is_armed_once_while_there_is_news() -> None:
    news = Dissemination(LAN)
    assert news.arm(5.0) == []
    news.queue("b", Alive(B))
    assert news.arm(5.0) == [StartTimer(GossipTick(), 5.0 + LAN.gossip_interval)]
    assert news.arm(5.1) == []
    (datagram,) = news.gossip([PEER], n_members=3)
    assert unpack(datagram.payload, max_size=LAN.udp_buffer_size).messages == (Alive(B),)
    assert news.arm(6.0) != []  # re-armed after the tick while news remains


def _member(i: int) -> NodeInfo:
    return NodeInfo(node_id=f"m{i}#1", name=f"m{i}", host="127.0.0.1", port=100 + i, role="worker")


def test_join_news_gives_way_to_copies_from_others_only_in_a_crowded_queue() -> None:
    news = Dissemination(LAN)
    news.queue("b", Alive(B), join=True)
    for _ in range(JOIN_REDUNDANT_AFTER + 1):
        news.heard("b", Alive(B))
    assert len(news) == 1  # one join alone is not crowded: it keeps its full count
    for i in range(CROWDED_QUEUE):
        news.queue(f"m{i}", Alive(_member(i)), join=True)
    news.queue("e", Alive(_member(99)))  # alive news that is not a join (a refutation, say)
    assert len(news) == CROWDED_QUEUE + 2
    for _ in range(JOIN_REDUNDANT_AFTER):
        news.heard("b", Alive(B))
        news.heard("e", Alive(_member(99)))
    assert len(news) == CROWDED_QUEUE + 1  # the join gave way; the refutation did not
    assert Alive(B) not in carried(news)


def test_a_push_pull_partner_that_holds_our_queued_joins_makes_them_give_way_until_uncrowded() -> None:
    """A partner holding a member alive as we do is a contact that already knew its join: the joins
    give way while the queue stays crowded, and the last `CROWDED_QUEUE` keep their full count. A
    different view of the member (another incarnation) and news that is not a join are not touched."""
    news = Dissemination(LAN)
    joins = [_member(i) for i in range(CROWDED_QUEUE + 10)]
    for member in joins:
        news.queue(member.name, Alive(member), join=True)
    news.queue("b", Alive(B))  # a refutation, say: not a join
    stale = [NodeInfo(node_id="m0#1", name="m0", host="127.0.0.1", port=100, role="worker", incarnation=1)]
    news.known_to_partner(stale)
    assert len(news) == CROWDED_QUEUE + 11  # the partner holds another view of m0: no contact
    news.known_to_partner([B, *joins[:5]])
    assert len(news) == CROWDED_QUEUE + 6 and Alive(B) in queued_messages(news)
    news.known_to_partner(joins)
    assert len(news) == CROWDED_QUEUE  # no longer crowded: what is left keeps its count
    news.known_to_partner(joins)
    assert len(news) == CROWDED_QUEUE
