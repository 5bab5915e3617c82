"""ICMP "port unreachable" as evidence: faster for a crashed member, never a verdict by itself."""

from __future__ import annotations

from cluster.core.effects import CancelTimer, StartTimer
from cluster.membership.swim import (
    Membership,
    ProbeDeadline,
    ProbeTick,
    ProbeTimeout,
    RelayTimeout,
    SuspicionTimeout,
)
from cluster.wire.messages import Nack, Ping, PingAck, PingReq, Suspect
from tests.test_membership_core import LAN, PEERS, core_with_peers, datagrams, events


def address(name: str) -> tuple[str, int]:
    peer = next(p for p in PEERS if p.name == name)
    return (peer.host, peer.port)


def start_probe(core: Membership, now: float) -> Ping:
    ((_address, messages),) = datagrams(core.timer(ProbeTick(), now))
    ping = messages[0]
    assert isinstance(ping, Ping)
    return ping


def suspicion_deadline(effects: list[object], member: str) -> float | None:
    deadlines = [
        e.deadline
        for e in effects
        if isinstance(e, StartTimer) and isinstance(e.key, SuspicionTimeout) and e.key.member == member
    ]
    return deadlines[-1] if deadlines else None


def test_a_probe_whose_target_is_unreachable_goes_indirect_at_once() -> None:
    core = core_with_peers()
    ping = start_probe(core, 1.0)
    effects = core.port_unreachable(address(ping.target), 1.001)
    assert CancelTimer(ProbeTimeout(ping.seq)) in effects
    indirect = datagrams(effects)
    assert len(indirect) == LAN.indirect_checks
    assert all(isinstance(m[0], PingReq) and m[0].target == ping.target for _, m in indirect)
    assert any(isinstance(e, StartTimer) and e.key == ProbeDeadline(ping.seq) for e in effects)
    # the evidence alone accuses nobody: the helpers must fail too
    assert events(effects) == []


def test_helpers_nacking_an_unreachable_target_make_a_short_suspicion() -> None:
    core = core_with_peers()
    ping = start_probe(core, 1.0)
    effects = core.port_unreachable(address(ping.target), 1.001)
    helpers = [m[0].intermediary for _, m in datagrams(effects)]
    concluded: list[object] = []
    for helper in helpers:
        concluded += core.received(address(helper), Nack(ping.seq, helper), 1.002)
    (suspect,) = events(concluded)
    assert suspect.name == "member_suspect" and suspect.fields["member"] == ping.target
    assert suspicion_deadline(concluded, ping.target) == 1.002 + LAN.unreachable_suspicion_timeout
    dead = core.timer(SuspicionTimeout(ping.target, 0), 1.002 + LAN.unreachable_suspicion_timeout)
    assert [e.name for e in events(dead)] == ["member_failed"]


def test_a_running_suspicion_is_cut_and_confirmations_do_not_extend_the_cut() -> None:
    core = core_with_peers()
    accused = core.received(address("p0"), Suspect("p1", 0, "p0"), 5.0)
    long_deadline = suspicion_deadline(accused, "p1")
    assert long_deadline is not None and long_deadline > 5.0 + 4 * LAN.probe_interval
    cut = core.port_unreachable(address("p1"), 6.0)
    assert suspicion_deadline(cut, "p1") == 6.0 + LAN.unreachable_suspicion_timeout
    confirmed = core.received(address("p2"), Suspect("p1", 0, "p2"), 6.1)
    assert suspicion_deadline(confirmed, "p1") == 6.0 + LAN.unreachable_suspicion_timeout


def test_a_relaying_helper_nacks_at_once_when_the_target_is_unreachable() -> None:
    core = core_with_peers()
    relayed = datagrams(core.received(address("p0"), PingReq(7, "p0", "p1", "me"), 2.0))
    ((to, (ping, *_)),) = relayed
    assert to == address("p1") and isinstance(ping, Ping)
    effects = core.port_unreachable(address("p1"), 2.001)
    assert CancelTimer(RelayTimeout(ping.seq)) in effects
    ((nack_to, (nack, *_)),) = datagrams(effects)
    assert nack_to == address("p0") and nack == Nack(7, "me")


def test_stale_evidence_does_not_cut_a_later_suspicion() -> None:
    core = core_with_peers()
    core.port_unreachable(address("p1"), 1.0)
    accused = core.received(address("p0"), Suspect("p1", 0, "p0"), 1.0 + 3 * LAN.probe_interval)
    deadline = suspicion_deadline(accused, "p1")
    assert (
        deadline is not None and deadline > 1.0 + 3 * LAN.probe_interval + LAN.unreachable_suspicion_timeout
    )


def test_an_ack_clears_the_evidence() -> None:
    """A member that answers is there, whatever an earlier ICMP report said (a restart on the same port)."""
    core = core_with_peers()
    ping = start_probe(core, 1.0)
    core.port_unreachable(address(ping.target), 1.001)
    core.received(address(ping.target), PingAck(ping.seq, ping.target), 1.002)
    accused = core.received(address("p0"), Suspect(ping.target, 0, "p0"), 1.5)
    deadline = suspicion_deadline(accused, ping.target)
    assert deadline is not None and deadline > 1.5 + 4 * LAN.probe_interval


def test_reports_for_unknown_addresses_and_ourselves_change_nothing() -> None:
    core = core_with_peers()
    assert core.port_unreachable(("10.0.0.9", 999), 1.0) == []
    assert core.port_unreachable(("10.0.0.1", 1), 1.0) == []


def test_our_own_failed_probe_of_a_suspect_confirms_its_suspicion() -> None:
    """memberlist's suspectNode: each prober that fails on an already-suspected member is one more
    independent confirmation, and the suspicion's deadline comes forward."""
    core = core_with_peers()
    accused = core.received(address("p0"), Suspect("p1", 0, "p0"), 1.0)
    first_deadline = suspicion_deadline(accused, "p1")
    assert first_deadline is not None
    while True:
        ping = start_probe(core, 2.0)
        if ping.target == "p1":
            break
        core.received(address(ping.target), PingAck(ping.seq, ping.target), 2.0)
    core.timer(ProbeTimeout(ping.seq), 2.5)
    confirmed = core.timer(ProbeDeadline(ping.seq), 3.0)
    later_deadline = suspicion_deadline(confirmed, "p1")
    assert later_deadline is not None and later_deadline < first_deadline
