"""Several whole nodes in one process over real loopback sockets: the readiness flow end to end, fast."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import pytest

from actors.inprocess import InProcessCluster
from actors.testkit import ProbeHandle
from cluster.layout.model import Layout
from cluster.ops.control_client import request
from cluster.wire.codec import encode, frame
from cluster.wire.messages import PROTOCOL_VERSION, Hello, NodeFullyConnected

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def events() -> Iterator[ProbeHandle]:
    probe = ProbeHandle()
    yield probe
    probe.stop()


@pytest.fixture
def cluster(zeek_small: Layout, events: ProbeHandle) -> Iterator[InProcessCluster]:
    with InProcessCluster(zeek_small, event_subscribers=(events.ref,)) as running:
        yield running


def started_on(events: ProbeHandle, names: tuple[str, ...]) -> None:
    for name in names:
        events.wait_event("cluster_started", node=name)


def test_layout_forms_and_every_node_sees_cluster_started(
    cluster: InProcessCluster, events: ProbeHandle
) -> None:
    started_on(events, cluster.layout.names)
    cluster.wait_idle()
    manager_name = cluster.layout.manager.name
    reports = [r for r in events.events("node_fully_connected") if r["node"] == manager_name]
    assert sorted(r["name"] for r in reports) == sorted(cluster.layout.names)
    assert len(events.events("cluster_announced")) == 1
    manager = cluster.layout.manager
    status = request(manager.host, manager.port, "status").body
    assert status["readiness"]["state"] == "ready"
    assert status["connectivity"]["fully_connected"] is True


def test_worker_loss_degrades_and_restart_recovers_with_replay(
    cluster: InProcessCluster, events: ProbeHandle
) -> None:
    started_on(events, cluster.layout.names)
    cluster.stop("worker-2")
    degraded = events.wait_event("cluster_degraded", node="manager")
    assert degraded["missing"] == ["worker-2"]
    cluster.start("worker-2")
    events.wait_event("cluster_recovered", node="manager")
    events.wait_event("cluster_started", node="worker-2", replay=True)
    assert len(events.events("cluster_announced")) == 1


def test_garbage_and_strangers_are_dropped_and_the_node_lives_on(
    cluster: InProcessCluster, events: ProbeHandle
) -> None:
    started_on(events, cluster.layout.names)
    manager = cluster.layout.manager
    # garbage frame, then an oversized length prefix
    with socket.create_connection((manager.host, manager.port), timeout=2) as raw:
        raw.sendall(frame(b"\xc1\xc1 not msgpack"))
        raw.sendall(struct.pack(">I", 2**31))
        raw.settimeout(2)
        while raw.recv(65536):
            pass  # the node closes the connection on the oversized frame
    # a stranger from another cluster is refused with a reason
    stranger = Hello(
        cluster="other",
        name="worker-1",
        node_id="x",
        generation=9,
        protocol_version=PROTOCOL_VERSION,
        layout_digest="x",
        cluster_started=False,
    )
    with socket.create_connection((manager.host, manager.port), timeout=2) as raw:
        raw.sendall(frame(encode(stranger)))
        raw.settimeout(2)
        while raw.recv(65536):
            pass
    refused = events.wait_event("handshake_refused", node="manager", reason="other-cluster")
    assert refused["by"] == "self"
    # a forged report over a UDP datagram is not a handshaken peer's message: nothing changes
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(encode(NodeFullyConnected("worker-1", "forged", False)), (manager.host, manager.port))
        udp.sendto(b"\xff" * 3000, (manager.host, manager.port))
    cluster.wait_idle()
    assert request(manager.host, manager.port, "status").body["readiness"]["state"] == "ready"
    assert cluster.nodes["manager"].crashes == []


def test_a_node_stopped_by_a_crash_is_failed_by_the_others_and_a_graceful_stop_is_a_leave(
    cluster: InProcessCluster, events: ProbeHandle
) -> None:
    """Issue 11 §0.11: a node stopped by one of its actors crashing said goodbye on its way out, so the
    others took it for an operator's choice (`member_left`) and nobody saw it fail."""
    started_on(events, cluster.layout.names)
    cluster.nodes.pop("worker-1").stop(leave=False)  # what `run` does after an actor crashed
    failed = events.wait_event("member_failed", node="manager", member="worker-1", timeout=20)
    assert failed["member"] == "worker-1"
    assert not [e for e in events.events("member_left") if e.get("member") == "worker-1"]
    cluster.nodes.pop("worker-2").stop()
    events.wait_event("member_left", node="manager", member="worker-2", timeout=20)
