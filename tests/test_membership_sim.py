"""The membership core at scale, in the deterministic simulator (issue 3 §5)."""

from __future__ import annotations

import pytest

from cluster.layout.presets import PRESETS
from cluster.sim.membership import NetworkConditions, Simulation

pytestmark = pytest.mark.timeout(120)

LAN = PRESETS["lan"]


def names(n: int) -> list[str]:
    return [f"node-{i:02d}" for i in range(n)]


def everyone_sees(sim: Simulation, expected: dict[str, str]) -> bool:
    return all({k: v for k, v in sim.view(n).items() if k in expected} == expected for n in sim.nodes)


def formed(n: int, *, loss: float = 0.0, seed: int = 1) -> Simulation:
    """Started and run until every node sees every node alive, in at most 5 s (virtual) without loss.
    Under loss a suspicion may be in flight at any one instant, refuted a moment later; so the cluster
    gets up to 15 s to be seen all alive at once."""
    sim = Simulation(names(n), LAN, seed=seed, conditions=NetworkConditions(loss=loss))
    sim.start_all()
    everyone = dict.fromkeys(names(n), "alive")
    sim.run_for(5.0)
    while loss and not everyone_sees(sim, everyone) and sim.now < 15.0:
        sim.run_for(0.5)
    assert everyone_sees(sim, everyone)
    return sim


def test_ten_nodes_all_see_ten_alive_and_stay_so() -> None:
    sim = formed(10)
    sim.run_for(60.0)
    assert everyone_sees(sim, dict.fromkeys(names(10), "alive"))
    assert not sim.events_named("member_suspect")


def test_crashed_node_is_declared_dead_by_all_with_ten_percent_loss() -> None:
    sim = formed(50, loss=0.10, seed=7)
    sim.crash("node-13")
    crashed_at = sim.now
    sim.run_for(60.0)
    survivors = [n for n in names(50) if n != "node-13"]
    assert all(sim.view(n)["node-13"] == "dead" for n in survivors)
    failed = sim.events_named("member_failed")
    assert {e.node for e in failed if e.fields["member"] == "node-13"} == set(survivors)
    assert {e.fields["member"] for e in failed} == {"node-13"}, "a healthy node was declared dead"
    detection = max(e.time for e in failed) - crashed_at
    assert detection < 60.0


def test_a_slow_node_does_not_get_healthy_nodes_declared_dead() -> None:
    sim = formed(20, seed=3)
    sim.slow["node-05"] = 2 * LAN.probe_interval  # its acks and nacks always look late to it
    sim.run_for(120.0)
    # The slow node itself may be failed (it cannot refute in time); no healthy node may be.
    assert {e.fields["member"] for e in sim.events_named("member_failed")} <= {"node-05"}
    assert sim.nodes["node-05"].health_score > 0  # Lifeguard noticed it is the slow one


def test_graceful_leave_is_left_not_failed() -> None:
    sim = formed(10)
    sim.leave("node-04")
    sim.run_for(10.0)
    assert all(sim.view(n)["node-04"] == "left" for n in sim.nodes)
    assert not sim.events_named("member_failed")


def test_a_partition_heals_and_remerges() -> None:
    sim = formed(10, seed=5)
    left, right = frozenset(names(10)[:5]), frozenset(names(10)[5:])
    sim.conditions.partitions = [left, right]
    sim.run_for(60.0)
    assert all(sim.view(n)[other] == "dead" for n in left for other in right)
    sim.conditions.partitions = []
    sim.run_for(3 * LAN.push_pull_interval)
    assert everyone_sees(sim, dict.fromkeys(names(10), "alive"))


def test_a_suspected_node_refutes_with_a_higher_incarnation() -> None:
    sim = formed(10, seed=9)
    sim.conditions.partitions = [frozenset(["node-02"]), frozenset(n for n in names(10) if n != "node-02")]
    sim.run_for(LAN.probe_interval * 4)
    sim.conditions.partitions = []
    sim.run_for(30.0)
    assert everyone_sees(sim, dict.fromkeys(names(10), "alive"))
    assert sim.nodes["node-02"].table.local.incarnation > 0


def test_runs_are_repeatable() -> None:
    def run() -> list[tuple[float, str, str]]:
        sim = formed(12, loss=0.05, seed=11)
        sim.crash("node-03")
        sim.run_for(30.0)
        return [(e.time, e.node, e.event) for e in sim.events]

    assert run() == run()


def detection_time(sim: Simulation, victim: str) -> float:
    crashed_at = sim.now
    sim.crash(victim)
    sim.run_for(60.0)
    failed = [e for e in sim.events_named("member_failed") if e.fields["member"] == victim]
    assert {e.node for e in failed} == set(sim.nodes), "every survivor marks the crashed node failed"
    assert {e.fields["member"] for e in sim.events_named("member_failed")} == {victim}
    return max(e.time for e in failed) - crashed_at


def test_port_unreachable_reports_shorten_detection_but_never_accuse_alone() -> None:
    """Same cluster, same seed, same crash: with the host's ICMP reports, detection is bounded by one
    probe round, the helpers' nacks and the cut suspicion, not by Lifeguard's floor."""
    silent = formed(25, loss=0.05, seed=11)
    silent_time = detection_time(silent, "node-07")
    reporting = Simulation(
        names(25), LAN, seed=11, conditions=NetworkConditions(loss=0.05, closed_ports_reply=True)
    )
    reporting.start_all()
    reporting.run_for(5.0)
    reporting_time = detection_time(reporting, "node-07")
    floor = LAN.suspicion_mult * 1.39 * LAN.probe_interval  # log10(25) = 1.39
    assert silent_time > floor
    assert reporting_time < LAN.probe_interval + LAN.unreachable_suspicion_timeout + 2.0
