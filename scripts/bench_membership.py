#!/usr/bin/env python3
"""Membership side by side with HashiCorp Serf: join convergence, failure detection, idle cost.

For each N (default 10, 25, 50) this runs, in one invocation and one after the other so they never compete
for the CPU, N nodes of this project on the `lan` preset and N Serf agents with `-profile=lan` (both are
memberlist's LAN timings), all on 127.0.0.1, and measures for both:

1. join convergence: from the moment the last process is launched until every node sees N members alive;
2. failure detection: kill -9 of one node, until every survivor has marked it failed, repeated for --kills
   workers one after the other (default 3: one sample of Serf varies by seconds with where the victim sits
   in the probe order), reported as the median; and false failures, any member marked failed by anyone
   during the whole run while it was healthy (must be 0);
3. idle cost per node over an idle window after convergence: CPU in % of one core (utime + stime from
   /proc/<pid>/stat; the summed per-thread run time from /proc/<pid>/task/*/schedstat is kept too, because
   10 ms clock ticks quantize a 10 s window to steps of 0.1 %, the very target), VmRSS and Pss.

Timestamps are wall-clock (time.time()) on both sides. Ours come from each node's event log
(`member_joined`, `member_suspect`, `member_alive`, `member_failed`, `member_left`, stamped when the node
raised them). Serf's come from its agents' INFO log lines (`serf: EventMemberJoin/Failed/Leave`, logged the
moment memberlist tells Serf), read through a pipe and stamped on arrival: the agent's event handlers are
not used because the agent coalesces member events (CoalescePeriod 3 s, QuiescentPeriod 1 s), which would add
one to three seconds to every Serf number. Convergence is waited for up to --join-timeout and the run goes on
without it (reported as not converged): memberlist repairs a join that gossip missed only at the next
push-pull, 60 s apart at 33 to 64 nodes.

Targets (issue 3, reported, not enforced): failure detection <= 0.75x Serf at each N with zero false
failures; join convergence <= 1.5x Serf at N = 50; idle CPU <= 0.1 % of a core per node.

    python scripts/bench_membership.py [--sizes 10 25 50] [--idle 10] [--kills 3] [--systems ours serf]
                                       [--out bench-results/membership.json] [--keep DIR] [--install-serf]

Our nodes get a Zeek-shaped layout (manager, logger, proxies, workers), so their idle cost includes the TCP
peerings and readiness tracking every node of this project runs besides membership. --keep DIR keeps our
event logs and Serf's time-stamped agent logs for a closer look.

Serf comes from Debian (`apt-get install -y serf`, or pass --install-serf); without it the Serf columns
are skipped with a note. Every process started here is stopped by pid on the way out, error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors.rundir import RunDir
from actors.testkit import free_ports
from cluster.ops.control_client import ControlError
from cluster.ops.launcher import Cluster, LaunchError, prepare
from cluster.ops.processes import node_process_alive

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
POLL = 0.1
SETTLE = 2.0  # after convergence, before the idle window: let the join's push-pulls and gossip drain
STOP_GRACE = 5.0
LIVE = ("alive", "suspect")  # a suspect is still a member (memberlist and `serf members` show it alive)

TARGET_DETECT_RATIO = 0.75
TARGET_JOIN_RATIO_AT = (50, 1.5)
TARGET_IDLE_CPU_PCT = 0.1


# -- what both systems report --------------------------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    """One membership change as one node saw it: the common ground between our events and Serf's log."""

    ts: float
    observer: str
    kind: str  # alive, suspect, failed, left
    member: str


@dataclass
class RunResult:
    """Everything measured for one system at one N; None where it could not be measured (see notes)."""

    system: str
    nodes: int
    join_s: float | None = None
    join_median_s: float | None = None
    load_average_at_start: tuple[float, float, float] | None = None
    launch_spread_s: float | None = None  # first to last process started
    launch_returned_after_s: float | None = None
    not_converged: list[str] = field(default_factory=list)
    verified_alive_min: int | None = None
    kills: list[dict[str, Any]] = field(default_factory=list)  # one per victim, in kill order
    detect_s: float | None = None  # median over the kills of "every survivor has marked it failed"
    detect_min_s: float | None = None
    detect_max_s: float | None = None
    detect_first_s: float | None = None  # median over the kills of the first survivor's mark
    false_failures: list[dict[str, Any]] = field(default_factory=list)
    suspected_healthy: list[str] = field(default_factory=list)
    idle_cpu_pct_mean: float | None = None
    idle_cpu_pct_max: float | None = None
    idle_cpu_sched_pct_mean: float | None = None
    idle_cpu_sched_pct_max: float | None = None
    idle_wakeups_per_s_mean: float | None = None
    rss_mb_mean: float | None = None
    pss_mb_mean: float | None = None
    notes: list[str] = field(default_factory=list)


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
    "member_joined": "alive",
    "member_alive": "alive",
    "member_suspect": "suspect",
    "member_failed": "failed",
    "member_left": "left",
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

    def __init__(self, names: list[str], workdir: Path) -> None:
        super().__init__(names, workdir)
        ports = free_ports(len(names))
        lines = [f"cluster: benchmembers{len(names)}", "preset: lan", "nodes:"]
        for name, port in zip(names, ports, strict=True):
            lines.append(f"  {name}: {{role: {name.split('-')[0]}, host: 127.0.0.1, port: {port}}}")
        workdir.mkdir(parents=True, exist_ok=True)
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
                members = self.cluster.query(name)["membership"]["members"]
            except (ControlError, KeyError, TypeError):
                counts[name] = -1
                continue
            counts[name] = sum(1 for member in members if member.get("state") == "alive")
        return counts

    def stop(self) -> None:
        """`down` by the pid files; then any node whose pid file was never written (the launch was
        interrupted) is found by the pid in its `node_started` event and killed."""
        self.cluster.down(grace=STOP_GRACE)
        for name in self.names:
            for record in self.cluster.read_events(name):
                pid = record.get("pid")
                if (
                    record["event"] == "node_started"
                    and isinstance(pid, int)
                    and node_process_alive(pid, name)
                ):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)


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


# -- measuring -----------------------------------------------------------------------------------------


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


def idle_cost(system: System, seconds: float, result: RunResult) -> None:
    pids = system.pids()
    before = {name: (cpu_seconds(pid), *sched_totals(pid)) for name, pid in pids.items()}
    began = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - began
    after = {name: (cpu_seconds(pid), *sched_totals(pid)) for name, pid in pids.items()}
    ticks = [100 * (after[n][0] - before[n][0]) / elapsed for n in before]
    sched = [100 * (after[n][1] - before[n][1]) / elapsed for n in before]
    result.idle_wakeups_per_s_mean = statistics.mean((after[n][2] - before[n][2]) / elapsed for n in before)
    result.idle_cpu_pct_mean, result.idle_cpu_pct_max = statistics.mean(ticks), max(ticks)
    result.idle_cpu_sched_pct_mean, result.idle_cpu_sched_pct_max = statistics.mean(sched), max(sched)
    result.rss_mb_mean = statistics.mean(memory_mb(pid, "VmRSS") for pid in pids.values())
    result.pss_mb_mean = statistics.mean(memory_mb(pid, "Pss") for pid in pids.values())


def converged_at(observations: Iterable[Observation], names: list[str]) -> dict[str, float]:
    """For each observer, the first time its view held every name alive (or suspect); itself counts."""
    wanted = set(names)
    states: dict[str, dict[str, str]] = {name: {name: "alive"} for name in names}
    reached: dict[str, float] = {}
    for obs in sorted(observations, key=lambda o: o.ts):
        if obs.observer not in states or obs.observer in reached:
            continue
        states[obs.observer][obs.member] = obs.kind
        live = {member for member, kind in states[obs.observer].items() if kind in LIVE}
        if wanted <= live:
            reached[obs.observer] = obs.ts
    return reached


def failed_at(observations: Iterable[Observation], victim: str, since: float) -> dict[str, float]:
    """For each observer, the first time at or after `since` it marked the victim failed."""
    seen: dict[str, float] = {}
    for obs in observations:
        if obs.member == victim and obs.kind == "failed" and obs.ts >= since:
            seen[obs.observer] = min(obs.ts, seen.get(obs.observer, obs.ts))
    return seen


def wait_for(done: Callable[[], bool], timeout: float, crashed: Callable[[], list[str]]) -> str:
    """Poll until done, a process died or the time ran out; says which ("" when done)."""
    deadline = time.monotonic() + timeout
    while True:
        if done():
            return ""
        dead = crashed()
        if dead:
            return "process(es) exited: " + ", ".join(dead)
        if time.monotonic() > deadline:
            return f"timed out after {timeout:.0f}s"
        time.sleep(POLL)


def measure(system: System, args: argparse.Namespace) -> RunResult:
    """One system at one N: launch, convergence, idle window, kill -9, detection; stops it in any case."""
    names = system.names
    result = RunResult(system.name, len(names))
    launched: float | None = None
    result.load_average_at_start = os.getloadavg()
    try:
        system.launch()
        returned = time.time()
        first, launched = system.launched()
        result.launch_spread_s = launched - first
        result.launch_returned_after_s = returned - launched
        run_phases(system, args, result, launched)
    except (LaunchError, RuntimeError, OSError) as error:
        result.notes.append(f"aborted: {error}")
    finally:
        stopping = time.time()
        system.stop()
        # What the teardown itself causes (nodes going away one by one) is not part of the run.
        observations = [o for o in system.observations() if o.ts < stopping]
        killed_at = {kill["victim"]: kill["killed_ts"] for kill in result.kills}

        def healthy(o: Observation) -> bool:
            return o.ts < killed_at.get(o.member, stopping)

        base = launched if launched is not None else 0.0
        result.false_failures = [
            {"observer": o.observer, "member": o.member, "after_launch_s": round(o.ts - base, 3)}
            for o in observations
            if o.kind == "failed" and healthy(o)
        ]
        result.suspected_healthy = sorted(
            {o.member for o in observations if o.kind == "suspect" and healthy(o)}
        )
    return result


def run_phases(system: System, args: argparse.Namespace, result: RunResult, launched: float) -> None:
    """Convergence, idle window, kill -9 and detection, each bounded in time; fills `result` as it goes."""
    names = system.names
    expected = set(names)

    def gone(wanted: set[str]) -> Callable[[], list[str]]:
        return lambda: sorted(wanted - set(system.running()))

    problem = wait_for(
        lambda: converged_at(system.observations(), names).keys() >= expected,
        args.join_timeout,
        gone(expected),
    )
    reached = converged_at(system.observations(), names)
    result.not_converged = sorted(expected - reached.keys())
    if reached:
        result.join_median_s = statistics.median(ts - launched for ts in reached.values())
    if problem or result.not_converged:
        result.notes.append(f"join: {problem}; not converged: {', '.join(result.not_converged)}")
        if gone(expected)():
            return
    else:
        result.join_s = max(reached.values()) - launched
    time.sleep(SETTLE)
    counts = system.alive_counts()
    result.verified_alive_min = min(counts.values()) if counts else None
    if result.verified_alive_min != len(names):
        result.notes.append(f"alive counts asked after the join phase: {counts}")
    idle_cost(system, args.idle, result)

    survivors = set(expected)
    for victim in names[len(names) - args.kills :]:
        survivors.discard(victim)
        kill = kill_and_detect(system, victim, survivors, args.detect_timeout)
        result.kills.append(kill)
        if kill["problem"]:
            result.notes.append(f"detection of {victim}: {kill['problem']}")
            if gone(survivors)():
                break
        time.sleep(args.tail)  # a late false failure caused by the kill still counts; then the next kill
    complete = [kill["all_s"] for kill in result.kills if kill["all_s"] is not None]
    if complete and len(complete) == len(result.kills):
        result.detect_s = statistics.median(complete)
        result.detect_min_s, result.detect_max_s = min(complete), max(complete)
    firsts = [kill["first_s"] for kill in result.kills if kill["first_s"] is not None]
    if firsts:
        result.detect_first_s = statistics.median(firsts)


def kill_and_detect(system: System, victim: str, survivors: set[str], timeout: float) -> dict[str, Any]:
    """kill -9 one node and wait until every survivor has marked it failed (bounded by `timeout`)."""
    pid = system.pids()[victim]
    killed = time.time()
    os.kill(pid, signal.SIGKILL)
    problem = wait_for(
        lambda: failed_at(system.observations(), victim, killed).keys() >= survivors,
        timeout,
        lambda: sorted(survivors - set(system.running())),
    )
    detected = failed_at(system.observations(), victim, killed)
    delays = sorted(detected[name] - killed for name in survivors if name in detected)
    not_detected = sorted(survivors - detected.keys())
    return {
        "victim": victim,
        "killed_ts": killed,
        "survivors": len(survivors),
        "all_s": delays[-1] if delays and not not_detected else None,
        "first_s": delays[0] if delays else None,
        "median_s": statistics.median(delays) if delays else None,
        "not_detected": not_detected,
        "problem": problem + (f"; not detected by: {', '.join(not_detected)}" if problem else ""),
    }


# -- reporting -----------------------------------------------------------------------------------------


def ratio(ours: float | None, serf: float | None) -> float | None:
    if ours is None or serf is None or serf <= 0:
        return None
    return ours / serf


def verdicts(size: int, ours: RunResult, serf: RunResult | None) -> dict[str, Any]:
    """Each target of issue 3 with the measured value and whether it is met (None: not measurable)."""
    detect = ratio(ours.detect_s, serf.detect_s) if serf else None
    join = ratio(ours.join_s, serf.join_s) if serf else None
    out: dict[str, Any] = {
        "detect_ratio_le_0.75": None if detect is None else detect <= TARGET_DETECT_RATIO,
        "zero_false_failures": not ours.false_failures,
        "idle_cpu_le_0.1pct_per_node": (
            None if ours.idle_cpu_pct_mean is None else ours.idle_cpu_pct_mean <= TARGET_IDLE_CPU_PCT
        ),
        "idle_cpu_le_0.1pct_per_node_schedstat": (
            None
            if ours.idle_cpu_sched_pct_mean is None
            else ours.idle_cpu_sched_pct_mean <= TARGET_IDLE_CPU_PCT
        ),
    }
    if size == TARGET_JOIN_RATIO_AT[0]:
        out["join_ratio_le_1.5"] = None if join is None else join <= TARGET_JOIN_RATIO_AT[1]
    return out


def fmt(value: float | None, spec: str = ".2f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def verdict_text(value: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "n/a"}[value]


def table_line(size: int, metric: str, ours: str, serf: str, r: float | None, target: str = "") -> str:
    return f"{size:>3}  {metric:<40} {ours:>14} {serf:>14} {fmt(r, '.2f', 'x'):>10}  {target}"


def table_lines(size: int, ours: RunResult, serf: RunResult | None, met: dict[str, Any]) -> list[str]:
    """One block of the table: the metrics of one N, ours beside Serf's, with the ratio and the target."""
    s = serf or RunResult("serf", size)
    served = serf is not None
    join_target = f"<= 1.5x: {verdict_text(met['join_ratio_le_1.5'])}" if "join_ratio_le_1.5" in met else ""
    rows = [
        ("join convergence, s", fmt(ours.join_s), fmt(s.join_s), ratio(ours.join_s, s.join_s), join_target),
        ("  median node, s", fmt(ours.join_median_s), fmt(s.join_median_s), None, ""),
        (
            "  (launching: first to last start), s",
            fmt(ours.launch_spread_s),
            fmt(s.launch_spread_s),
            None,
            "",
        ),
        (
            f"failure detection (all), median of {max(len(ours.kills), len(s.kills))}, s",
            fmt(ours.detect_s),
            fmt(s.detect_s),
            ratio(ours.detect_s, s.detect_s),
            f"<= 0.75x: {verdict_text(met['detect_ratio_le_0.75'])}",
        ),
        (
            "  each kill, s",
            " ".join(fmt(kill["all_s"], ".1f") for kill in ours.kills) or "-",
            " ".join(fmt(kill["all_s"], ".1f") for kill in s.kills) or "-",
            None,
            "",
        ),
        (
            "  first survivor (median), s",
            fmt(ours.detect_first_s),
            fmt(s.detect_first_s),
            ratio(ours.detect_first_s, s.detect_first_s),
            "",
        ),
        (
            "false failures",
            str(len(ours.false_failures)),
            str(len(s.false_failures)) if served else "-",
            None,
            f"0: {verdict_text(met['zero_false_failures'])}",
        ),
        (
            "healthy members ever suspected",
            str(len(ours.suspected_healthy)),
            str(len(s.suspected_healthy)) if served else "-",
            None,
            "",
        ),
        (
            "idle CPU/node mean, % core",
            fmt(ours.idle_cpu_pct_mean, ".3f"),
            fmt(s.idle_cpu_pct_mean, ".3f"),
            ratio(ours.idle_cpu_pct_mean, s.idle_cpu_pct_mean),
            f"<= 0.1%: {verdict_text(met['idle_cpu_le_0.1pct_per_node'])}",
        ),
        ("  max node, % core", fmt(ours.idle_cpu_pct_max, ".3f"), fmt(s.idle_cpu_pct_max, ".3f"), None, ""),
        (
            "  schedstat mean (max), % core",
            f"{fmt(ours.idle_cpu_sched_pct_mean, '.3f')} ({fmt(ours.idle_cpu_sched_pct_max, '.2f')})",
            f"{fmt(s.idle_cpu_sched_pct_mean, '.3f')} ({fmt(s.idle_cpu_sched_pct_max, '.2f')})",
            ratio(ours.idle_cpu_sched_pct_mean, s.idle_cpu_sched_pct_mean),
            f"<= 0.1%: {verdict_text(met['idle_cpu_le_0.1pct_per_node_schedstat'])}",
        ),
        (
            "  thread wake-ups/s/node",
            fmt(ours.idle_wakeups_per_s_mean, ".1f"),
            fmt(s.idle_wakeups_per_s_mean, ".1f"),
            ratio(ours.idle_wakeups_per_s_mean, s.idle_wakeups_per_s_mean),
            "",
        ),
        (
            "RSS/node, MB",
            fmt(ours.rss_mb_mean, ".1f"),
            fmt(s.rss_mb_mean, ".1f"),
            ratio(ours.rss_mb_mean, s.rss_mb_mean),
            "",
        ),
        (
            "PSS/node, MB",
            fmt(ours.pss_mb_mean, ".1f"),
            fmt(s.pss_mb_mean, ".1f"),
            ratio(ours.pss_mb_mean, s.pss_mb_mean),
            "",
        ),
    ]
    lines = [table_line(size, *row) for row in rows]
    for result in (ours, serf):
        for note in result.notes if result else []:
            lines.append(f"{size:>3}  note ({result.system}): {note}")
    return lines


def print_table(rows: list[dict[str, Any]]) -> None:
    header = f"{'N':>3}  {'metric':<40} {'ours':>14} {'serf':>14} {'ours/serf':>10}  target"
    print(header)
    print("-" * (len(header) + 20))
    for row in rows:
        print("\n".join(table_lines(row["nodes"], row["ours"], row["serf"], row["targets"])))
        print()


# -- main ----------------------------------------------------------------------------------------------


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 25, 50])
    parser.add_argument("--systems", nargs="+", choices=["ours", "serf"], default=["ours", "serf"])
    parser.add_argument("--idle", type=float, default=10.0, help="idle window, seconds")
    parser.add_argument(
        "--join-timeout",
        type=float,
        default=150.0,
        help="seconds; above the 60 s push-pull interval memberlist uses at 33..64 nodes, which repairs a "
        "join that gossip missed",
    )
    parser.add_argument("--detect-timeout", type=float, default=90.0, help="seconds, per kill")
    parser.add_argument("--kills", type=int, default=3, help="nodes killed one after the other per run")
    parser.add_argument("--tail", type=float, default=2.0, help="watch for false failures after detection")
    parser.add_argument("--out", default="bench-results/membership.json")
    parser.add_argument("--keep", metavar="DIR", help="keep run directories (event logs) under DIR")
    parser.add_argument("--install-serf", action="store_true", help="apt-get install serf if it is missing")
    args = parser.parse_args()
    if not 1 <= args.kills <= min(args.sizes) - 3:
        parser.error("--kills must be at least 1 and leave the manager, the logger and a proxy alive")
    interrupt_on_sigterm()

    serf_binary, serf_version = find_serf(args.install_serf) if "serf" in args.systems else (None, "")
    if "serf" in args.systems and serf_binary is None:
        print(
            "serf is not installed: `apt-get install -y serf` (or rerun with --install-serf); "
            "the Serf columns are skipped",
            file=sys.stderr,
        )
    rows: list[dict[str, Any]] = []
    keep = Path(args.keep) if args.keep else None
    with contextlib.ExitStack() as stack:
        if keep is None:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-membership-"))
        else:
            keep.mkdir(parents=True, exist_ok=True)
            tmp = str(keep)
        for size in args.sizes:
            names = node_names(size)
            ours = serf = None
            if "ours" in args.systems:
                print(f"  {size} nodes: ours (lan preset)...", file=sys.stderr, flush=True)
                ours = measure(Ours(names, Path(tmp) / f"ours-{size}"), args)
            if serf_binary is not None:
                print(f"  {size} nodes: serf (-profile=lan)...", file=sys.stderr, flush=True)
                serf = measure(Serf(names, Path(tmp) / f"serf-{size}", serf_binary), args)
            ours = ours or RunResult("ours", size, notes=["not run"])
            rows.append({"nodes": size, "ours": ours, "serf": serf, "targets": verdicts(size, ours, serf)})

    print()
    print_table(rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": os.getloadavg(),
        },
        "serf_version": serf_version or None,
        "idle_seconds": args.idle,
        "targets": {
            "failure_detection_ratio_max": TARGET_DETECT_RATIO,
            "join_ratio_max_at_n": {str(TARGET_JOIN_RATIO_AT[0]): TARGET_JOIN_RATIO_AT[1]},
            "idle_cpu_pct_per_node_max": TARGET_IDLE_CPU_PCT,
            "false_failures": 0,
        },
        "results": [
            {
                "nodes": row["nodes"],
                "ours": vars(row["ours"]),
                "serf": vars(row["serf"]) if row["serf"] else None,
                "ratios_ours_over_serf": {
                    metric: ratio(getattr(row["ours"], metric), getattr(row["serf"], metric))
                    for metric in (
                        "join_s",
                        "detect_s",
                        "detect_first_s",
                        "idle_cpu_pct_mean",
                        "idle_cpu_sched_pct_mean",
                        "idle_wakeups_per_s_mean",
                        "rss_mb_mean",
                        "pss_mb_mean",
                    )
                }
                if row["serf"]
                else None,
                "targets_met": row["targets"],
            }
            for row in rows
        ],
    }
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
