"""Injected faults on real node processes, through the product's test tools and `clusterctl`: a partition
degrades the cluster and each side marks the other failed; healing brings every member back; loss and
delay show in what the nodes measure."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cluster.ops.metrics_client import metrics_address, scrape
from cluster.ops.testing import LiveCluster

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parent.parent
LAYOUT = ROOT / "layouts" / "local.yaml"
CORE, WORKERS = ["manager", "logger", "proxy"], ["worker-1", "worker-2", "worker-3"]


def eventually(check: Callable[[], bool], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not true within {timeout}s: {check.__name__}"
        time.sleep(0.1)


def clusterctl(live: LiveCluster, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cluster.ops.cli", "--run-dir", str(live.cluster.run_dir.root), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)


def all_alive(live: LiveCluster) -> bool:
    for name in live.layout.names:
        membership = live.cluster.status(name).membership
        if membership is None or any(row.state != "alive" for row in membership.members):
            return False
    return True


def test_a_partition_degrades_marks_the_other_side_failed_and_heals(
    cluster_processes: Callable[..., LiveCluster],
) -> None:
    live = cluster_processes(LAYOUT)
    cut = time.time()
    result = clusterctl(live, "partition", ",".join(CORE), "/", ",".join(WORKERS))
    assert result.returncode == 0, result.stderr
    assert "cut off from worker-1, worker-2, worker-3" in result.stdout
    live.wait_event("cluster_degraded", node="manager", after=cut, timeout=20)
    live.wait_event("member_failed", node="manager", member="worker-1", after=cut, timeout=30)
    live.wait_event("member_failed", node="worker-1", member="manager", after=cut, timeout=30)
    status = clusterctl(live, "status")
    assert "FAULTS" in status.stdout and "cut off from logger, manager, proxy" in status.stdout
    healed = time.time()
    live.heal()
    live.wait_event("cluster_recovered", node="manager", after=healed, timeout=30)
    eventually(lambda: all_alive(live), timeout=60)
    assert "FAULTS" not in clusterctl(live, "status").stdout


def test_loss_and_delay_show_in_what_the_nodes_measure(
    cluster_in_process: Callable[..., LiveCluster],
) -> None:
    live = cluster_in_process(LAYOUT)
    spec = live.layout.node("worker-2")
    live.loss(1.0, "worker-2")  # everything it sends is lost: it cannot answer probes
    lost = time.time()
    live.wait_event("member_suspect", member="worker-2", after=lost, timeout=20)
    assert scrape(metrics_address(spec)).value("pycluster_injected_drops_total") > 0
    live.loss(0.0, "worker-2")
    live.delay(0.05, "worker-1")
    before = scrape(metrics_address(live.layout.node("worker-1")))

    def slower_probes() -> bool:
        now = scrape(metrics_address(live.layout.node("worker-1")))
        count = now.value("memberlist_probe_node_seconds_count") - before.value(
            "memberlist_probe_node_seconds_count"
        )
        total = now.value("memberlist_probe_node_seconds_sum") - before.value(
            "memberlist_probe_node_seconds_sum"
        )
        return count >= 3 and total / count >= 0.05  # its pings wait 50 ms before they leave

    eventually(slower_probes, timeout=30)
    live.heal()
    eventually(lambda: all_alive(live), timeout=60)
