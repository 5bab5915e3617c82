"""The membership core driven by hand: each input, the effects it must give (no network, no sleeps)."""

from __future__ import annotations

import random
from dataclasses import replace

from cluster.core.effects import Emit, SendDatagram, StartTimer
from cluster.layout.presets import PRESETS
from cluster.membership.formulas import suspicion_timeout_bounds
from cluster.membership.members import State
from cluster.membership.swim import (
    GossipTick,
    Membership,
    ProbeDeadline,
    ProbeTick,
    ProbeTimeout,
    SeedRetry,
    SuspicionTimeout,
)
from cluster.wire.codec import encode
from cluster.wire.compound import unpack
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
)

LAN = PRESETS["lan"]


def info(name: str, port: int, incarnation: int = 0) -> NodeInfo:
    return NodeInfo(
        node_id=f"{name}-id", name=name, host="10.0.0.1", port=port, role="worker", incarnation=incarnation
    )


ME = info("me", 1)
PEERS = [info(f"p{i}", 10 + i) for i in range(4)]


def core_with_peers() -> Membership:
    core = Membership(ME, {}, LAN, random.Random(4), now=0.0)
    for peer in PEERS:
        core.received(("10.0.0.1", peer.port), Alive(peer), 0.0)
    return core


def datagrams(effects: list[object]) -> list[tuple[tuple[str, int], list[object]]]:
    return [
        (e.address, unpack(e.payload, max_size=LAN.udp_buffer_size).messages)
        for e in effects
        if isinstance(e, SendDatagram)
    ]


def events(effects: list[object]) -> list[Emit]:
    return [e for e in effects if isinstance(e, Emit)]


def test_a_ping_for_us_is_acked_with_its_sequence() -> None:
    core = core_with_peers()
    (sent,) = datagrams(core.received(("10.0.0.1", 10), Ping(42, "p0", "me"), 1.0))
    assert sent[0] == ("10.0.0.1", 10) and sent[1][0] == PingAck(42, "me")
    assert core.received(("10.0.0.1", 10), Ping(43, "p0", "someone-else"), 1.0) == []


def test_an_unanswered_probe_goes_indirect_then_suspects() -> None:
    core = core_with_peers()
    effects = core.timer(ProbeTick(), 1.0)
    ((_address, messages),) = datagrams(effects)
    ping = messages[0]
    assert isinstance(ping, Ping)
    target = next(p for p in PEERS if p.name == ping.target)
    timers = {type(e.key): e.deadline for e in effects if isinstance(e, StartTimer)}
    assert timers[ProbeTimeout] == 1.0 + LAN.probe_timeout and ProbeDeadline not in timers
    going_indirect = core.timer(ProbeTimeout(ping.seq), 1.5)
    deadlines = [
        e.deadline for e in going_indirect if isinstance(e, StartTimer) and isinstance(e.key, ProbeDeadline)
    ]
    # the end of the probe period, but late enough for the helpers' nacks (they wait a probe timeout first)
    assert deadlines == [max(1.0 + LAN.probe_interval, 1.5 + 2 * LAN.probe_timeout)]
    indirect = datagrams(going_indirect)
    assert len(indirect) == LAN.indirect_checks
    assert all(isinstance(m[0], PingReq) and m[0].target == target.name for _, m in indirect)
    concluded = core.timer(ProbeDeadline(ping.seq), 2.0)
    (suspect,) = events(concluded)
    assert suspect.name == "member_suspect" and suspect.fields["member"] == target.name
    assert suspect.fields["by"] == "me"
    assert core.health_score == LAN.indirect_checks  # every nack went missing
    (timer,) = [e for e in concluded if isinstance(e, StartTimer) and isinstance(e.key, SuspicionTimeout)]
    failed = core.timer(timer.key, timer.deadline)
    assert [e.name for e in events(failed)] == ["member_failed"]


def test_an_ack_in_time_keeps_the_member_alive_and_health_recovers() -> None:
    core = core_with_peers()
    ((_, messages),) = datagrams(core.timer(ProbeTick(), 1.0))
    ping = messages[0]
    core.received(("10.0.0.1", 10), PingAck(ping.seq, ping.target), 1.1)
    assert events(core.timer(ProbeDeadline(ping.seq), 2.0)) == []
    assert core.health_score == 0


def test_suspicion_of_ourselves_is_refuted_at_a_higher_incarnation() -> None:
    core = core_with_peers()
    core.received(("10.0.0.1", 10), Suspect("me", 0, "p0"), 1.0)
    assert core.table.local.incarnation == 1
    assert core.health_score == 1  # Lifeguard: being suspected hints that we are the slow one
    (_, messages) = datagrams(core.received(("10.0.0.1", 11), Ping(7, "p1", "me"), 1.1))[0]
    assert Alive(core.table.local.info) in messages  # the refutation rides on the ack


def test_a_suspicion_of_ourselves_we_already_refuted_is_answered_with_the_refutation() -> None:
    """The buddy system's ping from a suspecter that missed our refutation carries the old suspicion: we
    answer it with our alive, which is above it, rather than ignore it as old and let it fail us."""
    core = core_with_peers()
    core.received(("10.0.0.1", 10), Suspect("me", 0, "p0"), 1.0)
    refuted = core.table.local.info
    assert refuted.incarnation == 1
    late = ("10.0.0.1", 12)
    # Only the stale suspicion, so that nothing else (an ack's piggyback) could carry the refutation.
    sent = datagrams(core.received(late, Suspect("me", 0, "p0"), 5.0))
    ((address, messages),) = sent
    assert address == late and messages[0] == Alive(refuted)
    assert core.table.local.incarnation == 1  # already above the accusation: no second refutation
    core.received(late, Suspect("me", 1, "p0"), 6.0)  # at our incarnation: news, refuted as always
    assert core.table.local.incarnation == 2


def test_a_refutation_goes_straight_back_to_whoever_told_us() -> None:
    """The sender of an accusation runs a timer on it; gossip reaches it only if chance picks it, which at
    the edge of a partition (half of the picks unreachable) it may not before the timer ends."""
    core = core_with_peers()
    teller = ("10.0.0.1", 12)
    for accusation in (Suspect("me", 0, "p0"), Dead("me", 1, "p0")):
        sent = datagrams(core.received(teller, accusation, 1.0))
        ((address, messages),) = sent
        assert address == teller and messages[0] == Alive(core.table.local.info)
        assert core.table.local.incarnation == accusation.incarnation + 1
    # A push-pull record that holds us suspect is refuted by gossip and by the reply: the record's address
    # is ours (or an earlier life's), not the partner's, and gets nothing.
    earlier_life = replace(ME, node_id="me-before", port=99, incarnation=2)
    record = MemberRecord(earlier_life, State.SUSPECT.value)
    merged = core.stream("p0", MemberSync("p0", (record,), reply=True), 2.0)
    assert core.table.local.incarnation == 3
    assert datagrams(merged) == []


def gossiped_alive(core: Membership, now: float) -> set[str]:
    """The members whose alive news the core's gossip ticks send until its queue is empty."""
    names: set[str] = set()
    for tick in range(40):
        for _address, messages in datagrams(core.timer(GossipTick(), now + tick * 0.2)):
            names.update(m.member.name for m in messages if isinstance(m, Alive))
    return names


def test_members_a_push_pull_brings_join_and_only_the_sender_and_changes_are_gossiped() -> None:
    """Anti-entropy backs rumours up and starts none: a member first heard of in a push-pull is joined
    but not gossiped on, since whoever told the partner had the rumour to pass on. The partner's record
    of itself is gossiped (it may be a joiner whose greetings were all lost), and so is any change to a
    member we hold."""
    core = core_with_peers()
    gossiped_alive(core, 0.0)  # the peers' own news, sent out
    strangers = [info(f"s{i}", 40 + i) for i in range(3)]
    records = (
        MemberRecord(info("q", 30), State.ALIVE.value),
        *(MemberRecord(s, State.ALIVE.value) for s in strangers),
        MemberRecord(info("p1", 11, incarnation=2), State.ALIVE.value),  # p1 known at 0: a change
        MemberRecord(info("p2", 12), State.ALIVE.value),  # known as it is: nothing
        MemberRecord(info("s0", 40, incarnation=1), State.ALIVE.value),  # given twice: a change to s0
    )
    effects = core.stream("q", MemberSync("q", records, reply=True), 10.0)
    joined = [e.event.fields["member"] for e in events(effects) if e.event.NAME == "member_joined"]
    assert sorted(joined) == ["q", "s0", "s1", "s2"]
    assert {m.name: m.incarnation for m in core.members()}.items() >= {"s0": 1, "p1": 2, "s2": 0}.items()
    assert gossiped_alive(core, 10.0) == {"q", "p1", "s0"}


def test_a_seed_retry_greets_the_seeds_not_seen_alive_as_the_table_changes() -> None:
    """Every seed held alive: the retry greets nobody, and again while nothing changed; once a seed is
    held dead it is greeted at the next retry, and once back no more."""
    seeds = {p.name: ("10.0.0.1", p.port) for p in PEERS}
    core = Membership(ME, seeds, LAN, random.Random(4), now=0.0)
    for peer in PEERS:
        core.received(("10.0.0.1", peer.port), Alive(peer), 0.0)

    def greeted(now: float) -> list[tuple[str, int]]:
        effects = core.timer(SeedRetry(), now)
        return [address for address, messages in datagrams(effects) if isinstance(messages[0], Join)]

    assert greeted(1.0) == [] and greeted(2.0) == []
    core.received(("10.0.0.1", 10), Dead("p2", 0, "p0"), 3.0)
    assert greeted(4.0) == [("10.0.0.1", 12)]
    core.received(("10.0.0.1", 12), Alive(info("p2", 12, incarnation=1)), 5.0)
    assert greeted(6.0) == []


def test_the_seed_retry_keeps_the_probe_interval_while_members_arrive_and_backs_off_otherwise() -> None:
    """A retry that finds fewer seeds missing than the last one comes again after one probe interval
    (the cluster is forming, and a rumour that died before it reached us is repaired by the greeting);
    one that finds as many doubles its wait, up to push-pull's pace, which is also the pace once
    every seed is seen."""
    seeds = {p.name: ("10.0.0.1", p.port) for p in PEERS}
    core = Membership(ME, seeds, LAN, random.Random(4), now=0.0)

    def retry(now: float) -> tuple[float, list[tuple[str, int]]]:
        effects = core.timer(SeedRetry(), now)
        (due,) = [e.deadline for e in effects if isinstance(e, StartTimer) and e.key == SeedRetry()]
        greeted = [address for address, messages in datagrams(effects) if isinstance(messages[0], Join)]
        return due - now, greeted

    assert retry(1.0) == (2.0, [("10.0.0.1", p.port) for p in PEERS])  # nobody seen yet: back off
    core.received(("10.0.0.1", 10), Alive(PEERS[0]), 2.0)
    assert retry(3.0) == (1.0, [("10.0.0.1", p.port) for p in PEERS[1:]])  # one arrived: look again soon
    assert retry(4.0)[0] == 2.0 and retry(6.0)[0] == 4.0  # nobody new: the wait doubles
    for peer in PEERS[1:3]:
        core.received(("10.0.0.1", peer.port), Alive(peer), 7.0)
    assert retry(10.0) == (1.0, [("10.0.0.1", 13)])
    assert [retry(t)[0] for t in (11.0, 13.0, 17.0, 25.0, 41.0, 71.0)] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    core.received(("10.0.0.1", 13), Alive(PEERS[3]), 80.0)
    assert retry(101.0) == (LAN.push_pull_interval, [])


def test_only_the_events_asked_for_are_raised_and_every_one_is_counted() -> None:
    core = Membership(ME, {}, LAN, random.Random(4), now=0.0, events=("member_suspect",))
    joins = [core.received(("10.0.0.1", p.port), Alive(p), 0.0) for p in PEERS]
    synced = core.stream("q", MemberSync("q", (MemberRecord(info("q", 30), State.ALIVE.value),), True), 0.5)
    assert not events([e for effects in joins for e in effects]) and not events(synced)
    suspected = core.received(("10.0.0.1", 10), Suspect("p1", 0, "p0"), 1.0)
    assert [e.event.NAME for e in events(suspected)] == ["member_suspect"]
    assert core.stats.suspicions == 1 and len(core.members()) == 6


def test_a_leaving_node_refutes_nothing() -> None:
    """Its leave is its last word: a suspecter that missed it and tells it of its suspicion must not
    bring it back to life as it stops."""
    core = core_with_peers()
    core.leave(1.0)
    for news in (Suspect("me", 0, "p0"), Dead("me", 0, "p0"), Alive(replace(ME, incarnation=5))):
        assert datagrams(core.received(("10.0.0.1", 10), news, 2.0)) == []
    assert core.table.local.state is State.LEFT and core.table.local.incarnation == 0


def test_our_own_suspicion_is_told_to_the_suspect_at_once() -> None:
    """The buddy system tells a suspect on the next probe of it, which round robin may not reach before
    the timeout: the accuser tells it as it begins the suspicion, so that the refutation comes straight
    back to the node whose timer would fail it. A suspicion heard from others is not told (each of N
    holders telling it sent a starved suspect N datagrams)."""
    core = core_with_peers()
    ((_, messages),) = datagrams(core.timer(ProbeTick(), 1.0))
    ping = messages[0]
    target = next(p for p in PEERS if p.name == ping.target)
    core.timer(ProbeTimeout(ping.seq), 1.5)
    concluded = core.timer(ProbeDeadline(ping.seq), 2.0)
    told = [m for address, m in datagrams(concluded) if address == ("10.0.0.1", target.port)]
    assert told == [(Suspect(target.name, 0, "me"),)]  # alone: it is queued for gossip already
    # The suspect's refutation, straight back, ends it.
    core.received(("10.0.0.1", target.port), Alive(info(target.name, target.port, incarnation=1)), 2.1)
    assert core.table.get(target.name).state.value == "alive"
    # Heard from another accuser: not told.
    other = next(p for p in PEERS if p.name != target.name)
    heard = core.received(("10.0.0.1", 99), Suspect(other.name, 0, "someone"), 3.0)
    assert core.table.get(other.name).state.value == "suspect"
    assert ("10.0.0.1", other.port) not in [address for address, _ in datagrams(heard)]


def test_a_ping_to_a_suspect_carries_the_suspicion() -> None:
    core = core_with_peers()
    core.received(("10.0.0.1", 11), Suspect("p1", 0, "p2"), 1.0)
    effects = core.peer_down_hint("p1", 1.2)
    ((_, messages),) = datagrams(effects)
    assert isinstance(messages[0], Ping) and messages[0].target == "p1"
    assert Suspect("p1", 0, "p2") in messages


def test_a_lost_tcp_peering_is_only_a_hint_to_probe_now() -> None:
    core = core_with_peers()
    effects = core.peer_down_hint("p3", 5.0)
    assert events(effects) == []
    ((address, messages),) = datagrams(effects)
    assert address == ("10.0.0.1", 13) and isinstance(messages[0], Ping)
    assert core.table.get("p3").state.value == "alive"


def test_garbage_is_counted_and_changes_nothing() -> None:
    core = core_with_peers()
    assert core.datagram(("10.0.0.1", 99), b"\xc1garbage", 1.0) == ([], 1)
    assert len(core.members()) == 5


def test_metadata_over_the_limit_is_dropped() -> None:
    core = core_with_peers()
    bloated = NodeInfo("big-id", "big", "10.0.0.1", 50, "worker", 0, (("blob", "x" * LAN.meta_max_size),))
    assert core.received(("10.0.0.1", 50), Alive(bloated), 1.0) == []
    assert core.table.get("big") is None


def test_recently_dead_members_still_hear_gossip() -> None:
    core = core_with_peers()
    core.received(("10.0.0.1", 10), Dead("p0", 0, "p1"), 1.0)  # queues news, arms the gossip tick
    targets: set[tuple[str, int]] = set()
    for round_ in range(40):
        core.received(("10.0.0.1", 11), Suspect(f"p{1 + round_ % 3}", round_, "p0"), 1.0)
        targets |= {e.address for e in core.timer(GossipTick(), 1.0) if isinstance(e, SendDatagram)}
    assert ("10.0.0.1", 10) in targets  # p0, dead for less than the push-pull interval


def test_a_probe_concludes_as_soon_as_every_helper_nacked() -> None:
    core = core_with_peers()
    ((_, messages),) = datagrams(core.timer(ProbeTick(), 1.0))
    ping = messages[0]
    helpers = [m[0].intermediary for _, m in datagrams(core.timer(ProbeTimeout(ping.seq), 1.5))]
    effects: list[object] = []
    for helper in helpers:
        effects = core.received(("10.0.0.1", 99), Nack(ping.seq, helper), 1.6)
    assert [e.name for e in events(effects)] == ["member_suspect"]
    assert core.health_score == 0  # every nack came: the target, not us, is the problem


def test_accusations_from_different_accusers_travel_side_by_side() -> None:
    core = core_with_peers()
    core.received(("10.0.0.1", 11), Suspect("p1", 0, "p2"), 1.0)
    core.received(("10.0.0.1", 13), Suspect("p1", 0, "p3"), 1.0)  # a confirmation, re-gossiped
    (_, messages) = datagrams(core.received(("10.0.0.1", 10), Ping(9, "p0", "me"), 1.1))[0]
    assert {m.by for m in messages if isinstance(m, Suspect)} == {"p2", "p3"}
    core.received(("10.0.0.1", 11), Alive(info("p1", 11, incarnation=1)), 1.2)  # refuted: accusations moot
    (_, messages) = datagrams(core.received(("10.0.0.1", 10), Ping(10, "p0", "me"), 1.3))[0]
    assert not [m for m in messages if isinstance(m, Suspect)]


def test_the_counters_follow_a_probe_that_fails_and_one_that_is_acked() -> None:
    core = core_with_peers()
    ((_, messages),) = datagrams(core.timer(ProbeTick(), 1.0))
    ping = messages[0]
    core.timer(ProbeTimeout(ping.seq), 1.5)
    core.received(("10.0.0.1", 12), Nack(ping.seq, "p2"), 1.6)
    concluded = core.timer(ProbeDeadline(ping.seq), 2.0)
    (timer,) = [e for e in concluded if isinstance(e, StartTimer) and isinstance(e.key, SuspicionTimeout)]
    core.timer(timer.key, timer.deadline)
    ((_, messages),) = datagrams(core.timer(ProbeTick(), 10.0))
    core.received(("10.0.0.1", 10), PingAck(messages[0].seq, messages[0].target), 10.25)
    core.received(("10.0.0.1", 10), Suspect("me", 0, "p0"), 11.0)
    core.datagram(("10.0.0.1", 10), b"\xc1garbage", 11.0)
    s = core.stats
    assert (s.probes_sent, s.probes_indirect, s.probes_failed, s.probes_acked) == (2, 1, 1, 1)
    assert s.nacks_received == 1 and s.probe_seconds == 0.25
    assert (s.suspicions, s.members_failed, s.refutations) == (1, 1, 1)
    assert s.datagrams_received == 1 and s.datagrams_dropped == 1


def test_a_stale_alive_relayed_by_another_is_answered_to_the_member_itself() -> None:
    """After a heal the buried member learns of its death so that it refutes it; the relayer of its old
    alive news must not be told of a death by us, which would be news to it."""
    core = core_with_peers()
    p0, p1 = PEERS[0], PEERS[1]
    core.received(("10.0.0.1", p1.port), Dead(p0.name, 0, p1.name), 1.0)
    sent = datagrams(core.received(("10.0.0.1", p1.port), Alive(p0), 2.0))
    # (the first death's news may ride along, piggybacked, as any gossip does)
    told = [
        (address, m) for address, messages in sent for m in messages if isinstance(m, Dead) and m.by == "me"
    ]
    assert told == [(("10.0.0.1", p0.port), Dead(p0.name, 0, "me"))]


def test_a_member_that_left_is_not_declared_dead_to_whoever_relays_its_old_alive() -> None:
    core = core_with_peers()
    p0, p1 = PEERS[0], PEERS[1]
    core.received(("10.0.0.1", p0.port), Leave(p0.name, 0), 1.0)
    sent = datagrams(core.received(("10.0.0.1", p1.port), Alive(p0), 1.1))
    assert not [m for _address, messages in sent for m in messages if isinstance(m, Dead) and m.by == "me"]


def test_a_suspicion_during_the_start_is_sized_for_the_layout_not_the_few_members_met() -> None:
    """Early in a 101-node start a node knows a handful of members: sized by those, no confirmation would
    be expected and the timer would run at the 4 s floor; the layout says the cluster is 101 nodes."""
    layout = {f"n{i}": ("10.0.0.1", 100 + i) for i in range(100)} | {"me": ("10.0.0.1", 1)}
    cores = {
        "alone": Membership(ME, {}, LAN, random.Random(4), now=0.0),
        "layout": Membership(ME, layout, LAN, random.Random(4), now=0.0),
    }
    deadlines = {}
    for label, core in cores.items():
        for peer in PEERS[:2]:  # met so far: two members besides itself
            core.received(("10.0.0.1", peer.port), Alive(peer), 0.0)
        effects = core.received(("10.0.0.1", PEERS[1].port), Suspect(PEERS[0].name, 0, PEERS[1].name), 1.0)
        (timer,) = [e for e in effects if isinstance(e, StartTimer) and isinstance(e.key, SuspicionTimeout)]
        deadlines[label] = timer.deadline - 1.0
    low, _high = suspicion_timeout_bounds(
        LAN.suspicion_mult, LAN.suspicion_max_timeout_mult, 101, LAN.probe_interval
    )
    assert deadlines["alone"] == LAN.suspicion_mult * LAN.probe_interval  # 3 members: at the floor at once
    # 101: two confirmations expected, so the timer starts at the maximum and shrinks only as they come
    assert deadlines["layout"] == LAN.suspicion_max_timeout_mult * low


def test_a_name_given_twice_in_a_push_pull_is_judged_after_its_first_record() -> None:
    """Old news is skipped against the table before the exchange, but a record that follows another of
    the same name is taken in order: here a leave, then a new life, then the old life again at a higher
    incarnation, which takes the name back (it was old news only against the table before the exchange)."""
    core = core_with_peers()
    old_life = replace(info("c", 20, incarnation=2), node_id="c#1")
    core.received(("10.0.0.1", 20), Alive(old_life), 0.0)
    new_life = replace(info("c", 20, incarnation=1), node_id="c#2")
    records = (
        MemberRecord(old_life, State.LEFT.value),
        MemberRecord(new_life, State.ALIVE.value),
        MemberRecord(old_life, State.ALIVE.value),
    )
    core.stream("q", MemberSync("q", records, reply=True), 5.0)
    held = core.table.get("c")
    assert held is not None and held.info.node_id == "c#1" and held.state is State.ALIVE and held.since == 5.0


def test_in_a_crowded_queue_only_the_join_of_a_new_name_gives_way_to_copies() -> None:
    """A join gives way once another member sends it to us; a new life of a held name does not, since it
    clears whatever accusation others hold of the old one (JOIN_REDUNDANT_AFTER)."""
    from cluster.membership.dissemination import CROWDED_QUEUE

    core = core_with_peers()
    for i in range(CROWDED_QUEUE + 1):  # joins heard by gossip crowd the queue, as at a start
        core.received(("10.0.0.1", 100 + i), Alive(info(f"j{i}", 100 + i)), 0.0)
    old_life = replace(info("x", 60), node_id="x#1")
    core.received(("10.0.0.1", 60), Alive(old_life), 0.0)
    core.received(("10.0.0.1", 11), Suspect("x", 0, "p1"), 0.1)
    new_life = replace(info("x", 60, incarnation=1), node_id="x#2")
    core.datagram(("10.0.0.1", 12), encode(Alive(new_life)), 0.2)
    newcomer = info("n", 61)
    core.datagram(("10.0.0.1", 12), encode(Alive(newcomer)), 0.2)
    for sender in (13, 10):  # the same news again, from others
        core.datagram(("10.0.0.1", sender), encode(Alive(new_life)), 0.3)
        core.datagram(("10.0.0.1", sender), encode(Alive(newcomer)), 0.3)
    queued = {update.key for update in core._news._queue.pending()}
    assert "x" in queued and "n" not in queued


def test_a_push_pull_partner_that_holds_our_queued_joins_as_we_do_makes_them_give_way() -> None:
    """In a crowded queue, joins heard by gossip leave it once a push-pull partner shows it holds those
    members as we do (Demers' feedback, from a whole table at once), until the queue is no longer
    crowded. A member the partner holds at an older incarnation than ours is news it lacks, so that join
    stays; so does a refutation, which is not a join."""
    from cluster.membership.dissemination import CROWDED_QUEUE

    core = core_with_peers()  # the peers' joins are queued too, and the partner does not mention them
    joiners = [info(f"j{i}", 100 + i, incarnation=2 if i == 1 else 0) for i in range(CROWDED_QUEUE + 4)]
    for joiner in joiners:  # joins heard by gossip crowd the queue, as at a start
        core.received(("10.0.0.1", 12), Alive(joiner), 0.0)
    core.received(("10.0.0.1", 12), Alive(info("j0", 100, incarnation=3)), 0.0)
    assert len(core._news) == len(PEERS) + len(joiners)
    records = (
        MemberRecord(info("j0", 100, incarnation=3), State.ALIVE.value),
        MemberRecord(info("j1", 101, incarnation=1), State.ALIVE.value),
        *(MemberRecord(joiner, State.ALIVE.value) for joiner in joiners[2:]),
    )
    core.stream("p0", MemberSync("p0", records, reply=True), 1.0)
    queued = {update.key for update in core._news._queue.pending()}
    assert len(queued) == CROWDED_QUEUE and {"j0", "j1", *(p.name for p in PEERS)} <= queued
