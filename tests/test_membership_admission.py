"""Membership news that must not be believed (issue 11 §0): each reproduction of a one-datagram attack,
refused, counted by reason, and the node still standing. Pure core, no sockets, no sleeps."""

from __future__ import annotations

import random

from cluster.core.effects import Address, SendDatagram
from cluster.layout.presets import PRESETS
from cluster.membership.admission import INCARNATION_CEILING, MAX_INCARNATION_STEP
from cluster.membership.members import State
from cluster.membership.swim import Membership
from cluster.wire.codec import encode
from cluster.wire.compound import unpack
from cluster.wire.messages import Alive, Dead, Join, MemberRecord, MemberSync, NodeInfo, Suspect

LAN = PRESETS["lan"]
LAYOUT = {name: Address("127.0.0.1", 7000 + i) for i, name in enumerate(["me", "p0", "p1", "p2"])}


def info(name: str, *, incarnation: int = 0, port: int | None = None, node_id: str | None = None) -> NodeInfo:
    return NodeInfo(
        node_id=node_id or f"{name}-id",
        name=name,
        host="127.0.0.1",
        port=LAYOUT[name].port if port is None else port,
        role="worker",
        incarnation=incarnation,
    )


def formed() -> Membership:
    core = Membership(info("me"), LAYOUT, LAN, random.Random(3), now=0.0, admitted=LAYOUT)
    for name in ("p0", "p1", "p2"):
        core.datagram(LAYOUT[name], encode(Alive(info(name))), 0.0)
    assert {m.name for m in core.members() if m.state is State.ALIVE} == set(LAYOUT)
    return core


def held(core: Membership, name: str) -> NodeInfo:
    (member,) = [m for m in core.members() if m.name == name]
    return member.info


def test_a_suspicion_of_us_near_the_top_of_the_range_is_refused_and_every_refutation_still_encodes() -> None:
    core = formed()
    for incarnation in (2**63 - 1, INCARNATION_CEILING + 1, MAX_INCARNATION_STEP + 1):
        effects, _ = core.datagram(LAYOUT["p0"], encode(Suspect("me", incarnation, "p0")), 1.0)
        assert effects == [] or all(isinstance(e, SendDatagram) for e in effects)
        assert held(core, "me").incarnation == 0
    assert core.stats.refused["implausible-incarnation"] == 3
    # within the step it is an accusation like any other: refuted one above, and the refutation encodes
    effects, _ = core.datagram(LAYOUT["p0"], encode(Suspect("me", MAX_INCARNATION_STEP, "p0")), 1.0)
    assert held(core, "me").incarnation == MAX_INCARNATION_STEP + 1
    refutations = [
        m for e in effects if isinstance(e, SendDatagram) for m in unpack(e.payload, max_size=1400).messages
    ]
    assert Alive(held(core, "me")) in refutations


def test_an_alive_from_another_address_never_moves_a_member() -> None:
    core = formed()
    hijack = info("p1", incarnation=5, port=9999)
    core.datagram(Address("127.0.0.1", 9999), encode(Alive(hijack)), 1.0)
    core.datagram(Address("127.0.0.1", 9999), encode(Join(hijack)), 1.0)
    assert held(core, "p1") == info("p1")
    assert core.stats.refused["wrong-address"] == 2
    # nor does a new life claimed at another address
    core.datagram(Address("127.0.0.1", 9999), encode(Alive(info("p1", port=9999, node_id="other"))), 1.0)
    assert held(core, "p1") == info("p1") and core.stats.refused["wrong-address"] == 3


def test_a_name_outside_the_layout_never_becomes_a_member_by_gossip_or_by_push_pull() -> None:
    core = formed()
    ghost = NodeInfo(node_id="g", name="ghost", host="127.0.0.1", port=7100, role="worker")
    core.datagram(Address("127.0.0.1", 7100), encode(Alive(ghost)), 1.0)
    core.datagram(Address("127.0.0.1", 7100), encode(Suspect("ghost", 0, "p0")), 1.0)
    records = (MemberRecord(ghost, State.ALIVE.value), MemberRecord(info("p2"), State.ALIVE.value))
    core.stream("p2", MemberSync("p2", records, True), 1.0)
    assert "ghost" not in {m.name for m in core.members()}
    assert core.stats.refused["unknown-member"] == 3


def test_an_implausible_jump_of_another_member_is_refused_and_a_plausible_one_taken() -> None:
    core = formed()
    core.datagram(LAYOUT["p0"], encode(Dead("p1", MAX_INCARNATION_STEP + 1, "p0")), 1.0)
    core.datagram(LAYOUT["p2"], encode(Alive(info("p2", incarnation=MAX_INCARNATION_STEP + 1))), 1.0)
    assert held(core, "p1") == info("p1") and held(core, "p2") == info("p2")
    assert [m.state for m in core.members() if m.name == "p1"] == [State.ALIVE]
    assert core.stats.refused["implausible-incarnation"] == 2
    core.datagram(LAYOUT["p2"], encode(Alive(info("p2", incarnation=3))), 1.0)
    assert held(core, "p2").incarnation == 3


def test_a_core_that_admits_anyone_still_bounds_incarnations() -> None:
    core = Membership(info("me"), {}, LAN, random.Random(3), now=0.0)
    stranger = NodeInfo(node_id="s", name="s", host="10.0.0.9", port=1, role="worker", incarnation=2**63 - 1)
    core.datagram(Address("10.0.0.9", 1), encode(Alive(stranger)), 0.0)
    assert [m.name for m in core.members()] == ["me"]
    core.datagram(Address("10.0.0.9", 1), encode(Alive(NodeInfo("s", "s", "10.0.0.9", 1, "worker"))), 0.0)
    assert [m.name for m in core.members()] == ["me", "s"]
