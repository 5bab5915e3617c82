"""Replicated state in live nodes (issue 4 §4): in-process over loopback, and real processes (`fast`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.inprocess import InProcessCluster
from actors.messages import ProviderCommand
from actors.testkit import ProbeHandle
from tests.conftest import shipped_layout_on_free_ports
from tests.test_membership_live import ten_node_cli
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
    yield from ten_node_cli(tmp_path, "state")


def state_everywhere(
    cli: Cli,
    key: str,
    names: list[str],
    done: Callable[[dict[str, Any]], bool] | None = None,
    *,
    provider: str = "kv",
    timeout: float = 20.0,
) -> dict[str, Any]:
    """Each node's view of `key`, polled until `done(views)` holds (by default: all of `names` agree) or
    the timeout passes; the caller's assertions then say what was wrong."""
    agree = done or (lambda views: len({json.dumps(v, sort_keys=True) for v in views.values()}) == 1)
    deadline = time.monotonic() + timeout
    while True:
        seen = {}
        for name in names:
            result = cli("state", "get", key, "--provider", provider, "--node", name, "--json", check=False)
            seen[name] = json.loads(result.stdout)["entries"].get(key) if result.returncode == 0 else None
        if agree(seen) or time.monotonic() > deadline:
            return seen
        time.sleep(0.1)


def test_a_set_on_one_node_is_seen_by_every_node_and_a_restarted_owner_wins(cli: Cli) -> None:
    cli("up", str(cli.layout_file))
    cli("state", "set", "answer", "41", "--node", "worker-3")
    seen = state_everywhere(cli, "answer", cli.names)
    assert {v["value"] for v in seen.values() if v} == {41} and all(seen.values()), seen
    digests = cli("state", "digest", check=False)  # the providers' own digests: one view everywhere
    assert digests.returncode == 0 and f"{len(cli.names)} of {len(cli.names)} nodes answered and agree" in (
        digests.stdout
    ), digests.stdout
    first = seen["manager"]["version"]
    cli("kill", "worker-3")
    cli("start", "worker-3")
    cli.wait_event("worker-3", lambda r: r["event"] == "cluster_started")
    cli("state", "set", "answer", "42", "--node", "worker-3")
    seen = state_everywhere(cli, "answer", cli.names)
    assert {v["value"] for v in seen.values() if v} == {42} and all(seen.values()), seen
    assert seen["manager"]["version"] > first  # its new life's clock starts above the old one's
    cli("down")


def entries_everywhere(
    cli: Cli,
    names: list[str],
    done: Callable[[dict[str, Any]], bool],
    *,
    provider: str,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Each node's whole listing of `provider` (None where the node did not answer), polled until
    `done(listings)` holds or the timeout passes: one request per node per round, however many keys the
    test watches, because each request is a `clusterctl` process."""
    deadline = time.monotonic() + timeout
    while True:
        seen = {}
        for name in names:
            result = cli("state", "list", "--provider", provider, "--node", name, "--json", check=False)
            seen[name] = json.loads(result.stdout)["entries"] if result.returncode == 0 else None
        if done(seen) or time.monotonic() > deadline:
            return seen
        time.sleep(0.1)


def test_sessions_of_a_killed_owner_are_claimed_by_exactly_one_survivor_each(cli: Cli) -> None:
    cli("up", str(cli.layout_file))
    sessions = [f"session-{i}" for i in range(6)]
    for session in sessions:
        cli(
            "state",
            "set",
            session,
            json.dumps({"user": session}),
            "--provider",
            "sessions",
            "--node",
            "worker-2",
        )
    survivors = [name for name in cli.names if name != "worker-2"]
    seen = entries_everywhere(
        cli, survivors, sessions_owned_by(sessions, lambda o: o == "worker-2"), provider="sessions"
    )
    assert sessions_owned_by(sessions, lambda o: o == "worker-2")(seen), seen
    marks = {name: len(cli.events(name)) for name in survivors}
    cli("kill", "worker-2")
    seen = entries_everywhere(
        cli, survivors, sessions_owned_by(sessions, lambda o: o != "worker-2"), provider="sessions"
    )
    for session in sessions:
        views = {name: (listing or {}).get(session) for name, listing in seen.items()}
        owners = {v["owner"] for v in views.values() if v is not None}
        assert all(views.values()) and len(owners) == 1 and owners <= set(survivors), views
        assert views[survivors[0]]["value"] == {"user": session}
    for session in sessions:
        claimants = {
            record["owner"]
            for name in survivors
            for record in cli.events(name)[marks[name] :]
            if record["event"] == "state_changed" and record.get("key") == session
        }
        assert len(claimants) == 1, f"{session} claimed by {claimants}"
    cli("down")


def sessions_owned_by(
    sessions: list[str], owner_ok: Callable[[str], bool]
) -> Callable[[dict[str, Any]], bool]:
    """Whether every node's listing holds every one of `sessions`, each with an owner `owner_ok` accepts."""
    return lambda listings: all(
        listing is not None and all(s in listing and owner_ok(listing[s]["owner"]) for s in sessions)
        for listing in listings.values()
    )


def test_a_drain_set_on_one_node_is_drained_once_all_nodes_report(cli: Cli) -> None:
    cli("up", str(cli.layout_file))
    cli("state", "set", "worker-5", "drain", "--provider", "drain", "--node", "proxy-1")
    for name in cli.names:
        cli.wait_event(name, named_drain(drained=True))
    result = cli("state", "get", "worker-5", "--provider", "drain", "--node", "manager", "--json")
    view = json.loads(result.stdout)["entries"]["worker-5"]["value"]
    assert view["drained"] is True and sorted(view["reported"]) == sorted(cli.names)
    cli("state", "set", "worker-5", "undrain", "--provider", "drain", "--node", "worker-1")
    for name in cli.names:
        cli.wait_event(
            name, lambda r: r["event"] == "state_changed" and r.get("value", {}).get("intent") == "undrain"
        )
    cli("down")


def named_drain(*, drained: bool) -> Any:
    return lambda r: (
        r["event"] == "state_changed"
        and r.get("provider") == "drain"
        and isinstance(r.get("value"), dict)
        and r["value"].get("drained") is drained
    )
