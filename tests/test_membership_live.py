"""Membership in live nodes: in-process over loopback, and real processes (issue 3 §5), `fast` preset."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.inprocess import InProcessCluster
from actors.testkit import ProbeHandle, free_ports
from cluster.layout.loader import parse_layout
from tests.conftest import shipped_layout_on_free_ports
from tests.test_processes import Cli

pytestmark = pytest.mark.timeout(120)


def ten_node_layout(cluster: str = "members") -> str:
    names = ["manager", "logger", "proxy-1", "proxy-2"] + [f"worker-{i}" for i in range(1, 7)]
    ports = free_ports(len(names))
    lines = [f"cluster: {cluster}", "preset: fast", "nodes:"]
    for name, port in zip(names, ports, strict=True):
        lines.append(f"  {name}: {{role: {name.split('-')[0]}, host: 127.0.0.1, port: {port}}}")
    return "\n".join(lines) + "\n"


# -- in-process ----------------------------------------------------------------------------------------


@pytest.fixture
def events() -> Iterator[ProbeHandle]:
    probe = ProbeHandle()
    yield probe
    probe.stop()


def test_in_process_everyone_joins_and_a_graceful_stop_is_left(events: ProbeHandle) -> None:
    layout = shipped_layout_on_free_ports("zeek-logger.yaml", preset="fast")
    with InProcessCluster(layout, event_subscribers=(events.ref,)) as cluster:
        for observer in layout.names:
            for member in layout.names:
                if member != observer:
                    events.wait_event("member_joined", node=observer, member=member)
        cluster.stop("worker-2")
        for observer in layout.names:
            if observer != "worker-2":
                events.wait_event("member_left", node=observer, member="worker-2")
        assert not events.events("member_failed")


# -- real processes ------------------------------------------------------------------------------------


def ten_node_cli(tmp_path: Path, cluster: str) -> Iterator[Cli]:
    """A `Cli` on a ten-node layout (fast preset, free ports); every process it started is killed after."""
    runner = Cli(tmp_path)
    runner.layout_file.write_text(ten_node_layout(cluster))
    runner.names = parse_layout(runner.layout_file.read_text()).names
    try:
        yield runner
    finally:
        runner.kill_everything()


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    yield from ten_node_cli(tmp_path, "members")


def views(cli: Cli) -> dict[str, dict[str, str]]:
    seen: dict[str, dict[str, str]] = {}
    for line in cli("status", "--json").stdout.splitlines():
        row = json.loads(line)
        if row["status"]:
            seen[row["node"]] = {m["member"]: m["state"] for m in row["status"]["membership"]["members"]}
    return seen


def wait_views(cli: Cli, expected: dict[str, str], observers: list[str], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        seen = views(cli)
        if all(seen.get(o, {}).get(k) == v for o in observers for k, v in expected.items()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"views did not converge to {expected}: {seen}")
        time.sleep(0.2)


def up_and_all_alive(cli: Cli) -> None:
    cli("up", str(cli.layout_file), "--timeout", "30")
    wait_views(cli, dict.fromkeys(cli.names, "alive"), list(cli.names))


def member_event(event: str, member: str) -> Callable[[dict[str, Any]], bool]:
    return lambda record: record["event"] == event and record.get("member") == member


def failed_events(cli: Cli) -> list[dict[str, Any]]:
    return [r for name in cli.names for r in cli.events(name) if r["event"] == "member_failed"]


def test_processes_see_all_alive_then_kill_9_is_failed_by_all(cli: Cli) -> None:
    up_and_all_alive(cli)
    cli("kill", "worker-3")
    survivors = [n for n in cli.names if n != "worker-3"]
    wait_views(cli, {"worker-3": "dead"}, survivors)
    assert {r["member"] for r in failed_events(cli)} == {"worker-3"}, "a healthy node was declared failed"
    cli("down")


def test_a_stopped_process_is_failed_then_refutes_when_continued(cli: Cli) -> None:
    up_and_all_alive(cli)
    cli("kill", "worker-1", "--signal", "STOP")
    others = [n for n in cli.names if n != "worker-1"]
    for name in others:
        cli.wait_event(name, member_event("member_failed", "worker-1"))
    cli("kill", "worker-1", "--signal", "CONT")
    for name in others:
        alive = cli.wait_event(name, member_event("member_alive", "worker-1"))
        assert alive["incarnation"] > 0
    assert {r["member"] for r in failed_events(cli)} == {"worker-1"}
    cli("down")


def test_a_terminated_process_leaves_rather_than_fails(cli: Cli) -> None:
    up_and_all_alive(cli)
    cli("kill", "proxy-2", "--signal", "TERM")
    others = [n for n in cli.names if n != "proxy-2"]
    for name in others:
        cli.wait_event(name, member_event("member_left", "proxy-2"))
    assert not failed_events(cli)
    cli("down")
