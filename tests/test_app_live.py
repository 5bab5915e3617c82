"""Users' actors on real node processes: pools, FIFO, dead letters, supervision, limits, providers, events.

Every test starts the layout in tests/apps/messaging.yaml through the product's own pytest fixtures
(`cluster_processes`), which put it on free ports and stop every process afterwards, pass or fail.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cluster.control.protocol import StateEntries, StateGetRequest
from cluster.ops.control_client import ControlRefused
from cluster.ops.testing import LiveCluster

ROOT = Path(__file__).resolve().parent.parent
LAYOUT = ROOT / "tests" / "apps" / "messaging.yaml"
WORKERS = [f"worker-{i}" for i in range(1, 5)]

Start = Callable[..., LiveCluster]


def clusterctl(live: LiveCluster, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cluster.ops.cli", "--run-dir", str(live.cluster.run_dir.root), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)


def wait_until(check: Callable[[], Any], *, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {check} (last: {result!r})")
        time.sleep(0.05)


def hauls(live: LiveCluster, workers: list[str], expected: int) -> dict[str, list[Any]]:
    """What each worker's keeper was sent, gathered until `expected` items in all have arrived (a keeper
    forgets what it hands over, so the hauls of successive asks are added up)."""
    gathered: dict[str, list[Any]] = {w: [] for w in workers}

    def complete() -> bool:
        for w in workers:
            gathered[w] += live.client.request(w, "keeper", {"take": True})
        return sum(len(kept) for kept in gathered.values()) >= expected

    wait_until(complete)
    return gathered


def test_hrw_moves_exactly_the_dead_nodes_keys_and_rr_skips_the_dead(cluster_processes: Start) -> None:
    live = cluster_processes(LAYOUT)
    keys = [f"word-{i}" for i in range(400)]
    assert live.client.request("manager", "router", {"hrw": keys}) == len(keys)
    before = {key: w for w, kept in hauls(live, WORKERS, len(keys)).items() for key in kept}
    assert set(before.values()) == set(WORKERS)

    assert live.client.request("manager", "router", {"rr": 8, "key": "jobs"}) == 8
    turns = hauls(live, WORKERS, 8)
    assert all(len(kept) == 2 for kept in turns.values()), turns  # two full rotations over four workers

    started = time.time()
    live.kill("worker-3")
    live.wait_event("member_failed", node="manager", member="worker-3", after=started, timeout=20)
    survivors = [w for w in WORKERS if w != "worker-3"]
    assert live.client.request("manager", "router", {"hrw": keys}) == len(keys)
    after = {key: w for w, kept in hauls(live, survivors, len(keys)).items() for key in kept}
    moved = {key for key in keys if before[key] != after[key]}
    assert moved == {key for key in keys if before[key] == "worker-3"}

    assert live.client.request("manager", "router", {"rr": 6, "key": "jobs"}) == 6
    turns = hauls(live, survivors, 6)
    assert sorted(len(kept) for kept in turns.values()) == [2, 2, 2]


def test_fifo_per_pair_dead_letters_limits_and_topics(cluster_processes: Start) -> None:
    live = cluster_processes(LAYOUT)
    client = live.client
    # FIFO: 10,000 messages from one node to another arrive all, in order
    assert client.request("worker-1", "sequencer", {"to": ["worker-2", "checker"], "n": 10_000}) == 10_000
    try:
        report = wait_until(
            lambda: (r := client.request("worker-2", "checker", {"report": True}))["count"] >= 10_000 and r
        )
    except AssertionError as short:
        bounced = client.request("worker-1", "sequencer", {"bounced": True})
        raise AssertionError(f"{short}; {len(bounced)} came back, first: {bounced[:1]}") from None
    assert report == {"count": 10_000, "out_of_order": 0}

    # dead letters: to an actor that is not there, and to a node that is down, come back with the reason
    client.send("manager", "relay", {"to": ["worker-1", "nobody"], "body": "x"})
    client.send("manager", "relay", {"to": ["worker-1", "echo"], "body": "y", "request": True})
    back = wait_until(lambda: len(b := client.request("manager", "relay", {"back": True})) >= 2 and b)
    assert {"undeliverable": "no actor 'nobody' on worker-1", "message": "x"} in back
    assert {"replied": {"echo": "y", "node": "worker-1"}} in back

    # a client's message to a missing actor is refused with the reason; a request times out
    with pytest.raises(ControlRefused, match="no actor 'ghost' on worker-2"):
        client.send("worker-2", "ghost", 1)
    with pytest.raises(ControlRefused, match="no actor 'ghost'"):
        client.request("worker-2", "ghost", 1, timeout=1.0)

    # not plain data is refused at the sender, with the type and where it is
    refusal = client.request("manager", "careless", "go")
    assert refusal.startswith("message['words']: set is not plain data")
    # an oversized message is refused, by clusterctl too, with a clear error
    result = clusterctl(live, "send", "worker-1", "keeper", '"' + "x" * 5000 + '"')
    assert result.returncode == 2 and "over the limit of 4096" in result.stderr

    # a publish reaches every subscriber on every node, this one included. It goes once to the nodes the
    # publisher knows to subscribe then (as Zeek's does), so it waits for every worker's subscription to
    # reach the manager's `topics` view: on a loaded machine that can take longer than the steps above.
    def subscribed(node: str) -> set[str]:
        shown = live.cluster.ask(node, StateGetRequest("topics", "news"), StateEntries).entries.get("news")
        return set(shown.value) if shown is not None and isinstance(shown.value, list) else set()

    wait_until(lambda: set(WORKERS) <= subscribed("manager"))
    client.publish("news", "hello", node="manager")
    for worker in WORKERS:
        wait_until(lambda w=worker: "hello" in client.request(w, "recorder", {"get": True}))

    # the Zeek events reach the actors: each recorder saw node_up for the peers of its node
    seen = client.request("worker-1", "recorder", {"get": True})
    assert {"event": "node_up", "name": "manager"} in seen


def test_a_raising_actor_is_restarted_then_stopped_and_the_node_runs_on(cluster_processes: Start) -> None:
    live = cluster_processes(LAYOUT)
    for attempt in range(3):
        live.client.send("worker-4", "flaky", attempt)
        if attempt < 2:
            live.wait_event("actor_restarted", node="worker-4", actor="flaky", restarts=attempt + 1)
    failed = live.wait_event("actor_failed", node="worker-4", actor="flaky")
    assert failed["error"] == "ValueError: flaky cannot take 2"
    with pytest.raises(ControlRefused, match="no actor 'flaky' on worker-4"):
        live.client.send("worker-4", "flaky", "again")
    rows = {row.name: row for row in live.client.actors("worker-4").actors}
    assert (rows["flaky"].state, rows["flaky"].restarts) == ("failed", 2)
    assert rows["echo"].state == "running"
    assert live.client.request("worker-4", "echo", "still here") == {"echo": "still here", "node": "worker-4"}
    listing = clusterctl(live, "actors", "--node", "worker-4")
    assert listing.returncode == 0 and "flaky" in listing.stdout and "failed" in listing.stdout


def test_node_events_user_provider_and_the_cli(cluster_processes: Start) -> None:
    live = cluster_processes(LAYOUT)
    manager = live.layout.manager.name
    for name in live.layout.names:  # Zeek: the manager raises node_fully_connected for every node
        live.wait_event("node_fully_connected", node=manager, name=name)
    # a user provider from the layout, written and read with clusterctl state --provider
    for worker, count in (("worker-1", 2), ("worker-2", 5)):
        result = clusterctl(
            live, "state", "set", "hits", str(count), "--provider", "gcounter", "--node", worker
        )
        assert result.returncode == 0, result.stderr
    wait_until(
        lambda: (
            '"value": 7'
            in clusterctl(
                live, "--json", "state", "get", "hits", "-p", "gcounter", "--node", "worker-3"
            ).stdout
        )
    )
    # send, request and publish from the shell
    assert clusterctl(live, "request", "worker-1", "echo", '{"n": 1}').stdout.strip() == (
        '{"echo": {"n": 1}, "node": "worker-1"}'
    )
    assert clusterctl(live, "send", "worker-2", "keeper", "plain text").returncode == 0
    assert live.client.request("worker-2", "keeper", {"take": True}) == ["plain text"]
    assert clusterctl(live, "publish", "news", "3").returncode == 0
    # node_down when a peering goes, node_up when it comes back
    started = time.time()
    live.kill("worker-2")
    live.wait_event("node_down", node=manager, name="worker-2", after=started)
    live.restart("worker-2")
    live.wait_event("node_up", node=manager, name="worker-2", after=started)


def test_layout_check_names_a_module_that_does_not_import(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        LAYOUT.read_text()
        .replace('class: "testapps:Echo"', 'class: "no_such_module:Echo"')
        .replace("path: [.]", f"path: [{LAYOUT.parent}]")
    )
    result = subprocess.run(
        [sys.executable, "-m", "cluster.ops.cli", "layout", "check", str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert (
        "broken.yaml:18: app.actors.worker[1].class: cannot import module 'no_such_module'" in result.stderr
    )
    assert "ModuleNotFoundError: No module named 'no_such_module'" in result.stderr
    good = subprocess.run(
        [sys.executable, "-m", "cluster.ops.cli", "layout", "check", str(LAYOUT)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert good.returncode == 0 and "actor flaky (testapps:Flaky)" in good.stdout
