"""Zeek's own readiness scenarios, table-driven over the pure cores (architecture §3, issue 2 §6)."""

from __future__ import annotations

import pytest

from cluster.layout.loader import parse_layout
from cluster.sim.readiness import ReadinessNet

ZEEK_SMALL = """
cluster: zeek
nodes:
  manager: {role: manager, host: 127.0.0.1, port: 5000}
  proxy-1: {role: proxy, host: 127.0.0.1, port: 5001}
  proxy-2: {role: proxy, host: 127.0.0.1, port: 5002}
  worker-1: {role: worker, host: 127.0.0.1, port: 5003}
  worker-2: {role: worker, host: 127.0.0.1, port: 5004}
"""
WITH_LOGGER = ZEEK_SMALL + "  logger: {role: logger, host: 127.0.0.1, port: 5005}\n"


def formed(text: str) -> ReadinessNet:
    net = ReadinessNet(parse_layout(text))
    net.start_all()
    return net


@pytest.mark.parametrize(("text", "nodes"), [(ZEEK_SMALL, 5), (WITH_LOGGER, 6)], ids=["zeek-small", "logger"])
def test_every_node_reports_once_then_one_cluster_started(text: str, nodes: int) -> None:
    net = formed(text)
    reports = net.events("manager", "node_fully_connected")
    assert sorted(r["name"] for r in reports) == sorted(net.layout.names)
    assert len(reports) == nodes
    assert all(r["resending"] is False for r in reports)
    assert len(net.events("manager", "cluster_announced")) == 1
    for name in net.layout.names:
        assert net.events(name, "cluster_started") == [{"replay": False}]


def test_start_order_does_not_matter() -> None:
    net = ReadinessNet(parse_layout(WITH_LOGGER))
    for name in reversed(net.layout.names):
        net.start(name)
    assert len(net.events("manager", "cluster_announced")) == 1
    assert all(len(net.events(name, "cluster_started")) == 1 for name in net.layout.names)


@pytest.mark.parametrize("text", [ZEEK_SMALL, WITH_LOGGER], ids=["zeek-small", "logger"])
def test_manager_restarted_twice_hears_resending_and_never_announces_again(text: str) -> None:
    net = formed(text)
    for restart in (1, 2):
        net.kill("manager")
        before = len(net.history)
        net.start("manager")
        reports = [
            f for who, what, f in net.history[before:] if who == "manager" and what == "node_fully_connected"
        ]
        others = [r for r in reports if r["name"] != "manager"]
        assert sorted(r["name"] for r in others) == sorted(n for n in net.layout.names if n != "manager"), (
            restart
        )
        assert all(r["resending"] is True for r in others)
        assert len(net.events("manager", "cluster_announced")) == 1
        learned = [f for who, what, f in net.history[before:] if what == "cluster_start_learned"]
        assert len(learned) == 1
    # Only the manager's own new lives raise cluster_started again (as a replay); others saw it once.
    for name in net.layout.names:
        if name != "manager":
            assert net.events(name, "cluster_started") == [{"replay": False}]
    assert net.events("manager", "cluster_started") == [{"replay": False}, {"replay": True}, {"replay": True}]


def test_worker_restarted_twice_reports_again_and_gets_a_replay() -> None:
    net = formed(ZEEK_SMALL)
    for restart in (1, 2):
        net.kill("worker-1")
        net.start("worker-1")
        worker_reports = [r for r in net.events("manager", "node_fully_connected") if r["name"] == "worker-1"]
        assert len(worker_reports) == 1 + restart
        assert len(net.events("manager", "cluster_announced")) == 1
    # first life: started; later lives: replay learned from the manager's hello
    assert net.events("worker-1", "cluster_started") == [
        {"replay": False},
        {"replay": True},
        {"replay": True},
    ]
    others = [n for n in net.layout.names if n != "worker-1"]
    assert all(len(net.events(name, "cluster_started")) == 1 for name in others)


def test_lost_worker_degrades_and_its_return_recovers() -> None:
    net = formed(ZEEK_SMALL)
    net.kill("worker-2")
    assert net.events("manager", "cluster_degraded")[-1]["missing"] == ["worker-2"]
    net.start("worker-2")
    assert len(net.events("manager", "cluster_recovered")) == 1
    assert net.nodes["manager"].coordinator.snapshot()["state"] == "ready"


def test_lost_proxy_link_is_reported_by_the_worker() -> None:
    net = formed(ZEEK_SMALL)
    net.cut("worker-1", "proxy-2")
    assert net.events("worker-1", "node_connectivity_lost") == [{"missing": ["proxy-2"]}]
    degraded = net.events("manager", "cluster_degraded")[-1]
    assert degraded["missing"] == ["worker-1"]
    assert degraded["lost_links"] == {"worker-1": ["proxy-2"]}
    net.settle()  # the tracker still wants proxy-2: the harness reconnects it
    assert net.events("manager", "cluster_recovered")


def test_duplicate_reports_are_harmless() -> None:
    net = formed(ZEEK_SMALL)
    coordinator = net.nodes["manager"].coordinator
    report = net.nodes["worker-1"]
    from cluster.wire.messages import NodeFullyConnected

    effects = coordinator.node_fully_connected(
        NodeFullyConnected("worker-1", report.node_id, False), "worker-1"
    )
    assert [e.name for e in effects] == ["node_fully_connected"]  # no second announcement
    assert coordinator.snapshot()["state"] == "ready"


def test_unknown_names_and_impersonation_are_refused() -> None:
    from cluster.wire.messages import NodeFullyConnected

    net = ReadinessNet(parse_layout(ZEEK_SMALL))
    net.start("manager")
    coordinator = net.nodes["manager"].coordinator
    unknown = coordinator.node_fully_connected(NodeFullyConnected("worker-9", "x", False), "worker-9")
    assert [(e.name, e.fields["reason"]) for e in unknown] == [("readiness_refused", "unknown node")]
    forged = coordinator.node_fully_connected(NodeFullyConnected("worker-1", "x", False), "proxy-1")
    assert forged[0].name == "readiness_refused" and "reports only for itself" in forged[0].fields["reason"]
    assert coordinator.snapshot()["nodes"]["worker-1"]["reported"] is False
