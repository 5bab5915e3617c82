"""Real pykka actors with fake neighbours (probes); no sleeps: wait on idle inboxes or on messages."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.clock import ManualClock
from actors.connectivity import ConnectivityActor
from actors.coordinator import CoordinatorActor
from actors.effects import Neighbours
from actors.events import EventLog
from actors.messages import (
    ArmTimer,
    EventRaised,
    KeepConnected,
    MessageReceived,
    PeerIsDown,
    PeerIsUp,
    RaiseEvent,
    SendTo,
    SetHelloReadiness,
    StartTracking,
    StatusChanged,
    SubscribeEvents,
    TimerFired,
)
from actors.testkit import ProbeHandle, wait_idle
from actors.timer import TimerService
from cluster.core.effects import Effect
from cluster.core.events import ClusterStartedEvent
from cluster.readiness.connectivity import ConnectivityTracker
from cluster.readiness.coordinator import Coordinator
from cluster.wire.messages import ClusterStarted, NodeFullyConnected

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def probes() -> Iterator[dict[str, ProbeHandle]]:
    handles = {name: ProbeHandle() for name in ("transport", "events", "timer", "status")}
    yield handles
    for handle in handles.values():
        handle.stop()


def neighbours(probes: dict[str, ProbeHandle]) -> Neighbours:
    return Neighbours(
        transport=probes["transport"].ref, events=probes["events"].ref, timer=probes["timer"].ref
    )


def test_tracker_dials_reports_when_all_peers_are_up_and_learns_the_start(
    probes: dict[str, ProbeHandle],
) -> None:
    core = ConnectivityTracker("worker-1", "w1", "manager", ("proxy-1", "manager"))
    actor = ConnectivityActor.start(core, neighbours(probes), status=probes["status"].ref)
    try:
        actor.tell(StartTracking())
        actor.tell(PeerIsUp("proxy-1", "p1", False))
        actor.tell(PeerIsUp("manager", "m1", False))
        actor.tell(MessageReceived("manager", ClusterStarted("manager")))
        wait_idle([actor, *(p.ref for p in probes.values())])
        transport = probes["transport"].messages()
        assert transport[:2] == [KeepConnected("proxy-1"), KeepConnected("manager")]
        assert SendTo("manager", NodeFullyConnected("worker-1", "w1", False)) in transport
        assert SetHelloReadiness(True) in transport
        events = [m.event.NAME for m in probes["events"].of_type(RaiseEvent)]
        assert events == ["node_fully_connected", "cluster_started"]
        assert probes["status"].of_type(StatusChanged)[-1].part.cluster_started is True
    finally:
        actor.stop()


def test_tracker_ignores_a_start_announced_by_a_non_manager(probes: dict[str, ProbeHandle]) -> None:
    actor = ConnectivityActor.start(ConnectivityTracker("w", "w1", "manager", ()), neighbours(probes))
    try:
        actor.tell(MessageReceived("proxy-1", ClusterStarted("proxy-1")))
        wait_idle([actor, *(p.ref for p in probes.values())])
        assert [m.event.NAME for m in probes["events"].of_type(RaiseEvent)] == ["readiness_refused"]
    finally:
        actor.stop()


def test_coordinator_announces_once_everyone_reported_and_degrades_on_loss(
    probes: dict[str, ProbeHandle],
) -> None:
    core = Coordinator("manager", "m1", ("manager", "worker-1"))
    actor = CoordinatorActor.start(core, neighbours(probes), status=probes["status"].ref)
    try:
        actor.tell(MessageReceived("manager", NodeFullyConnected("manager", "m1", False)))
        actor.tell(PeerIsUp("worker-1", "w1", False))
        actor.tell(MessageReceived("worker-1", NodeFullyConnected("worker-1", "w1", False)))
        actor.tell(PeerIsDown("worker-1", "w1"))
        wait_idle([actor, *(p.ref for p in probes.values())])
        sends = probes["transport"].of_type(SendTo)
        assert sorted(s.peer for s in sends) == ["manager", "worker-1"]
        assert all(isinstance(s.message, ClusterStarted) for s in sends)
        events = [m.event.NAME for m in probes["events"].of_type(RaiseEvent)]
        # Zeek: the manager raises each other node's node_fully_connected; its own is its tracker's.
        assert events == ["node_fully_connected", "cluster_announced", "cluster_degraded"]
        assert probes["events"].of_type(RaiseEvent)[0].event.fields["name"] == "worker-1"
        assert probes["status"].of_type(StatusChanged)[-1].part.state == "degraded"
    finally:
        actor.stop()


def test_timer_service_fires_due_ticks_with_a_manual_clock(probes: dict[str, ProbeHandle]) -> None:
    clock = ManualClock(start=100.0)
    timer = TimerService.start(clock)
    target = probes["transport"]
    try:
        timer.tell(ArmTimer("late", 105.0, target.ref))
        timer.tell(ArmTimer("soon", 101.0, target.ref))
        timer.tell(ArmTimer("soon", 102.0, target.ref))  # re-armed: replaces
        wait_idle([timer])
        clock.advance(1.5)
        wait_idle([timer, target.ref])
        assert target.of_type(TimerFired) == []
        clock.advance(1.0)
        wait_idle([timer, target.ref])
        assert target.of_type(TimerFired) == [TimerFired("soon", 102.0)]
        clock.advance(10.0)
        wait_idle([timer, target.ref])
        assert target.of_type(TimerFired) == [TimerFired("soon", 102.0), TimerFired("late", 105.0)]
    finally:
        timer.stop()


def test_event_log_writes_json_lines_and_tells_subscribers(
    tmp_path: Path, probes: dict[str, ProbeHandle]
) -> None:
    path = tmp_path / "n.events.jsonl"
    log = EventLog.start("node-a", path)
    try:
        log.tell(SubscribeEvents(probes["events"].ref))
        log.tell(RaiseEvent(ClusterStartedEvent(replay=False)))
        wait_idle([log, probes["events"].ref])
        (line,) = path.read_text().splitlines()
        record = json.loads(line)
        assert list(record)[:3] == ["ts", "node", "event"]
        assert (
            record["node"] == "node-a" and record["event"] == "cluster_started" and record["replay"] is False
        )
        (told,) = probes["events"].of_type(EventRaised)
        assert dict(told.record) == record
    finally:
        log.stop()


def test_a_crashing_core_stops_its_actor_and_tells_the_node(probes: dict[str, ProbeHandle]) -> None:
    """As in Akka: a core that raised has state we cannot trust, so the node is told to stop."""
    crashes: list[tuple[str, BaseException]] = []
    crashed = threading.Event()

    def on_crash(actor: str, error: BaseException) -> None:
        crashes.append((actor, error))
        crashed.set()

    class BrokenTracker(ConnectivityTracker):
        def peer_up(self, name: str, node_id: str, cluster_started: bool = False) -> list[Effect]:
            raise RuntimeError("corrupt state")

    actor = ConnectivityActor.start(
        BrokenTracker("w", "w1", "manager", ()), neighbours(probes), on_crash=on_crash
    )
    actor.tell(PeerIsUp("manager", "m1", False))
    assert crashed.wait(timeout=5)
    assert crashes[0][0] == "ConnectivityActor" and "corrupt state" in str(crashes[0][1])
    actor.actor_stopped.wait(timeout=5)
    assert not actor.is_alive()


def test_a_burst_of_changes_publishes_one_snapshot_at_its_end(probes: dict[str, ProbeHandle]) -> None:
    """The manager hears N peerings and N reports as a start comes up; one N-row snapshot per message made
    its start quadratic. Here the burst is queued while the actor is held in `on_start`."""
    names = ("manager", *(f"worker-{i}" for i in range(1, 51)))
    release = threading.Event()

    class HeldCoordinator(CoordinatorActor):
        def on_start(self) -> None:
            super().on_start()
            release.wait(timeout=10)

    actor = HeldCoordinator.start(
        Coordinator("manager", "m1", names), neighbours(probes), status=probes["status"].ref
    )
    try:
        for i, name in enumerate(names[1:]):
            actor.tell(PeerIsUp(name, f"w{i}", False))
        release.set()
        wait_idle([actor, *(p.ref for p in probes.values())])
        snapshots = probes["status"].of_type(StatusChanged)
        assert len(snapshots) == 2  # the one at start, and the one after the burst
        assert all(row.peered for row in snapshots[-1].part.nodes.values())
    finally:
        actor.stop()
