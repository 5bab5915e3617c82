"""The membership actor with a real core, a manual clock and fake neighbours: what it hands on, and when."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from actors.clock import ManualClock
from actors.effects import Neighbours
from actors.membership import MembershipActor
from actors.messages import DatagramMessage, MembersChanged, RaiseEvent, StatusChanged, SubscribeMembers
from actors.testkit import ProbeHandle, wait_idle
from cluster.core.effects import Address
from cluster.layout.presets import timings_for
from cluster.membership.swim import Membership
from cluster.wire.codec import encode
from cluster.wire.messages import Alive, NodeInfo

pytestmark = pytest.mark.timeout(30)

TIMINGS = timings_for("lan")


def info(name: str, port: int) -> NodeInfo:
    return NodeInfo(node_id=f"id-{name}", name=name, host="127.0.0.1", port=port, role="worker")


@pytest.fixture
def probes() -> Iterator[dict[str, ProbeHandle]]:
    handles = {name: ProbeHandle() for name in ("transport", "events", "timer", "status", "members")}
    yield handles
    for handle in handles.values():
        handle.stop()


def reachable(probe: ProbeHandle) -> list[set[str]]:
    return [{name for name, _ in m.members} for m in probe.of_type(MembersChanged)]


def test_the_view_is_handed_on_at_once_then_at_most_once_per_gossip_interval(
    probes: dict[str, ProbeHandle],
) -> None:
    clock = ManualClock(start=100.0)
    core = Membership(info("me", 7000), {}, TIMINGS, random.Random(1), clock.now())
    actor = MembershipActor.start(
        core,
        Neighbours(probes["transport"].ref, probes["events"].ref, probes["timer"].ref),
        clock=clock,
        send_datagram=lambda address, payload: None,
        status=probes["status"].ref,
    )
    try:
        actor.tell(SubscribeMembers(probes["members"].ref))
        wait_idle([actor, probes["members"].ref, probes["status"].ref])
        assert reachable(probes["members"])[-1] == {"me"}
        statuses = len(probes["status"].of_type(StatusChanged))
        told = len(probes["members"].of_type(MembersChanged))

        def hear_of(name: str, port: int) -> None:
            actor.tell(DatagramMessage(Address("127.0.0.1", port), encode(Alive(info(name, port)))))
            wait_idle([actor, probes["members"].ref, probes["status"].ref, probes["events"].ref])

        clock.advance(TIMINGS.gossip_interval)
        hear_of("a", 7001)  # quiet for an interval: handed on at once
        assert reachable(probes["members"])[-1] == {"me", "a"}
        hear_of("b", 7002)  # within the interval: held, but its event is not
        hear_of("c", 7003)
        assert reachable(probes["members"])[-1] == {"me", "a"}
        joined = [m.event.fields["member"] for m in probes["events"].of_type(RaiseEvent)]
        assert joined == ["a", "b", "c"]
        clock.advance(TIMINGS.gossip_interval * 0.9)
        wait_idle([actor, probes["members"].ref])
        assert reachable(probes["members"])[-1] == {"me", "a"}
        clock.advance(TIMINGS.gossip_interval * 0.2)  # the interval is over: both changes, in one
        wait_idle([actor, probes["members"].ref, probes["status"].ref])
        assert reachable(probes["members"])[-2:] == [{"me", "a"}, {"me", "a", "b", "c"}]
        shown = probes["status"].of_type(StatusChanged)[statuses:]
        assert [len(s.part.members) for s in shown] == [2, 4]
        clock.advance(TIMINGS.gossip_interval * 5)  # nothing changed: nothing more is handed on
        wait_idle([actor, probes["members"].ref, probes["status"].ref])
        assert len(probes["members"].of_type(MembersChanged)) == told + 2
    finally:
        actor.stop()
