"""The load-balancer fleet's Prober (layouts/app/lbfleet.py), decision by decision, on the actor harness.

The live run of the demo (scripts/demo_lbfleet.py, run by the generic demo test) shows the happy path
on real nodes: a circuit opens, a drain completes. What it cannot show in a few seconds is kept here,
with a manual clock and no sockets but one: that the Prober writes only on change, opens a circuit once
per run of failures, closes it only when the fleet agrees, and routes by the cluster's views.

The harness runs no providers, so what the views show is set by each test in the providers' own formats
(health: {status, unhealthy_by, observers}; circuit_breaker: {episode, phase}; drain: {intent, drained,
reported, live}).
"""

from __future__ import annotations

import http.server
import importlib
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from actors import Sender, free_ports
from actors.app.harness import ActorHarness

APP = Path(__file__).resolve().parent.parent / "layouts" / "app"
ARGS = {"interval": 0.1, "timeout": 0.2, "failures_to_open": 3, "successes_to_close": 3}
BACKENDS = {"b1": "127.0.0.1:1", "b2": "127.0.0.1:2"}
ASKER = Sender("manager", "operator", request=1)

Harness = Callable[..., ActorHarness]


@pytest.fixture
def lbfleet(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(APP))
    return importlib.import_module("lbfleet")


@pytest.fixture
def fleet(lbfleet: ModuleType, monkeypatch: pytest.MonkeyPatch, actor_harness: Harness) -> Iterator[Any]:
    """A started Prober whose probes answer from `up` (backend -> bool) instead of the network."""
    up = dict.fromkeys(BACKENDS, True)
    monkeypatch.setattr(lbfleet, "probe", lambda address, timeout: up[_name(address)])
    harness = actor_harness(lbfleet.Prober, args=ARGS)
    harness.state_views["kv"].values["backends"] = dict(BACKENDS)
    yield harness, up
    sys.modules.pop("lbfleet", None)


def _name(address: str) -> str:
    return next(name for name, at in BACKENDS.items() if at == address)


def _writes(harness: ActorHarness, provider: str) -> list[tuple[str, Any]]:
    return [(key, value) for p, key, value in harness.state_writes if p == provider]


def _fleet_health(harness: ActorHarness, **status: str) -> None:
    for backend, verdict in status.items():
        harness.state_views["health"].values[backend] = {
            "status": verdict,
            "unhealthy_by": [],
            "observers": 3,
        }


def _routes(harness: ActorHarness) -> dict[str, Any]:
    harness.deliver({"routes": True}, ASKER)
    answer: dict[str, Any] = harness.take_sent()[-1].message
    return answer


def test_health_is_written_only_when_the_observation_changes(fleet: Any) -> None:
    harness, up = fleet
    harness.advance(0.5)  # five rounds, all good
    assert _writes(harness, "health") == [("b1", "healthy"), ("b2", "healthy")]
    up["b2"] = False
    harness.advance(0.5)
    up["b2"] = True
    harness.advance(0.1)
    assert _writes(harness, "health")[2:] == [("b2", "unhealthy"), ("b2", "healthy")]


def test_a_circuit_opens_once_per_run_of_failures_and_closes_when_the_fleet_agrees(fleet: Any) -> None:
    harness, up = fleet
    breakers = harness.state_views["circuit_breaker"].values
    up["b2"] = False
    harness.advance(0.2)
    assert _writes(harness, "circuit_breaker") == []  # two failures are not enough
    harness.advance(0.1)
    assert _writes(harness, "circuit_breaker") == [("b2", "open")]
    breakers["b2"] = {"episode": 1, "phase": "open"}  # as the provider shows it a moment later
    harness.advance(1.0)
    assert _writes(harness, "circuit_breaker") == [("b2", "open")]  # not asked again

    up["b2"] = True
    _fleet_health(harness, b2="unhealthy")
    harness.advance(0.5)
    assert _writes(harness, "circuit_breaker") == [("b2", "open")]  # our probes alone do not close it
    _fleet_health(harness, b2="healthy")
    harness.advance(0.1)
    assert _writes(harness, "circuit_breaker")[-1] == ("b2", "closed")
    breakers["b2"] = {"episode": 1, "phase": "closed"}

    up["b2"] = False  # a new run of failures opens it again (the provider starts episode 2)
    harness.advance(0.3)
    assert _writes(harness, "circuit_breaker")[-1] == ("b2", "open")


def test_a_circuit_another_worker_opened_is_not_opened_again(fleet: Any) -> None:
    harness, up = fleet
    harness.state_views["circuit_breaker"].values["b1"] = {"episode": 4, "phase": "open"}
    up["b1"] = False
    harness.advance(1.0)
    assert _writes(harness, "circuit_breaker") == []


def test_routing_follows_the_cluster_views_and_picks_agree(fleet: Any) -> None:
    harness, _up = fleet
    assert _routes(harness)["out"] == {"b1": "not probed yet", "b2": "not probed yet"}
    _fleet_health(harness, b1="healthy", b2="healthy")
    assert _routes(harness) == {"node": "worker-1", "in_rotation": ["b1", "b2"], "out": {}}

    drains = harness.state_views["drain"].values
    drains["b1"] = {"intent": "drain", "drained": False, "reported": ["worker-1"], "live": 4}
    assert _routes(harness)["out"] == {"b1": "draining"}  # out at once, before the drain completes
    drains["b1"] = {"intent": "drain", "drained": True, "reported": ["worker-1"], "live": 1}
    harness.deliver({"pick": "client-7"}, ASKER)
    assert harness.take_sent()[-1].message == "b2"
    drains["b1"] = {"intent": "undrain", "drained": False, "reported": [], "live": 4}
    harness.state_views["circuit_breaker"].values["b2"] = {"episode": 1, "phase": "open"}
    assert _routes(harness) == {"node": "worker-1", "in_rotation": ["b1"], "out": {"b2": "circuit open"}}


def test_a_backend_removed_from_kv_is_forgotten(fleet: Any) -> None:
    harness, _up = fleet
    harness.advance(0.1)
    harness.state_views["kv"].values["backends"] = {"b1": BACKENDS["b1"]}
    harness.advance(0.1)
    assert _writes(harness, "health")[-1] == ("b2", None)  # our observation deleted


class _Status(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_probe_wants_a_200(lbfleet: ModuleType, status: int, healthy: bool) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_ports(1)[0]), _Status)
    server.status = status  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    address = f"127.0.0.1:{server.server_address[1]}"
    try:
        assert lbfleet.probe(address, 0.5) is healthy
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert lbfleet.probe(address, 0.2) is False  # refused once it is gone
