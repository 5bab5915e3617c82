"""The gossip scheduler core: inputs and the effects they must give; then at scale in the simulator."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest

from cluster.core.effects import Send, SendDatagram, StartTimer
from cluster.layout.presets import PRESETS
from cluster.sim.state import StateSimulation
from cluster.state.gossip import (
    STATE_DATAGRAM_MARKER,
    Applied,
    CollectTick,
    EntryTooLarge,
    Forgotten,
    GapRepairTick,
    OwnerFailed,
    StateGossip,
    StateGossipTick,
    SyncTick,
)
from cluster.wire.compound import unpack
from cluster.wire.messages import Pull, Push, PushPull, WireMessage

pytestmark = pytest.mark.timeout(120)

LAN = PRESETS["lan"]
ADDRESSES = {name: ("127.0.0.1", 7000 + i) for i, name in enumerate(["a", "b", "c", "d", "e"])}


def node(name: str, generation: int = 1) -> StateGossip:
    core = StateGossip(name, generation, LAN, random.Random(1), 0.0)
    core.members({n: a for n, a in ADDRESSES.items() if n != name}, 0.0)
    return core


def sent(effects: list[object]) -> list[tuple[tuple[str, int], list[WireMessage]]]:
    out = []
    for effect in effects:
        if isinstance(effect, SendDatagram):
            assert effect.payload[0] == STATE_DATAGRAM_MARKER
            assert len(effect.payload) <= LAN.udp_buffer_size
            out.append((effect.address, list(unpack(effect.payload[1:], max_size=1400).messages)))
    return out


def name_at(address: tuple[str, int]) -> str:
    return next(name for name, at in ADDRESSES.items() if at == address)


def test_a_write_is_pushed_at_once_to_every_member_of_a_small_cluster() -> None:
    a = node("a")
    effects = a.write("kv", "x", 1, 1.0)
    (applied,) = [e for e in effects if isinstance(e, Applied)]
    assert [(e.key, e.value, e.source_node) for e in applied.entries] == [("x", 1, "a")]
    pushes = sent(effects)
    assert sorted(name_at(address) for address, _ in pushes) == ["b", "c", "d", "e"]
    assert all(isinstance(m[0], Push) and m[0].deltas[0].states[0].key == "x" for _, m in pushes)
    assert applied.entries[0].version > 1 << 32  # a life's clock starts above every earlier life's


def test_news_its_owner_pushed_to_everyone_is_not_forwarded() -> None:
    a, b = node("a"), node("b")
    (_, (push,)), *_ = sent(a.write("kv", "x", 1, 1.0))
    payload = bytes([STATE_DATAGRAM_MARKER]) + encode_one(push)
    first = b.datagram(ADDRESSES["a"], payload, 1.1)
    assert any(isinstance(e, Applied) for e in first)
    assert not any(isinstance(e, StartTimer) for e in first), "every member had a copy: no retransmissions"
    # The owner pushed it to all four others and retransmits it itself: a forward would only overtake
    # the owner's later pushes and open gaps.
    assert not sent(first)
    again = node("c")
    again.datagram(ADDRESSES["a"], payload, 1.1)
    repeat = again.datagram(ADDRESSES["a"], payload, 1.2)
    assert not any(isinstance(e, Applied) for e in repeat)


def test_a_small_clusters_owner_retransmits_each_write_once_to_every_member_in_turn() -> None:
    # Nobody forwards news its owner pushed to everyone, so these copies are what covers a lost push.
    a = node("a")
    effects = a.write("kv", "x", 1, 1.0)
    (arm,) = [e for e in effects if isinstance(e, StartTimer) and isinstance(e.key, StateGossipTick)]
    now, copies = arm.deadline, []
    for _ in range(4):  # gossip_nodes a tick, until the queue is empty
        ticked = a.timer(StateGossipTick(), now)
        copies += [name_at(address) for address, m in sent(ticked) for push in m if push.deltas]
        now += LAN.gossip_interval
    assert sorted(copies) == ["b", "c", "d", "e"]


def encode_one(message: WireMessage) -> bytes:
    from cluster.wire.codec import encode

    return encode(message)


def test_pull_push_pull_push_brings_both_sides_level() -> None:
    a, b = node("a"), node("b")
    for i in range(5):
        a.write("kv", f"a{i}", i, 1.0)
        b.write("kv", f"b{i}", i, 1.0)
    exchange(a, b)
    view = lambda core: {(e.source_node, e.key) for e in core.store.entries()}  # noqa: E731
    assert view(a) == view(b) and len(view(a)) == 10
    assert a.store.digest() == b.store.digest()


def exchange(puller: StateGossip, answerer: StateGossip) -> None:
    """One anti-entropy exchange by datagram, carried to the end (continuations included)."""
    cores = {puller.local: puller, answerer.local: answerer}
    (pull,) = [e for e in puller.pull(answerer.local) if isinstance(e, SendDatagram)]
    pending = [(puller.local, pull)]
    while pending:
        sender, datagram = pending.pop(0)
        receiver = cores.get(name_at(datagram.address))
        if receiver is None:
            continue
        for effect in receiver.datagram(ADDRESSES[sender], datagram.payload, 2.0):
            if isinstance(effect, SendDatagram) and name_at(effect.address) in cores:
                message = unpack(effect.payload[1:], max_size=1400).messages[0]
                if isinstance(message, Pull | PushPull | Push):
                    pending.append((receiver.local, effect))


def test_a_large_state_catches_up_by_continued_exchanges_within_the_budget() -> None:
    a, b = node("a"), node("b")
    for i in range(200):
        a.write("kv", f"k{i}", "v" * 30, 1.0)
    exchange(b, a)
    assert {e.key for e in b.store.entries()} == {f"k{i}" for i in range(200)}


def test_with_a_tcp_peering_a_cut_answer_goes_over_it() -> None:
    a, b = node("a"), node("b")
    for i in range(200):
        a.write("kv", f"k{i}", "v" * 30, 1.0)
    a.peer_up("b")
    pull = Pull("b", 1, b.store.digest())
    effects = a.datagram(ADDRESSES["b"], bytes([STATE_DATAGRAM_MARKER]) + encode_one(pull), 2.0)
    (stream,) = [e for e in effects if isinstance(e, Send)]
    assert stream.peer == "b" and isinstance(stream.message, PushPull)
    assert len(stream.message.deltas[0].states) == 200
    b.stream("a", stream.message, 2.0)
    assert len(list(b.store.entries())) == 200


def test_a_stream_message_must_come_from_its_peer() -> None:
    a = node("a")
    forged = Pull("c", 1, ())
    assert a.stream("b", forged, 1.0) == [] and a.stats["received_rejected"] == 1


def test_garbage_and_unmarked_datagrams_are_counted_not_raised() -> None:
    a = node("a")
    for payload in (b"", b"\x81\xa1t\xa4ping", bytes([STATE_DATAGRAM_MARKER]) + b"\xff\x00garbage"):
        assert a.datagram(ADDRESSES["b"], payload, 1.0) == []
    assert a.stats["received_rejected"] == 3


def test_a_failed_member_is_reported_and_its_entries_dropped_after_the_grace() -> None:
    a, b = node("a"), node("b")
    b.write("kv", "x", 1, 0.0)
    exchange(a, b)
    effects = a.members({n: ad for n, ad in ADDRESSES.items() if n not in ("a", "b")}, 10.0)
    assert OwnerFailed("b", ("a", "c", "d", "e")) in effects
    early = a.timer(CollectTick(), 10.0 + LAN.dead_owner_grace / 2)
    assert not [e for e in early if isinstance(e, Forgotten)]
    late = a.timer(CollectTick(), 11.0 + LAN.dead_owner_grace)
    (forgotten,) = [e for e in late if isinstance(e, Forgotten)]
    assert [e.key for e in forgotten.entries] == ["x"]


def test_idle_costs_one_pull_per_sync_interval() -> None:
    a = node("a")
    effects = a.timer(SyncTick(), 5.0)
    pulls = sent(effects)
    assert len(pulls) == 1 and isinstance(pulls[0][1][0], Pull)
    (tick,) = [e for e in effects if isinstance(e, StartTimer)]
    assert tick.deadline == 5.0 + LAN.state_sync_interval


# -- at scale ---------------------------------------------------------------------------------------------


def test_fifty_nodes_twenty_percent_loss_a_thousand_updates_converge() -> None:
    """Issue 4 §4: every replica equal within a bounded time after the last of 1,000 writes from random
    owners, measured in sync intervals (lan: 5 s each)."""
    sim = StateSimulation([f"n{i:02d}" for i in range(50)], LAN, seed=1, loss=0.2)
    sim.start_all()
    sim.run_for(10.0)
    names = sorted(sim.nodes)
    truth: dict[tuple[str, str], object] = {}
    for i in range(1000):
        owner, key = sim.rng.choice(names), f"k{sim.rng.randrange(200)}"
        sim.write(owner, key, i)
        truth[(owner, key)] = i
        sim.run_for(0.01)
    last_write = sim.now
    while not (sim.converged() and sim.view(names[0]) == truth) and sim.now - last_write < 120:
        sim.run_for(0.5)
    took = sim.now - last_write
    assert sim.view(names[0]) == truth
    assert took <= 6 * LAN.state_sync_interval, f"converged only after {took:.1f}s"


def test_an_entry_too_large_for_a_datagram_is_refused_with_its_size() -> None:
    a = node("a")
    with pytest.raises(EntryTooLarge, match=r"kv/big: \d+ bytes encoded; an entry must fit one datagram"):
        a.write("kv", "big", "x" * 2000, 1.0)
    assert list(a.store.entries()) == []
    a.write("kv", "fits", "x" * (a.max_entry_size() - 200), 1.0)


def test_writes_that_arrive_together_are_pushed_together() -> None:
    a = StateGossip("a", 1, LAN, random.Random(1), 0.0, deferred_push=True)
    a.members({n: ad for n, ad in ADDRESSES.items() if n != "a"}, 0.0)
    for i in range(10):
        a.write("kv", f"k{i}", i, 1.0)
    pushes = sent(a.burst_over())
    assert len(pushes) == len(ADDRESSES) - 1  # one datagram per member
    (_, (push,)) = pushes[0]
    (delta,) = push.deltas
    assert (delta.after, len(delta.states)) == (0, 10)  # one delta vouching for all ten


def test_an_entry_that_fits_no_push_pull_beside_a_big_digest_goes_in_a_push_of_its_own() -> None:
    a, b = node("a"), node("b")
    big = a.write("kv", "big", "x" * (a.max_entry_size() - 120), 1.0)
    assert big
    for i in range(70):  # many owners make a long digest; b has all of theirs already
        a.store.apply([delta_of(f"owner-{i:02d}", i)], 1.0)
        b.store.apply([delta_of(f"owner-{i:02d}", i)], 1.0)
    pull = Pull("b", 1, b.store.digest())
    answer = sent(a.datagram(ADDRESSES["b"], bytes([STATE_DATAGRAM_MARKER]) + encode_one(pull), 2.0))
    kinds = [type(m[0]).__name__ for _, m in answer]
    assert "Push" in kinds and "PushPull" in kinds


def delta_of(owner: str, i: int) -> Any:
    from cluster.wire.messages import OwnerDelta, SyncableState

    entry = SyncableState("kv", f"k{i}", i, 1, owner, 1)
    return OwnerDelta(owner, 1, 0, 1, False, 0, (entry,))


def test_in_a_cluster_larger_than_the_direct_push_news_goes_on_as_an_infection() -> None:
    timings = dataclasses.replace(LAN, state_push_nodes=2)
    a = StateGossip("a", 1, timings, random.Random(1), 0.0)
    b = StateGossip("b", 1, timings, random.Random(2), 0.0)
    for core in (a, b):
        core.members({n: ad for n, ad in ADDRESSES.items() if n != core.local}, 0.0)
    pushes = sent(a.write("kv", "x", 1, 1.0))
    assert len(pushes) == 2  # straight to state_push_nodes members
    payload = bytes([STATE_DATAGRAM_MARKER]) + encode_one(pushes[0][1][0])
    effects = b.datagram(ADDRESSES["a"], payload, 1.1)
    forwarded = sent(effects)
    assert len(forwarded) == timings.gossip_nodes
    assert any(isinstance(e, StartTimer) for e in effects), "queued for a few more transmissions"
    # passed on exactly as it came: no re-encoding on the way
    assert forwarded[0][1][0] == pushes[0][1][0]


def test_a_lost_push_is_repaired_from_its_owner_with_just_the_missing_range() -> None:
    a, b, c = node("a"), node("b"), node("c")
    for i in range(3):  # b holds news of c too: the repair is about a only
        ((_, (news,)), *_) = [s for s in sent(c.write("kv", f"c{i}", i, 0.5)) if name_at(s[0]) == "b"]
        b.datagram(ADDRESSES["c"], bytes([STATE_DATAGRAM_MARKER]) + encode_one(news), 0.5)
    assert "c" in {owner for owner, _, _ in b.store.digest()}
    first = [m[0] for address, m in sent(a.write("kv", "x", 1, 1.0)) if name_at(address) == "b"]
    second = [m[0] for address, m in sent(a.write("kv", "y", 2, 1.0)) if name_at(address) == "b"]
    del first  # lost on its way to b
    effects = b.datagram(ADDRESSES["a"], bytes([STATE_DATAGRAM_MARKER]) + encode_one(second[0]), 1.01)
    assert b.gaps.open == {"a": 1.01} and b.gaps.detected == 1
    (arm,) = [e for e in effects if isinstance(e, StartTimer) and isinstance(e.key, GapRepairTick)]
    assert arm.deadline == pytest.approx(1.01 + LAN.gossip_interval / 10)  # overtaken news lands first

    ((to, (repair,)),) = sent(b.timer(GapRepairTick(), arm.deadline))
    assert name_at(to) == "a" and isinstance(repair, Pull) and repair.repair
    assert [owner for owner, _, _ in repair.digest] == ["a"]  # c's news is not asked about

    ((back, (answer,)),) = sent(
        a.datagram(ADDRESSES["b"], bytes([STATE_DATAGRAM_MARKER]) + encode_one(repair), 1.04)
    )
    assert name_at(back) == "b" and isinstance(answer, Push)  # one leg: no digest, no counter-push
    assert [(d.owner, [e.key for e in d.states]) for d in answer.deltas] == [("a", ["x", "y"])]
    b.datagram(ADDRESSES["a"], bytes([STATE_DATAGRAM_MARKER]) + encode_one(answer), 1.06)
    assert not b.gaps.open and b.gaps.repaired == 1
    assert b.gaps.seconds_max == pytest.approx(0.05)
    assert b.store.vouched("a") == a.store.vouched("a")
    assert not sent(b.timer(GapRepairTick(), 1.3)), "nothing open: nothing asked"


def test_a_repair_that_is_lost_is_asked_again_each_half_gossip_interval() -> None:
    a, b = node("a"), node("b")
    a.write("kv", "x", 1, 1.0)  # lost
    second = [m[0] for address, m in sent(a.write("kv", "y", 2, 1.0)) if name_at(address) == "b"]
    b.datagram(ADDRESSES["a"], bytes([STATE_DATAGRAM_MARKER]) + encode_one(second[0]), 1.0)
    effects = b.timer(GapRepairTick(), 1.02)
    assert len(sent(effects)) == 1
    (again,) = [e for e in effects if isinstance(e, StartTimer) and isinstance(e.key, GapRepairTick)]
    assert again.deadline == pytest.approx(1.02 + LAN.gossip_interval / 2)


def test_a_new_gap_is_asked_for_when_it_settles_not_at_an_older_gaps_retry() -> None:
    a, b, c = node("a"), node("b"), node("c")
    a.write("kv", "x", 1, 1.0)  # lost
    (to_b,) = [m[0] for address, m in sent(a.write("kv", "y", 2, 1.0)) if name_at(address) == "b"]
    b.datagram(ADDRESSES["a"], bytes([STATE_DATAGRAM_MARKER]) + encode_one(to_b), 1.0)
    asked = b.timer(GapRepairTick(), 1.02)  # a's gap asked; its retry is armed for 1.12
    assert [name_at(to) for to, _ in sent(asked)] == ["a"]
    c.write("kv", "u", 1, 1.05)  # lost
    (news,) = [m[0] for address, m in sent(c.write("kv", "v", 2, 1.05)) if name_at(address) == "b"]
    effects = b.datagram(ADDRESSES["c"], bytes([STATE_DATAGRAM_MARKER]) + encode_one(news), 1.05)
    (arm,) = [e for e in effects if isinstance(e, StartTimer) and isinstance(e.key, GapRepairTick)]
    assert arm.deadline == pytest.approx(1.05 + LAN.gossip_interval / 10)
    ((to, (repair,)),) = sent(b.timer(GapRepairTick(), arm.deadline))  # a's retry is not due yet
    assert name_at(to) == "c" and [owner for owner, _, _ in repair.digest] == ["c"]
    retried = b.timer(GapRepairTick(), 1.12)
    assert [name_at(to) for to, _ in sent(retried)] == ["a"]
    (again,) = [e for e in retried if isinstance(e, StartTimer)]
    assert again.deadline == pytest.approx(arm.deadline + LAN.gossip_interval / 2)  # c's retry comes first


def test_a_push_at_a_forged_lamport_time_is_refused_and_the_clock_keeps_room_for_our_writes() -> None:
    """Issue 11 §0.2: one push at a version near 2**63 exhausted the receiver's clock and crashed it."""
    a, b = node("a"), node("b")
    (_, (push,)), *_ = sent(a.write("kv", "x", 1, 1.0))
    assert isinstance(push, Push)
    before = b.clock.current
    forged = [
        dataclasses.replace(push, lamport=2**63 - 1),
        dataclasses.replace(push, deltas=(dataclasses.replace(push.deltas[0], through=2**63 - 1),)),
        dataclasses.replace(push, lamport=before + (1 << 49)),  # 2**17 lives ahead of ours
    ]
    for message in forged:
        effects = b.datagram(ADDRESSES["a"], bytes([STATE_DATAGRAM_MARKER]) + encode_one(message), 1.1)
        assert not any(isinstance(e, Applied) for e in effects)
    assert b.stats["implausible_times"] == 3 and b.clock.current == before
    assert any(isinstance(e, Applied) for e in b.write("kv", "y", 2, 1.2))
    # a peer a few lives ahead is real: its time is taken
    ahead = dataclasses.replace(push, lamport=before + (5 << 32))
    assert any(
        isinstance(e, Applied)
        for e in b.datagram(ADDRESSES["a"], bytes([STATE_DATAGRAM_MARKER]) + encode_one(ahead), 1.3)
    )
    assert b.clock.current == before + (5 << 32)


def test_a_value_nested_deeper_than_any_answer_can_carry_is_refused_at_the_write() -> None:
    from cluster.state.gossip import MAX_VALUE_DEPTH

    a = node("a")
    deep: Any = 1
    for level in range(MAX_VALUE_DEPTH):
        deep = [deep] if level % 2 else {"k": deep}
    assert any(isinstance(e, Applied) for e in a.write("kv", "deep", deep, 1.0))
    with pytest.raises(EntryTooLarge, match=f"more than {MAX_VALUE_DEPTH} deep"):
        a.write("kv", "deeper", [deep], 1.0)
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(EntryTooLarge):
        a.write("kv", "cyclic", cyclic, 1.0)


def test_a_new_generation_of_an_owner_is_taken_only_once_the_membership_holds_it() -> None:
    """Issue 11 §0.5: a push in the manager's name at generation + 1 replaced the manager's entries on
    every node that took it. A real restart announces its generation to the membership first."""
    a, b = node("a"), node("b")
    others = {n: addr for n, addr in ADDRESSES.items() if n != "b"}
    b.members(others, 0.0, generations=dict.fromkeys(ADDRESSES, 1))
    (_, (push,)), *_ = sent(a.write("kv", "x", 1, 1.0))
    wire = bytes([STATE_DATAGRAM_MARKER]) + encode_one(push)
    assert any(isinstance(e, Applied) for e in b.datagram(ADDRESSES["a"], wire, 1.1))
    assert isinstance(push, Push)
    (delta,) = push.deltas
    forged_entry = dataclasses.replace(delta.states[0], value="forged", generation=2)
    forged = dataclasses.replace(
        push, deltas=(dataclasses.replace(delta, generation=2, states=(forged_entry,)),)
    )
    forged_wire = bytes([STATE_DATAGRAM_MARKER]) + encode_one(forged)
    assert not any(isinstance(e, Applied) for e in b.datagram(ADDRESSES["a"], forged_wire, 1.2))
    assert b.stats["unproven_generations"] == 1
    assert b.store.get("a", "kv", "x").value == 1  # type: ignore[union-attr]
    # the membership sees `a` restart at generation 2: its new generation is taken
    b.members(others, 1.3, generations={**dict.fromkeys(ADDRESSES, 1), "a": 2})
    assert any(isinstance(e, Applied) for e in b.datagram(ADDRESSES["a"], forged_wire, 1.4))
    assert b.store.get("a", "kv", "x").value == "forged"  # type: ignore[union-attr]
