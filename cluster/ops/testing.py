"""Whole layouts for tests of users' code: started on free ports, always stopped, watched across nodes.

`LiveCluster` is one running layout, as real node processes (`start_processes`) or as every node in this
process (`start_in_process`, faster to start and easy to inspect). Either way it has the same face: a
`client` to send, publish and request; `wait_event` that waits for an event on any node (or a given one);
and `stop`, which the pytest fixtures (`cluster.ops.pytest_plugin`) always call, even when a test fails.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from actors.inprocess import InProcessCluster
from actors.rundir import RunDir
from actors.testkit import layout_with_ports
from cluster.core.events import Event
from cluster.layout.loader import load_layout, parse_layout
from cluster.layout.model import Layout
from cluster.ops import faults
from cluster.ops.client import ClusterClient
from cluster.ops.control_client import ControlError
from cluster.ops.launcher import Cluster, EventTail, LaunchError, prepare

__all__ = ["LiveCluster", "on_free_ports", "start_in_process", "start_processes"]


def on_free_ports(layout_file: str | Path, workdir: Path) -> Path:
    """The layout moved to free ports (tests never use fixed ones), written where the run can see it."""
    layout = load_layout(layout_file)
    workdir.mkdir(parents=True, exist_ok=True)
    moved = workdir / f"{layout.cluster}-free-ports.yaml"
    moved.write_text(layout_with_ports(layout))
    return moved


class LiveCluster:
    """A running layout; `stop` ends it whatever state it is in."""

    def __init__(self, cluster: Cluster, in_process: InProcessCluster | None = None) -> None:
        self.cluster = cluster
        self.layout: Layout = cluster.layout
        self.client = ClusterClient(cluster)
        self._in_process = in_process
        self._seen: list[dict[str, Any]] = []
        self._tail = EventTail(cluster.run_dir, cluster.layout.names)

    # -- watching ---------------------------------------------------------------------------------

    def events(
        self, name: str | type[Event] | None = None, *, node: str | None = None
    ) -> list[dict[str, Any]]:
        """Every event so far from every node (or one), in time order; of one kind when `name` is given."""
        self._seen += self._tail.poll()
        wanted = name.NAME if isinstance(name, type) else name
        return [
            record
            for record in self._seen
            if (wanted is None or record["event"] == wanted) and (node is None or record["node"] == node)
        ]

    def wait_event(
        self,
        event: str | type[Event],
        /,
        *,
        node: str | None = None,
        timeout: float = 15.0,
        after: float = 0.0,
        **fields: Any,
    ) -> dict[str, Any]:
        """The first `event` (a name or an event class) on any node (or on `node`) with these fields,
        raised after wall-clock time `after`; waits up to `timeout` seconds, then fails naming what it saw
        of that kind. (Positional, so that an event's own `name` field can be matched.)"""
        deadline = time.monotonic() + timeout
        while True:
            for record in self.events(event, node=node):
                if record["ts"] >= after and all(record.get(k) == v for k, v in fields.items()):
                    return record
            if time.monotonic() > deadline:
                seen = self.events(event, node=node)[-10:]
                raise TimeoutError(
                    f"no {event!r} event with {fields} within {timeout}s; last of that kind: {seen}"
                )
            time.sleep(0.02)

    def wait_formed(self, *, timeout: float = 15.0) -> None:
        """Until every running node holds every other running one as an alive member.

        `cluster_started` says that every node reached the nodes the layout has it dial (Zeek's
        readiness), not that membership has spread everywhere: a join datagram lost on a busy machine
        leaves a worker that has not yet heard of another, and a message to it then comes back as sent to
        a node that is down. Akka's multi-node testkit waits the same way (`awaitMembersUp`) before a test
        goes on, and so does a test here."""
        deadline = time.monotonic() + timeout
        missing: dict[str, list[str]] = {}
        while True:
            running = self.running()
            missing = {}
            for name in running:
                try:
                    membership = self.cluster.status(name).membership
                except ControlError as error:
                    missing[name] = [f"not answering: {error}"]
                    continue
                rows = membership.members if membership is not None else ()
                alive = {row.member for row in rows if row.state == "alive"}
                if lacking := sorted(set(running) - alive):
                    missing[name] = lacking
            if not missing:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"membership not formed within {timeout}s; not yet alive: {missing}")
            time.sleep(0.05)

    # -- faults -----------------------------------------------------------------------------------

    def kill(self, node: str, signum: signal.Signals = signal.SIGKILL) -> None:
        """A crash (SIGKILL by default) of one node process; in process, the node is stopped."""
        if self._in_process is not None:
            self._in_process.stop(node)
        else:
            self.cluster.signal(node, signum)

    def running(self) -> list[str]:
        if self._in_process is not None:
            return [name for name in self.layout.names if name in self._in_process.nodes]
        return self.cluster.running()

    def partition(self, *groups: Sequence[str]) -> None:
        """Cut these groups of nodes off from each other (one group: from every other node), inside the
        nodes' transports, as `clusterctl partition` does."""
        faults.partition(self.cluster, groups, running=self.running())

    def heal(self) -> None:
        """Lift every injected fault: partition, loss and delay."""
        faults.heal(self.cluster, running=self.running())

    def loss(self, share: float, *nodes: str) -> None:
        """That share (0..1) of the datagrams these nodes (default: all) send is lost."""
        faults.set_loss(self.cluster, share, list(nodes) or self.running())

    def delay(self, seconds: float, *nodes: str) -> None:
        """Everything these nodes (default: all) send waits `seconds` first."""
        faults.set_delay(self.cluster, seconds, list(nodes) or self.running())

    def restart(self, node: str) -> None:
        if self._in_process is not None:
            self._in_process.start(node)
        else:
            self.cluster.spawn(node)

    def stop(self) -> None:
        if self._in_process is not None:
            self._in_process.stop_all()
            return
        with contextlib.suppress(LaunchError, OSError):
            self.cluster.down(grace=3.0)
        self.cluster.kill_unrecorded()


def start_processes(layout_file: str | Path, workdir: Path, *, timeout: float = 30.0) -> LiveCluster:
    """Every node of the layout as its own process (on free ports), once `cluster_started` is seen and
    membership has formed (`LiveCluster.wait_formed`)."""
    moved = on_free_ports(layout_file, workdir)
    cluster = prepare(moved, RunDir(workdir / "run"))
    live = LiveCluster(cluster)
    try:
        result = cluster.up(timeout=timeout)
        if not result.started:
            raise LaunchError(f"cluster did not start within {timeout}s: {result.problems}")
        live.wait_formed(timeout=timeout)
    except BaseException:
        live.stop()
        raise
    return live


def start_in_process(layout_file: str | Path, workdir: Path, *, timeout: float = 30.0) -> LiveCluster:
    """Every node of the layout in this process, on real loopback sockets and free ports."""
    moved = on_free_ports(layout_file, workdir)
    layout = parse_layout(moved.read_text(), str(moved))
    run_dir = RunDir(workdir / "run")
    run_dir.root.mkdir(parents=True, exist_ok=True)
    nodes = InProcessCluster(layout, run_dir=run_dir.root)
    live = LiveCluster(Cluster(layout, run_dir), nodes)
    try:
        nodes.start_all()
        live.wait_event("cluster_started", node=layout.manager.name, timeout=timeout)
        live.wait_formed(timeout=timeout)
    except BaseException:
        live.stop()
        raise
    return live
