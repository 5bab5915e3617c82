"""Membership news on datagrams: what is queued, what replaces what, and the gossip tick."""

from __future__ import annotations

import pytest

from cluster.core.effects import Address, StartTimer
from cluster.layout.presets import PRESETS
from cluster.membership.dissemination import Dissemination, GossipTick
from cluster.wire.compound import unpack
from cluster.wire.messages import Alive, NodeInfo, Ping, Suspect

pytestmark = pytest.mark.timeout(30)

LAN = PRESETS["lan"]
PEER = Address("127.0.0.1", 2)
B = NodeInfo(node_id="b1", name="b", host="127.0.0.1", port=3, role="worker", incarnation=2)


def carried(news: Dissemination) -> list[object]:
    datagram = news.datagram(PEER, Ping(1, "a", "b"), n_members=3)
    return list(unpack(datagram.payload, max_size=LAN.udp_buffer_size).messages[1:])


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
