"""Metrics on real node processes: every node serves `GET /metrics` on its port (or its metrics port), the
figures move with what the node does, and `clusterctl top` reads them all, live."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cluster.ops.metrics_client import MetricsUnavailable, metrics_address, scrape
from cluster.ops.testing import LiveCluster

pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).resolve().parent.parent
LAYOUT = """cluster: metrics
preset: local
nodes:
  manager: {role: manager, host: 127.0.0.1, port: 7000, metrics_port: 7100}
  logger: {role: logger, host: 127.0.0.1, port: 7001}
  worker: {role: worker, host: 127.0.0.1, port: 7002, count: 2}
"""


@pytest.fixture
def live(tmp_path: Path, cluster_processes: Callable[..., LiveCluster]) -> LiveCluster:
    layout = tmp_path / "metrics.yaml"
    layout.write_text(LAYOUT)
    return cluster_processes(layout)


def clusterctl(live: LiveCluster, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cluster.ops.cli", "--run-dir", str(live.cluster.run_dir.root), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)


def eventually(check: Callable[[], bool], *, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not true within {timeout}s: {check.__name__}"
        time.sleep(0.05)


def test_every_node_serves_its_metrics_and_they_count_what_it_did(live: LiveCluster) -> None:
    manager = live.layout.node("manager")
    assert manager.metrics_port is not None and manager.metrics_port != manager.port
    for spec in live.layout.nodes:
        page = scrape(metrics_address(spec))
        assert page.by_label("pycluster_node_info", "node") == {spec.name: 1.0}
        assert page.value("memberlist_node_instances", state="alive") == len(live.layout.nodes)
        assert page.value("memberlist_udp_sent_datagrams_total") > 0
        assert page.value("memberlist_tcp_received_bytes_total") > 0
        assert page.value("process_resident_memory_bytes") > 0 and page.value("pycluster_threads") > 1
        assert "membership" in page.by_label("pycluster_actor_mailbox_depth", "actor")
    # the manager's own port serves the page too, beside its metrics port
    assert scrape(manager.address).by_label("pycluster_node_info", "node") == {"manager": 1.0}
    first = scrape(metrics_address(live.layout.node("worker-1")))

    def probed_more() -> bool:
        later = scrape(metrics_address(live.layout.node("worker-1")))
        return later.value("memberlist_probes_acked_total") > first.value("memberlist_probes_acked_total")

    eventually(probed_more)
    assert live.cluster.status("worker-1").node == "worker-1"  # control requests still work beside scrapes


def test_top_shows_every_node_and_which_one_is_down(live: LiveCluster) -> None:
    result = clusterctl(live, "top", "--count", "1", "--interval", "0.5", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["node"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert set(rows) == set(live.layout.names)
    assert all(row["cpu_percent"] is not None and row["threads"] > 1 for row in rows.values())
    assert all(row["health"] == 0 and row["problem"] == "" for row in rows.values())
    live.cluster.signal("worker-2", signal.SIGKILL)

    def gone() -> bool:
        try:
            scrape(metrics_address(live.layout.node("worker-2")), timeout=0.5)
        except MetricsUnavailable:
            return True
        return False

    eventually(gone)
    table = clusterctl(live, "top", "--count", "1", "--interval", "0.5")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].startswith("3/4 nodes answering")
    assert "NODE" in lines[1] and any(line.startswith("worker-2") and "refused" in line for line in lines)
