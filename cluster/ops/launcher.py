"""The launcher: one detached OS process per node of a layout, and everything done to them afterwards.

Nodes are started with `subprocess` in a new session (architecture §2: never fork a threaded process), so
they outlive `clusterctl` and a Ctrl-C in the terminal does not reach them. What the launcher knows of a
running cluster it reads back from the run directory: pids, logs and event logs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from actors.app.loading import load_app
from actors.rundir import RunDir, load_sealing
from cluster.control.protocol import (
    ControlProtocolError,
    Request,
    StatusRequest,
    StatusSnapshot,
    parse_reply,
    to_request,
)
from cluster.core.events import (
    ClusterStartedEvent,
    HandshakeRefusedEvent,
    NodeFullyConnectedEvent,
    NodeStartedEvent,
    event_from_record,
)
from cluster.layout.loader import load_layout
from cluster.layout.model import Layout, NodeSpec
from cluster.ops.control_client import ControlError, ControlRefused, request
from cluster.ops.processes import node_process_alive, process_state
from cluster.wire.keyring import KeyringError
from cluster.wire.seal import Sealing

POLL_INTERVAL = 0.05

_A = TypeVar("_A")


class LaunchError(Exception):
    """A launcher operation that cannot go ahead; the message says why, for the user."""


class UnknownNode(LaunchError):
    """A node name the layout does not have: the user's mistake (a usage error)."""


@dataclass(frozen=True)
class UpResult:
    started: bool
    elapsed: float
    reported: tuple[str, ...]
    problems: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeState:
    name: str
    role: str
    address: str
    pid: int | None
    alive: bool
    process: str
    status: StatusSnapshot | None
    error: str = ""


class Cluster:
    """A layout and its run directory: the object behind every `clusterctl` verb."""

    def __init__(self, layout: Layout, run_dir: RunDir) -> None:
        self.layout = layout
        self.run_dir = run_dir
        self._sealing: Sealing | None = None

    @property
    def sealing(self) -> Sealing | None:
        """This client's sealing for a sealed cluster (its layout names a keyring): made once, with an
        epoch of its own, so its requests are never taken for another life's."""
        if self._sealing is None and (path := self.run_dir.keyring_for(self.layout)) is not None:
            try:
                self._sealing = load_sealing(path, self.layout.cluster, max_epochs=1)
            except KeyringError as error:
                raise ControlError(str(error)) from None
        return self._sealing

    @classmethod
    def from_run_dir(cls, run_dir: RunDir) -> Cluster:
        if not run_dir.layout_file.exists():
            raise LaunchError(f"{run_dir.root}: no cluster was started here (no layout.yaml)")
        return cls(run_dir.load_layout(), run_dir)

    # -- processes ------------------------------------------------------------------------------

    def pid(self, name: str) -> int | None:
        return self.run_dir.read_pid(name)

    def alive(self, name: str) -> bool:
        return node_process_alive(self.pid(name), name)

    def running(self) -> list[str]:
        return [spec.name for spec in self.layout.nodes if self.alive(spec.name)]

    def spawn(self, name: str) -> int:
        self.spec(name)
        if self.alive(name):
            raise LaunchError(f"{name} is already running (pid {self.pid(name)})")
        return self.spawn_many([name])[name]

    def spawn_many(self, names: list[str]) -> dict[str, int]:
        """Start several nodes through one forkserver (see actors/forkserver.py: imports paid once)."""
        result = subprocess.run(
            [
                sys.executable,
                "-P",  # not the working directory first: a user's project may have an `actors` of its own
                "-m",
                "actors.forkserver",
                "--layout",
                str(self.run_dir.layout_file),
                "--run-dir",
                str(self.run_dir.root),
                *names,
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=_child_environment(),
            timeout=120,
        )
        pids: dict[str, int] = {}
        for line in result.stdout.splitlines():
            name, _, pid = line.partition(" ")
            if name in names and pid.isdigit():
                pids[name] = int(pid)  # the forkserver wrote its pid file
        if result.returncode != 0 or len(pids) != len(names):
            raise LaunchError(f"the forkserver failed (exit {result.returncode}): {result.stderr.strip()}")
        return pids

    def signal(self, name: str, signum: signal.Signals) -> int:
        pid = self.pid(name)
        if not node_process_alive(pid, name):
            raise LaunchError(f"{name} is not running")
        assert pid is not None
        os.kill(pid, signum)
        return pid

    # -- verbs ----------------------------------------------------------------------------------

    def up(self, *, timeout: float, progress: Callable[[str], None] = lambda line: None) -> UpResult:
        running = self.running()
        if running:
            raise LaunchError(
                f"cluster {self.layout.cluster!r} is already running in {self.run_dir.root} "
                f"({', '.join(running)}); use `clusterctl status` or `clusterctl down`"
            )
        busy = [
            f"{spec.name} ({spec.host}:{spec.port})"
            for spec in self.layout.nodes
            if not _port_free(spec.host, spec.port)
        ]
        if busy:
            raise LaunchError(f"ports already in use: {', '.join(busy)}")
        self.run_dir.root.mkdir(parents=True, exist_ok=True)
        for spec in self.layout.nodes:
            for stale in (self.run_dir.events_file(spec.name), self.run_dir.log_file(spec.name)):
                stale.unlink(missing_ok=True)
        began = time.monotonic()
        self.spawn_many(list(self.layout.names))
        total = len(self.layout.nodes)
        progress(f"spawned {total} nodes of {self.layout.cluster!r} in {self.run_dir.root}")
        manager = self.layout.manager.name
        reported: dict[str, None] = {}
        deadline = began + timeout
        watched = (NodeFullyConnectedEvent.NAME, ClusterStartedEvent.NAME)
        manager_log = EventTail(self.run_dir, (manager,))
        while True:
            for record in manager_log.poll():
                report = event_from_record(record) if record.get("event") in watched else None
                if isinstance(report, NodeFullyConnectedEvent) and report.name not in reported:
                    reported[report.name] = None
                    progress(f"fully connected {len(reported)}/{total}: {report.name}")
                if isinstance(report, ClusterStartedEvent):
                    elapsed = time.monotonic() - began
                    progress(f"cluster_started after {elapsed:.2f}s")
                    return UpResult(True, elapsed, tuple(reported))
            crashed = [spec.name for spec in self.layout.nodes if not self.alive(spec.name)]
            if crashed or time.monotonic() > deadline:
                elapsed = time.monotonic() - began
                problems = self.diagnose([n for n in self.layout.names if n not in reported])
                return UpResult(False, elapsed, tuple(reported), problems)
            time.sleep(POLL_INTERVAL)

    def diagnose(self, names: list[str]) -> dict[str, str]:
        """Why these nodes did not report: crashed (last log lines), refused, or still missing peers."""
        problems: dict[str, str] = {}
        for name in names:
            if not self.alive(name):
                problems[name] = "not running; last log lines:\n" + self.log_tail(name, 5)
                continue
            refusals = [
                refusal
                for record in self.read_events(name)
                if isinstance(refusal := event_from_record(record), HandshakeRefusedEvent)
            ]
            if refusals:
                last = refusals[-1]
                problems[name] = f"handshake refused ({last.reason}): {last.detail}"
                continue
            try:
                connectivity = self.status(name).connectivity
            except ControlError as error:
                problems[name] = f"running but not answering: {error}"
                continue
            if connectivity is None:
                problems[name] = "running, but its connectivity tracker has not reported yet"
                continue
            missing = [peer for peer in connectivity.outgoing if peer not in connectivity.peers_up]
            problems[name] = (
                f"waiting for peers: {', '.join(missing)}"
                if missing
                else "fully connected but no report reached the manager"
            )
        return problems

    def spec(self, name: str) -> NodeSpec:
        """The node called `name`; a name the layout does not have is the user's error, said so."""
        try:
            return self.layout.node(name)
        except KeyError:
            known = ", ".join(self.layout.names)
            raise UnknownNode(
                f"no node named {name!r} in cluster {self.layout.cluster!r} (nodes: {known})"
            ) from None

    def query(
        self, name: str, command: str = "status", args: dict[str, Any] | None = None, *, timeout: float = 2.0
    ) -> dict[str, Any]:
        """Ask node `name` over its control port and return the answer's plain body; ControlRefused
        carries the node's refusal. (For scripts: the typed form is `ask`.)"""
        spec = self.spec(name)
        reply = request(spec.host, spec.port, command, args, timeout=timeout, sealing=self.sealing)
        if not reply.ok:
            raise ControlRefused(reply.error)
        return dict(reply.body)

    def ask(self, name: str, question: Request, answer: type[_A], *, timeout: float = 2.0) -> _A:
        """Ask node `name` a typed request; the answer is read as `answer` (ControlError if it is not)."""
        body = self.query(name, question.COMMAND, to_request(question).args, timeout=timeout)
        try:
            return parse_reply(answer, body, question.COMMAND)
        except ControlProtocolError as error:
            raise ControlError(f"{name} answered what this clusterctl cannot read: {error}") from None

    def status(self, name: str, *, timeout: float = 2.0) -> StatusSnapshot:
        return self.ask(name, StatusRequest(), StatusSnapshot, timeout=timeout)

    def states(self) -> list[NodeState]:
        result = []
        for spec in self.layout.nodes:
            pid = self.pid(spec.name)
            alive = node_process_alive(pid, spec.name)
            status, error = None, ""
            process = process_state(pid) if alive and pid else "-"
            if alive and process != "T":
                try:
                    status = self.status(spec.name, timeout=1.0)
                except ControlError as problem:
                    error = str(problem)
            result.append(
                NodeState(
                    spec.name, spec.role, f"{spec.host}:{spec.port}", pid, alive, process, status, error
                )
            )
        return result

    def down(self, *, grace: float = 5.0, progress: Callable[[str], None] = lambda line: None) -> list[str]:
        """SIGTERM every node (SIGCONT first, so a stopped one can act), SIGKILL what outlives `grace`."""
        targets = {name: self.pid(name) for name in self.running()}
        for pid in targets.values():
            assert pid is not None
            # A node may end at any moment (a crash, its own stop): one gone already needs no signal.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while (
            any(node_process_alive(pid, name) for name, pid in targets.items())
            and time.monotonic() < deadline
        ):
            time.sleep(POLL_INTERVAL)
        killed = []
        for name, pid in targets.items():
            if node_process_alive(pid, name):
                assert pid is not None
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue  # it stopped between the look and the kill
                killed.append(name)
                progress(f"{name} did not stop within {grace:.0f}s: killed")
        for name in targets:
            self.run_dir.pid_file(name).unlink(missing_ok=True)
        progress(f"stopped {len(targets)} nodes" + (f" ({len(killed)} killed)" if killed else ""))
        return list(targets)

    def kill_unrecorded(self) -> list[str]:
        """SIGKILL every node process that `down` cannot find because its pid file was never written
        (a launch interrupted, a test that failed half-way): each is found by the pid in its own
        `node_started` event, and checked to still be that node before it is killed."""
        killed = []
        for name in self.layout.names:
            for record in self.read_events(name):
                pid = record.get("pid")
                if (
                    record["event"] == NodeStartedEvent.NAME
                    and isinstance(pid, int)
                    and node_process_alive(pid, name)
                ):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                        killed.append(name)
        return killed

    # -- logs -----------------------------------------------------------------------------------

    def read_events(self, name: str) -> list[dict[str, Any]]:
        return list(_read_json_lines(self.run_dir.events_file(name)))

    def all_events(self) -> list[dict[str, Any]]:
        records = [record for spec in self.layout.nodes for record in self.read_events(spec.name)]
        return sorted(records, key=lambda record: record.get("ts", 0.0))

    def event_tail(self) -> EventTail:
        return EventTail(self.run_dir, self.layout.names)

    def follow_events(self, *, duration: float | None = None) -> Iterator[dict[str, Any]]:
        """Every event so far, then new ones as nodes write them, for `duration` seconds (or forever)."""
        tail = self.event_tail()
        stop_at = None if duration is None else time.monotonic() + duration
        while stop_at is None or time.monotonic() < stop_at:
            yield from tail.poll()
            time.sleep(0.1)

    def log_tail(self, name: str, lines: int) -> str:
        try:
            text = self.run_dir.log_file(name).read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


class EventTail:
    """Reads what the nodes' event logs gained since the last poll, merged in time order."""

    def __init__(self, run_dir: RunDir, names: tuple[str, ...]) -> None:
        self._run_dir = run_dir
        self._offsets = dict.fromkeys(names, 0)

    def poll(self) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        for name, offset in self._offsets.items():
            records, self._offsets[name] = _read_new_lines(self._run_dir.events_file(name), offset)
            batch += records
        return sorted(batch, key=lambda record: record.get("ts", 0.0))


def prepare(layout_path: Path, run_dir: RunDir | None = None) -> Cluster:
    """Load and check the layout, then make the run directory its home (copying the layout there)."""
    layout = load_layout(layout_path)
    load_app(layout)  # users' code that does not import is refused here, before any node is spawned
    run_dir = run_dir or RunDir.default_for(layout.cluster)
    if run_dir.layout_file.exists():
        existing = Cluster.from_run_dir(run_dir)
        if existing.running():
            return existing  # `up` says it is running; its layout copy must not be replaced under it
    run_dir.root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(layout_path, run_dir.layout_file)
    run_dir.record_origin(layout_path)
    run_dir.keyring_made_for(layout)  # sealed by default: the run's own key, kept for its restarts
    return Cluster(layout, run_dir)


def _child_environment() -> dict[str, str]:
    """The node must import this very package, even when clusterctl runs from a source checkout."""
    environment = dict(os.environ)
    here = str(Path(__file__).resolve().parents[2])
    paths = [here, *[p for p in environment.get("PYTHONPATH", "").split(os.pathsep) if p]]
    environment["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return environment


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(family, kind) as probe:
            if kind == socket.SOCK_STREAM:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                return False
    return True


def _read_json_lines(path: Path) -> Iterator[dict[str, Any]]:
    records, _ = _read_new_lines(path, 0)
    yield from records


def _read_new_lines(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    """Complete lines after `offset`; a line still being written is left for the next read."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except OSError:
        return [], offset
    end = data.rfind(b"\n") + 1
    records = []
    for line in data[:end].splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "event" in record:
            records.append(record)
    return records, offset + end
