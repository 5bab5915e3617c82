"""Replicated state in live nodes (issue 4 §4): in-process over loopback, and real processes (`fast`)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.inprocess import InProcessCluster
from actors.messages import ProviderCommand
from actors.testkit import ProbeHandle
from cluster.layout_yaml import parse_layout
from tests.conftest import shipped_layout_on_free_ports
from tests.test_membership_live import ten_node_layout
from tests.test_processes import Cli

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def events() -> Iterator[ProbeHandle]:
    probe = ProbeHandle()
    yield probe
    probe.stop()


def test_in_process_a_write_is_seen_everywhere_and_a_delete_too(events: ProbeHandle) -> None:
    layout = shipped_layout_on_free_ports("zeek-logger.yaml", preset="fast")
    with InProcessCluster(layout, event_subscribers=(events.ref,)) as cluster:
        for name in layout.names:
            events.wait_event("member_joined", node=name)
        kv = cluster.nodes["worker-1"].actors.providers["kv"]  # type: ignore[union-attr]
        kv.tell(ProviderCommand("set", "colour", "blue"))
        for name in layout.names:
            events.wait_event("state_changed", node=name, key="colour", value="blue", owner="worker-1")
        other = cluster.nodes["manager"].actors.providers["kv"]  # type: ignore[union-attr]
        other.tell(ProviderCommand("del", "colour"))
        for name in layout.names:
            events.wait_event("state_changed", node=name, key="colour", value=None)


# -- real processes ------------------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    runner = Cli(tmp_path)
    runner.layout_file.write_text(ten_node_layout("state"))
    runner.names = parse_layout(runner.layout_file.read_text()).names
    try:
        yield runner
    finally:
        runner.kill_everything()


def state_everywhere(cli: Cli, key: str, names: list[str], timeout: float = 20.0) -> dict[str, Any]:
    """Each node's view of `key`, once every one of `names` agrees (or the timeout says they don't)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = {}
        for name in names:
            result = cli("state", "get", key, "--node", name, "--json", check=False)
            entries = json.loads(result.stdout)["entries"] if result.returncode == 0 else {}
            seen[name] = entries.get(key)
        if len({json.dumps(v, sort_keys=True) for v in seen.values()}) == 1 or time.monotonic() > deadline:
            return seen
        time.sleep(0.1)


def test_a_set_on_one_node_is_seen_by_every_node_and_a_restarted_owner_wins(cli: Cli) -> None:
    cli("up", str(cli.layout_file))
    cli("state", "set", "answer", "41", "--node", "worker-3")
    seen = state_everywhere(cli, "answer", cli.names)
    assert {v["value"] for v in seen.values() if v} == {41} and all(seen.values()), seen
    first = seen["manager"]["version"]
    cli("kill", "worker-3")
    cli("start", "worker-3")
    cli.wait_event("worker-3", lambda r: r["event"] == "cluster_started")
    cli("state", "set", "answer", "42", "--node", "worker-3")
    seen = state_everywhere(cli, "answer", cli.names)
    assert {v["value"] for v in seen.values() if v} == {42} and all(seen.values()), seen
    assert seen["manager"]["version"] > first  # its new life's clock starts above the old one's
    cli("down")
