"""End to end: real node processes spawned by `clusterctl` from layouts/zeek-small.yaml on free ports.

Every test stops every process it started, by pid, even when it fails (the `cli` fixture's teardown).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.rundir import RunDir
from actors.testkit import layout_with_ports
from cluster.layout.loader import load_layout
from cluster.ops.launcher import Cluster
from cluster.ops.processes import node_process_alive
from tests.conftest import LAYOUTS, ROOT

pytestmark = pytest.mark.timeout(120)

EVENT_WAIT = 20.0


class Cli:
    def __init__(self, tmp_path: Path) -> None:
        source = load_layout(LAYOUTS / "zeek-small.yaml")
        self.layout_file = tmp_path / "zeek-small.yaml"
        self.layout_file.write_text(layout_with_ports(source))
        self.run_dir = RunDir(tmp_path / "run")
        self.names = source.names

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "cluster.ops.cli", "--run-dir", str(self.run_dir.root), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def pids(self) -> dict[str, int]:
        pids = {name: self.run_dir.read_pid(name) for name in self.names}
        return {name: pid for name, pid in pids.items() if pid is not None}

    def events(self, node: str) -> list[dict[str, Any]]:
        path = self.run_dir.events_file(node)
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def wait_event(
        self, node: str, predicate: Callable[[dict[str, Any]], bool], *, after: int = 0
    ) -> dict[str, Any]:
        """Poll the node's event log (a file written by another process: polling is the only way)."""
        deadline = time.monotonic() + EVENT_WAIT
        while time.monotonic() < deadline:
            for record in self.events(node)[after:]:
                if predicate(record):
                    return record
            time.sleep(0.05)
        raise AssertionError(f"no such event on {node}; events: {self.events(node)[after:]}")

    def kill_everything(self) -> None:
        for name, pid in self.pids().items():
            if node_process_alive(pid, name):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    runner = Cli(tmp_path)
    try:
        yield runner
    finally:
        runner.kill_everything()


def named(event: str, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda record: record["event"] == event and all(record.get(k) == v for k, v in fields.items())


def test_up_status_down(cli: Cli) -> None:
    up = cli("up", str(cli.layout_file), "--timeout", "30")
    assert "cluster_started" in up.stdout and "fully connected 5/5" in up.stdout
    again = cli("up", str(cli.layout_file), check=False)
    assert again.returncode != 0 and "already running" in again.stderr
    status = cli("status", "--json")
    rows = [json.loads(line) for line in status.stdout.splitlines()]
    assert {row["node"] for row in rows} == set(cli.names)
    assert all(row["alive"] and row["status"]["connectivity"]["cluster_started"] for row in rows)
    pids = cli.pids()
    cli("state", "set", "k", "1")  # traffic in flight while the nodes stop
    cli("down")
    assert not any(node_process_alive(pid) for pid in pids.values())
    for name in cli.names:  # a clean stop: no actor crashed on the way down
        log = cli.run_dir.log_file(name).read_text()
        assert "Traceback" not in log and " ERROR " not in log, f"{name}:\n{log}"


def test_nodes_import_the_product_whatever_directory_clusterctl_runs_in(cli: Cli, tmp_path: Path) -> None:
    """A user's project is where clusterctl is run, and it may well hold its own `actors` package:
    the nodes must not import that one in place of ours (`python -m` puts the working directory first)."""
    project = tmp_path / "project"
    (project / "actors").mkdir(parents=True)
    (project / "actors" / "__init__.py").write_text('raise SystemExit("the project\'s own actors package")\n')
    clusterctl = Path(sys.executable).with_name("clusterctl")
    command = [str(clusterctl), "--run-dir", str(cli.run_dir.root), "up", str(cli.layout_file)]
    up = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=project)
    assert up.returncode == 0 and "cluster_started" in up.stdout, up.stdout + up.stderr
    cli("down")


def test_killed_worker_degrades_and_restarted_worker_recovers(cli: Cli) -> None:
    cli("up", str(cli.layout_file), "--timeout", "30")
    mark = len(cli.events("manager"))
    cli("kill", "worker-2")
    degraded = cli.wait_event("manager", named("cluster_degraded"), after=mark)
    assert degraded["missing"] == ["worker-2"]
    cli("start", "worker-2")
    cli.wait_event("manager", named("cluster_recovered"), after=mark)
    cli.wait_event("worker-2", named("cluster_started", replay=True))
    assert len([r for r in cli.events("manager") if r["event"] == "cluster_announced"]) == 1
    cli("down")


def test_restarted_manager_hears_resending_and_does_not_announce_again(cli: Cli) -> None:
    cli("up", str(cli.layout_file), "--timeout", "30")
    cli("kill", "manager")
    cli("start", "manager")
    others = [name for name in cli.names if name != "manager"]
    for name in others:
        cli.wait_event("manager", named("node_fully_connected", name=name, resending=True))
    cli.wait_event("manager", named("cluster_start_learned"))
    announced = [r for r in cli.events("manager") if r["event"] == "cluster_announced"]
    assert len(announced) == 1  # the first life's only
    for name in others:  # nobody heard a second cluster_started
        started = [r for r in cli.events(name) if r["event"] == "cluster_started"]
        assert [r["replay"] for r in started] == [False], name
    manager_lives = [r["replay"] for r in cli.events("manager") if r["event"] == "cluster_started"]
    assert manager_lives[0] is False and manager_lives[1:] in ([], [True])
    cli("down")


def test_down_leaves_no_process_even_when_a_node_is_stopped(cli: Cli) -> None:
    cli("up", str(cli.layout_file), "--timeout", "30")
    cli("kill", "worker-1", "--signal", "STOP")
    pids = cli.pids()
    cli("down", "--grace", "5")
    assert not any(node_process_alive(pid) for pid in pids.values())


def test_bad_layout_is_a_clear_error_not_a_traceback(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("cluster: x\nnodes:\n  manager: {role: manager, host: 127.0.0.1, port: 99999}\n")
    result = cli("layout", "check", str(bad), check=False)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "bad.yaml:3" in result.stderr and "port" in result.stderr


def test_up_refuses_a_taken_port_and_names_it(cli: Cli) -> None:
    layout = load_layout(cli.layout_file)
    worker = layout.node("worker-2")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind((worker.host, worker.port))
        squatter.listen()
        result = cli("up", str(cli.layout_file), check=False)
    assert result.returncode != 0
    assert f"worker-2 ({worker.host}:{worker.port})" in result.stderr and "in use" in result.stderr
    assert cli.pids() == {}


def test_diagnosis_names_crashed_nodes_and_missing_peers(cli: Cli) -> None:
    cli("up", str(cli.layout_file), "--timeout", "30")
    cluster = Cluster.from_run_dir(cli.run_dir)
    cli("kill", "proxy-1")
    cli.wait_event("worker-1", named("node_connectivity_lost"))
    problems = cluster.diagnose(["proxy-1", "worker-1"])
    assert problems["proxy-1"].startswith("not running; last log lines:")
    assert problems["worker-1"] == "waiting for peers: proxy-1"
    cli("down")


def test_demo_forms_crashes_recovers_and_leaves_nothing_running(cli: Cli) -> None:
    """The README's first command, on free ports."""
    result = cli("demo", str(cli.layout_file), "--seconds", "3")
    assert "cluster_started after" in result.stdout
    assert "cluster_degraded" in result.stdout and "cluster_recovered" in result.stdout
    assert "stopped 5 nodes" in result.stdout
    table = result.stdout.split("NODE", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    pids = [int(row.split()[3]) for row in table]
    pids.append(int(re.search(r"started worker-2 \(pid (\d+)\)", result.stdout).group(1)))
    assert len(pids) == 6
    assert not any(node_process_alive(pid) for pid in pids)


def test_down_takes_a_node_that_ends_between_the_look_and_the_signal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every node is looked at, then signalled: one that ends in between (it crashed, or stopped late
    under load) is gone, not an error; a 201-node bench's teardown ended in ProcessLookupError."""
    from cluster.ops import launcher

    layout = load_layout(LAYOUTS / "zeek-small.yaml")
    run_dir = RunDir(tmp_path / "run")
    run_dir.root.mkdir(parents=True)
    for position, name in enumerate(layout.names):
        run_dir.pid_file(name).write_text(str(10_000_000 + position))
    signals: list[int] = []

    def gone(pid: int, signum: int) -> None:
        signals.append(signum)
        raise ProcessLookupError(pid)

    # Seen alive at every look, yet gone whenever it is signalled.
    monkeypatch.setattr(launcher, "node_process_alive", lambda pid, name=None: True)
    monkeypatch.setattr(launcher.os, "kill", gone)
    lines: list[str] = []
    stopped = Cluster(layout, run_dir).down(grace=0.0, progress=lines.append)
    assert stopped == list(layout.names)
    assert signal.SIGKILL in signals and signal.SIGTERM not in signals  # SIGCONT raised first
    assert lines == [f"stopped {len(layout.names)} nodes"]
    assert not any(run_dir.pid_file(name).exists() for name in layout.names)
