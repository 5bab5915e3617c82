"""Injected faults: the plan kept by the control endpoint, its checks, what the I/O thread does with each
datagram, and how the CLI reads `10%`, `50ms` and `A,B / C,D`."""

from __future__ import annotations

import random

import pytest

from cluster.control.endpoint import Answer, ControlCore, NodeIdentity, SetFaults
from cluster.control.protocol import FaultsRequest, FaultsStatus, StatusRequest, parse_reply, to_request
from cluster.core.effects import Address
from cluster.core.faults import FaultPlan, NetworkFaults
from cluster.ops.faults import parse_delay, parse_groups, parse_loss

ME = NodeIdentity("worker-1", "worker", "c", "id", 1, "digest", 42)
A, B = Address("127.0.0.1", 1), Address("127.0.0.1", 2)


def control() -> ControlCore:
    core = ControlCore(ME)
    core.peers_known(["manager", "worker-2"])
    return core


def ask(core: ControlCore, request: FaultsRequest) -> list[object]:
    return list(core.request(to_request(request)))


def test_each_request_changes_only_its_part_of_the_plan_and_status_shows_it() -> None:
    core = control()
    assert core.status().faults is None
    set_block, answered = ask(core, FaultsRequest(blocked=("manager",)))
    assert set_block == SetFaults(FaultPlan(blocked=frozenset({"manager"})))
    assert isinstance(answered, Answer)
    assert parse_reply(FaultsStatus, answered.reply.body) == FaultsStatus(("manager",), 0.0, 0.0)
    (set_loss, _) = ask(core, FaultsRequest(loss=0.1))
    assert set_loss == SetFaults(FaultPlan(frozenset({"manager"}), loss=0.1))  # the partition stands
    assert core.status().faults == FaultsStatus(("manager",), 0.1, 0.0)
    ask(core, FaultsRequest(blocked=(), loss=0.0, delay=0.0))
    assert core.status().faults is None
    assert core.request(to_request(StatusRequest()))  # status still answers


@pytest.mark.parametrize(
    ("request_", "problem"),
    [
        (FaultsRequest(blocked=("nobody",)), "cannot cut off 'nobody': not another node of this layout"),
        (FaultsRequest(blocked=("worker-1",)), "cannot cut off 'worker-1'"),
        (FaultsRequest(loss=1.5), "loss must be a share between 0 and 1"),
        (FaultsRequest(delay=-1.0), "delay must be between 0 and 60 seconds"),
    ],
)
def test_a_plan_that_cannot_be_is_refused_and_nothing_changes(request_: FaultsRequest, problem: str) -> None:
    core = control()
    (refused,) = ask(core, request_)
    assert isinstance(refused, Answer) and not refused.reply.ok and problem in refused.reply.error
    assert core.status().faults is None


def test_datagrams_to_blocked_addresses_are_dropped_lossy_ones_by_share_others_held() -> None:
    rng = random.Random(1)
    faults = NetworkFaults(blocked=frozenset({A}), loss=0.25, delay=0.05)
    assert faults.datagram_fate(A, rng) is None and not faults.admits_from(A)
    fates = [faults.datagram_fate(B, rng) for _ in range(10_000)]
    lost = fates.count(None) / len(fates)
    assert 0.23 < lost < 0.27 and set(fates) == {None, 0.05}
    assert faults.admits_from(B)
    assert not NetworkFaults().active and NetworkFaults().datagram_fate(B, rng) == 0.0


@pytest.mark.parametrize(
    ("text", "share"), [("10%", 0.1), ("0.5%", 0.005), ("0.1", 0.1), ("100%", 1.0), ("0%", 0.0)]
)
def test_loss_reads_percentages_and_shares(text: str, share: float) -> None:
    assert parse_loss(text) == pytest.approx(share)


@pytest.mark.parametrize(("text", "seconds"), [("50ms", 0.05), ("0.5s", 0.5), ("2", 2.0), ("0", 0.0)])
def test_delay_reads_milliseconds_and_seconds(text: str, seconds: float) -> None:
    assert parse_delay(text) == pytest.approx(seconds)


def test_groups_split_on_slashes_whatever_the_shell_did() -> None:
    assert parse_groups(["a,b", "/", "c,d"]) == [["a", "b"], ["c", "d"]]
    assert parse_groups(["a,b/c"]) == [["a", "b"], ["c"]]
    assert parse_groups(["worker-3"]) == [["worker-3"]]
    for bad in (["a,b", "/"], ["110%"]):
        with pytest.raises(ValueError):
            parse_groups(bad) if "/" in bad else parse_loss(bad[0])
    with pytest.raises(ValueError, match="give a duration"):
        parse_delay("fast")
