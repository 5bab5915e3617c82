"""What the benchmarks share: the two systems under test, driven alike, and how a process is measured.

`Ours` is N nodes of this project started from a Zeek-shaped layout; `Serf` is N HashiCorp Serf agents
(Debian's `serf`), the peer every benchmark here runs side by side with, in the same invocation, so that
each ratio compares one run on this noisy shared machine. Both report membership changes as
`Observation`s: ours from the nodes' event logs, Serf's from its agents' log lines stamped on arrival.
The process metrics read /proc (Linux). Every process started here is stopped by its pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors import RunDir, free_ports
from cluster import (
    Cluster,
    ControlError,
    MemberAliveEvent,
    MemberFailedEvent,
    MemberJoinedEvent,
    MemberLeftEvent,
    MemberSuspectEvent,
    prepare,
)

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
STOP_GRACE = 5.0


# -- what both systems report --------------------------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    """One membership change as one node saw it: the common ground between our events and Serf's log."""

    ts: float
    observer: str
    kind: str  # alive, suspect, failed, left
    member: str


class System:
    """One system's cluster of N processes, driven the same way whichever it is."""

    name = ""

    def __init__(self, names: list[str], workdir: Path) -> None:
        self.names = names
        self.workdir = workdir

    def launch(self) -> None:
        """Start every process; `launched` then tells when the last one began."""
        raise NotImplementedError

    def launched(self) -> tuple[float, float]:
        """When the first and the last process were created (wall clock); the last is the zero of join
        convergence, the difference shows how long launching itself took."""
        starts = []
        for pid in self.pids().values():
            with contextlib.suppress(OSError):  # one that died already is reported by the join phase
                starts.append(started_at(pid))
        now = time.time()
        return min(starts, default=now), max(starts, default=now)

    def observations(self) -> list[Observation]:
        """Every membership change seen so far, by every node."""
        raise NotImplementedError

    def pids(self) -> dict[str, int]:
        raise NotImplementedError

    def running(self) -> list[str]:
        raise NotImplementedError

    def alive_counts(self) -> dict[str, int]:
        """Members alive per node as the node itself answers now: a cross-check of the timeline."""
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


# -- this project ------------------------------------------------------------------------------------

OUR_KINDS = {
    MemberJoinedEvent.NAME: "alive",
    MemberAliveEvent.NAME: "alive",
    MemberSuspectEvent.NAME: "suspect",
    MemberFailedEvent.NAME: "failed",
    MemberLeftEvent.NAME: "left",
}


def run_header() -> dict[str, Any]:
    """What every benchmark's JSON opens with: the command, when, and on what. The load average at the end
    goes with it because this machine is shared: a figure means little without how busy it was."""
    return {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": os.getloadavg(),
        },
    }


def node_names(size: int) -> list[str]:
    """A Zeek-shaped cluster (manager, loggers, proxies, workers), as scripts/bench_startup.py builds it.

    The same names are given to the Serf agents, so the victim and the seed are the same in both runs.
    """
    proxies = max(1, size // 12)
    workers = size - 2 - proxies
    if workers < 1:
        raise SystemExit(f"--sizes: {size} is too small (at least 4 nodes: manager, logger, proxy, worker)")
    return (
        ["manager", "logger-1"]
        + [f"proxy-{i}" for i in range(1, proxies + 1)]
        + [f"worker-{i}" for i in range(1, workers + 1)]
    )


class Ours(System):
    name = "ours"

    def __init__(self, names: list[str], workdir: Path, *, sealed: bool = True) -> None:
        """`sealed` (the product's default): every datagram and frame sealed under the keyring `prepare`
        makes for the run; otherwise `security: none`, to measure what sealing costs."""
        super().__init__(names, workdir)
        ports = free_ports(len(names))
        lines = [f"cluster: benchmembers{len(names)}", "preset: lan", "nodes:"]
        for name, port in zip(names, ports, strict=True):
            lines.append(f"  {name}: {{role: {name.split('-')[0]}, host: 127.0.0.1, port: {port}}}")
        workdir.mkdir(parents=True, exist_ok=True)
        if not sealed:
            lines.append("security: none")
        layout_file = workdir / "layout-source.yaml"
        layout_file.write_text("\n".join(lines) + "\n")
        self.cluster: Cluster = prepare(layout_file, RunDir(workdir / "run"))
        self._tail = self.cluster.event_tail()
        self._seen: list[Observation] = []

    def launch(self) -> None:
        """`spawn_many` rather than `up`: `up` waits for readiness, which is not what is measured here."""
        self.cluster.spawn_many(list(self.names))

    def observations(self) -> list[Observation]:
        for record in self._tail.poll():
            kind = OUR_KINDS.get(str(record.get("event")))
            if kind is not None and "member" in record:
                self._seen.append(
                    Observation(float(record["ts"]), str(record["node"]), kind, str(record["member"]))
                )
        return list(self._seen)

    def pids(self) -> dict[str, int]:
        return {name: pid for name in self.names if (pid := self.cluster.pid(name))}

    def running(self) -> list[str]:
        return self.cluster.running()

    def alive_counts(self) -> dict[str, int]:
        counts = {}
        for name in self.running():
            try:
                membership = self.cluster.status(name).membership
            except ControlError:
                membership = None
            if membership is None:
                counts[name] = -1
                continue
            counts[name] = sum(1 for member in membership.members if member.state == "alive")
        return counts

    def stop(self) -> None:
        """`down` by the pid files; then any node whose pid file was never written (the launch was
        interrupted) is found by the pid in its `node_started` event and killed."""
        self.cluster.down(grace=STOP_GRACE)
        self.cluster.kill_unrecorded()


# -- Serf ----------------------------------------------------------------------------------------------

SERF_LINE = re.compile(r"serf: EventMember(Join|Failed|Leave): (\S+) ")
SERF_SUSPECT = re.compile(r"memberlist: Suspect (\S+) has failed")
SERF_KINDS = {"Join": "alive", "Failed": "failed", "Leave": "left"}


class LogPump:
    """Drains every agent's stdout in one thread and stamps each line with time.time() on arrival.

    Draining also keeps an agent from blocking on a full pipe while we wait or sleep.
    """

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._partial: dict[str, bytes] = {}
        self.lines: list[tuple[float, str, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="serf-log-pump", daemon=True)
        self._thread.start()

    def add(self, name: str, fd: int) -> None:
        os.set_blocking(fd, False)
        with self._lock:
            self._partial[name] = b""
            self._selector.register(fd, selectors.EVENT_READ, name)

    def snapshot(self) -> list[tuple[float, str, str]]:
        with self._lock:
            return list(self.lines)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._selector.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                empty = not self._selector.get_map()
            if empty:
                time.sleep(0.05)
                continue
            for key, _ in self._selector.select(timeout=0.2):
                name = key.data
                try:
                    data = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                now = time.time()
                with self._lock:
                    if not data:
                        self._selector.unregister(key.fd)
                        continue
                    *complete, self._partial[name] = (self._partial[name] + data).split(b"\n")
                    self.lines += [(now, name, line.decode(errors="replace")) for line in complete]


class Serf(System):
    name = "serf"

    def __init__(self, names: list[str], workdir: Path, binary: str) -> None:
        super().__init__(names, workdir)
        ports = free_ports(2 * len(names))
        self.bind = dict(zip(names, ports[: len(names)], strict=True))
        self.rpc = dict(zip(names, ports[len(names) :], strict=True))
        self.binary = binary
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.pump = LogPump()

    def _start(self, name: str, join: str | None) -> None:
        command = [
            self.binary,
            "agent",
            f"-node={name}",
            f"-bind=127.0.0.1:{self.bind[name]}",
            f"-rpc-addr=127.0.0.1:{self.rpc[name]}",
            "-profile=lan",
            "-log-level=info",
        ]
        if join:
            command.append(f"-join={join}")
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C reaches us only; we stop the agents ourselves
        )
        self.processes[name] = process
        assert process.stdout is not None
        self.pump.add(name, process.stdout.fileno())

    def launch(self) -> None:
        """The seed (first name) first, until it answers; then the others back to back, each joining it.

        Serf's `-join` fails the agent if the seed is not there yet, so the seed must be up first; the
        clock starts only after the last agent is launched, as for ours.
        """
        seed = self.names[0]
        self._start(seed, None)
        deadline = time.monotonic() + 15.0
        while not any("agent running" in line for _, who, line in self.pump.snapshot() if who == seed):
            if self.processes[seed].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serf seed agent did not start: {self.log_tail(seed)}")
            time.sleep(0.02)
        for name in self.names[1:]:
            self._start(name, f"127.0.0.1:{self.bind[seed]}")

    def observations(self) -> list[Observation]:
        seen = []
        for ts, who, line in self.pump.snapshot():
            if match := SERF_LINE.search(line):
                seen.append(Observation(ts, who, SERF_KINDS[match.group(1)], match.group(2)))
            elif match := SERF_SUSPECT.search(line):
                seen.append(Observation(ts, who, "suspect", match.group(1)))
        return seen

    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.processes.items()}

    def running(self) -> list[str]:
        return [name for name, process in self.processes.items() if process.poll() is None]

    def alive_counts(self) -> dict[str, int]:
        counts = {}
        for name in self.running():
            try:
                reply = subprocess.run(
                    [self.binary, "members", f"-rpc-addr=127.0.0.1:{self.rpc[name]}", "-format=json"],
                    capture_output=True,
                    text=True,
                    timeout=5.0,
                    check=True,
                )
                members = json.loads(reply.stdout)["members"]
            except (subprocess.SubprocessError, ValueError, KeyError):
                counts[name] = -1
                continue
            counts[name] = sum(1 for member in members if member.get("status") == "alive")
        return counts

    def log_tail(self, name: str, lines: int = 5) -> str:
        return "\n".join([line for _, who, line in self.pump.snapshot() if who == name][-lines:])

    def stop(self) -> None:
        """SIGTERM each agent by pid, SIGKILL what outlives the grace, reap all; then stop the pump."""
        try:
            for process in self.processes.values():
                if process.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE
            for process in self.processes.values():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=max(0.0, deadline - time.monotonic()))
            for process in self.processes.values():
                if process.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        process.wait(timeout=2.0)
        finally:
            self.pump.close()
            self.workdir.mkdir(parents=True, exist_ok=True)
            for name in self.names:  # kept with --keep, as our nodes' event logs are
                stamped = [f"{ts:.6f} {line}" for ts, who, line in self.pump.lines if who == name]
                (self.workdir / f"{name}.log").write_text("\n".join(stamped) + "\n")
            for process in self.processes.values():
                if process.stdout is not None:
                    process.stdout.close()


# -- measuring a process -------------------------------------------------------------------------------


def started_at(pid: int) -> float:
    """The wall-clock time the process was created (forked), from its start time in /proc/<pid>/stat.

    The start time counts clock ticks since boot on CLOCK_BOOTTIME, so it converts to wall clock through
    the current offset between the two clocks (10 ms resolution). Both systems' launch moments are taken
    this way: the return of our forkserver or of `Popen` comes tens of milliseconds after the fork, and
    our nodes can converge within that.
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    since_boot = int(fields[19]) / CLOCK_TICKS  # field 22 of stat(5); fields[0] is field 3
    offset = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
    return offset + since_boot


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), in seconds: 10 ms resolution."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def sched_totals(pid: int) -> tuple[float, int]:
    """Run time (s) and times scheduled in, summed over the live threads, from their schedstat.

    The run time is in nanoseconds, finer than clock ticks; the count of times scheduled in is how often
    the process woke up, which is what an idle membership protocol pays for its timers.
    """
    run_ns = slices = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = (task / "schedstat").read_text().split()
            run_ns += int(fields[0])
            slices += int(fields[2])
    return run_ns / 1e9, slices


def memory_mb(pid: int, field_name: str) -> float:
    """`VmRSS` from status, or `Pss` (shared pages split among their sharers) from smaps_rollup.

    Our nodes are forked from one forkserver and Serf agents share one binary's pages, so RSS counts the
    shared part in every process while PSS splits it; both are reported.
    """
    source = "status" if field_name == "VmRSS" else "smaps_rollup"
    for line in Path(f"/proc/{pid}/{source}").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- reporting -----------------------------------------------------------------------------------------


def ratio(ours: float | None, serf: float | None) -> float | None:
    if ours is None or serf is None or serf <= 0:
        return None
    return ours / serf


# -- running -------------------------------------------------------------------------------------------


def find_serf(install: bool) -> tuple[str | None, str]:
    """The serf binary and its version, installing it with apt-get only when asked to (--install-serf)."""
    binary = shutil.which("serf")
    if binary is None and install:
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "serf"]):
            subprocess.run(command, check=False, timeout=600)
        binary = shutil.which("serf")
    if binary is None:
        return None, ""
    version = subprocess.run([binary, "version"], capture_output=True, text=True, timeout=10).stdout
    return binary, version.splitlines()[0] if version else "?"


def interrupt_on_sigterm() -> None:
    """A SIGTERM to the benchmark unwinds like Ctrl-C, so the finally blocks stop every process."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
