#!/usr/bin/env python3
"""Soak: N nodes for M minutes under loss, with one node starved of CPU, writes at a steady rate, and a
partition that heals in the middle (issue 10, section 4).

What runs: a Zeek-shaped layout (manager, logger, proxies, workers; scripts/benchlib.py's names) on the
`lan` preset and free loopback ports, started with the launcher behind `clusterctl up` (one process per
node, through the forkserver). Once every node sees every member alive:

- loss: every node loses --loss of the datagrams it sends, through the nodes' own fault injection
  (`cluster.ops.faults`, what `clusterctl loss` does), for the whole run;
- a starved node (the last worker): SIGSTOP for 0.5 s to STOP_MAX, then SIGCONT for 2 to 4 s, over and
  over (seeded). That is a process that gets no CPU for seconds at a time, as a VM's steal time, a
  throttled cgroup or a swap storm shows it; stopping it is the harshest form of starvation, since it
  answers nothing at all. STOP_MAX is 2 s, and never more than 40 % of the shortest suspicion timeout
  the preset gives at this size (lan, 25 nodes: 4 x log10(25) x 1 s = 5.59 s; local, 8 nodes: 3 s), so
  that the node is always back with most of that timeout left to refute a suspicion: a stop longer than
  the suspicion timeout would rightly be failed. Lifeguard has to stretch nothing for this to hold; what
  it must do is let the node refute in time, under loss.
- writes: --rate `kv` writes per second through the control port (`clusterctl state set`), round robin
  over every node, the starved one included, each on one of the node's own keys (`<node>/<slot>`, so
  every key has one owner). Every acknowledged write is recorded: key, value, node, version, latency.
  At most 32 wait for their answer at once; a slot of the rate that finds them all waiting is skipped
  and counted, so a cluster that cannot keep up shows as a lower rate, not as a queue in this script.
- half-way, a partition: the first half of the layout (manager, logger, proxies, the first workers) is
  cut off from the rest, held until each side has marked every member of the other failed (a real
  partition, found as it should be), then lifted with the loss left on (`faults.lift_partition`). The
  re-convergence is timed from the moment the last node was told: membership (every node holds every
  member alive or suspect, from the event logs and confirmed by `status`) and state (every replica's
  watermark of every owner covers what that owner acknowledged before the heal), against 2 push-pull
  intervals of the preset.

At the end, writes stop and the starved node runs; after a settle (until every node's `kv` digest and
holdings agree, or --settle seconds) every replica's view (`state list`) is compared with the acknowledged
writes: a write is lost on a replica that shows its key missing or at an older version (a later write to
the same key through the same node covers it: `kv` is last writer wins).

False failures: every `member_failed` from the launch until the nodes are stopped, except those the
partition explains: raised between the cut and the membership's re-convergence, about a member that was
on the other side from whoever declared it dead (the event's `by`). A failure of the starved node, or of
any node, declared by a node on its own side, is false.

Targets: 0 false failures; 0 acknowledged writes lost on any replica; membership and state re-converged
within 2 push-pull intervals of the heal. Prints a table, writes JSON; exit 1 when a target is missed.
Every process started is stopped by its pid, error or Ctrl-C. The CI version is tests/test_soak_live.py.

    python scripts/soak.py [--nodes 25] [--minutes 10] [--loss 0.10] [--rate 100] [--out FILE] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import cpu_seconds, interrupt_on_sigterm, node_names, run_header

from actors import RunDir, free_ports
from cluster import Cluster, ControlError, LaunchError, prepare, timings_for
from cluster.control.protocol import (
    StateDigest,
    StateDigestRequest,
    StateEntries,
    StateListRequest,
    StateSetRequest,
    StateWritten,
    StatusSnapshot,
)
from cluster.membership.formulas import push_pull_interval, suspicion_timeout_bounds
from cluster.ops import faults
from cluster.ops.metrics_client import MetricsUnavailable, metrics_address, scrape
from cluster.ops.tables import print_table

LIVE = ("alive", "suspect")  # a suspect is still a member, as memberlist and `clusterctl members` count it
POLL = 0.5
FAULT_TIMEOUT = 15.0  # a node of a saturated machine can take seconds to answer a control request
STOP_MAX = 2.0
STOP_SHARE_OF_SUSPICION = 0.4
METRICS = (
    "memberlist_msg_suspect_total",
    "memberlist_suspicions_refuted_total",
    "memberlist_refutations_total",
    "memberlist_msg_dead_total",
    "memberlist_stale_news_corrected_total",
    "memberlist_probes_sent_total",
    "memberlist_probes_failed_total",
    "memberlist_push_pull_node_total",
    "pycluster_injected_drops_total",
    "memberlist_udp_sent_datagrams_total",
    "pycluster_state_sent_datagrams_total",
    "pycluster_state_sync_rounds_total",
)


@dataclass(frozen=True)
class SoakConfig:
    nodes: int = 25
    seconds: float = 600.0  # the loaded phase: loss, starvation and writes
    loss: float = 0.10
    rate: float = 100.0
    preset: str = "lan"
    keys: int = 10_000  # distinct keys over all nodes; a longer run writes each several times
    partition: bool = True
    seed: int = 10
    settle: float | None = None  # default: 3 state sync intervals
    up_timeout: float = 120.0
    write_timeout: float = 10.0
    writers: int = 32  # threads issuing writes, so a stopped node holds up only its own share

    @property
    def names(self) -> list[str]:
        return node_names(self.nodes)

    @property
    def starved(self) -> str:
        return self.names[-1]

    @property
    def sides(self) -> tuple[list[str], list[str]]:
        names = self.names
        return names[: len(names) // 2], names[len(names) // 2 :]

    @property
    def suspicion_s(self) -> tuple[float, float]:
        t = timings_for(self.preset)
        return suspicion_timeout_bounds(
            t.suspicion_mult, t.suspicion_max_timeout_mult, self.nodes, t.probe_interval
        )

    @property
    def push_pull_s(self) -> float:
        return push_pull_interval(timings_for(self.preset).push_pull_interval, self.nodes)

    @property
    def stop_range(self) -> tuple[float, float]:
        longest = min(STOP_MAX, STOP_SHARE_OF_SUSPICION * self.suspicion_s[0])
        return min(0.5, longest), longest

    @property
    def settle_s(self) -> float:
        return self.settle if self.settle is not None else 3 * timings_for(self.preset).state_sync_interval


# -- what is measured -----------------------------------------------------------------------------------


@dataclass
class Write:
    seq: int
    node: str
    key: str
    value: int
    sent: float
    acked: float | None = None
    version: int | None = None
    error: str | None = None


@dataclass
class SoakReport:
    config: dict[str, Any]
    launched_at: float = 0.0  # wall clock (the event logs' ts)
    phases: dict[str, float] = field(default_factory=dict)  # seconds since the launch
    starved: str = ""
    stops: list[tuple[float, float]] = field(default_factory=list)
    sides: tuple[list[str], list[str]] = ([], [])
    writes_offered: int = 0
    writes_skipped: int = 0  # slots of the rate with every writer still waiting for an answer
    writes_acked: int = 0
    writes_unacked: int = 0
    unacked_reasons: dict[str, int] = field(default_factory=dict)
    achieved_rate: float | None = None
    ack_p50_s: float | None = None
    ack_p99_s: float | None = None
    ack_max_s: float | None = None
    ack_p99_healthy_s: float | None = None
    ack_p99_starved_s: float | None = None
    lost_writes: int = 0  # (replica, write) pairs
    lost_writes_distinct: int = 0
    lost_by_replica: dict[str, int] = field(default_factory=dict)
    lost_examples: list[dict[str, Any]] = field(default_factory=list)
    replicas_checked: int = 0
    keys_checked: int = 0
    settle_agreed_s: float | None = None
    false_failures: list[dict[str, Any]] = field(default_factory=list)
    partition_failures: int = 0
    suspicions: dict[str, int] = field(default_factory=dict)
    cut_all_failed_s: float | None = None
    heal_membership_s: float | None = None  # from the event logs
    heal_membership_polled_s: float | None = None  # from status, an upper bound
    heal_state_s: float | None = None
    heal_target_s: float = 0.0
    cpu_pct: dict[str, float] = field(default_factory=dict)
    health: dict[str, float | None] = field(default_factory=dict)
    health_samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    load_average: tuple[float, float, float] = (0.0, 0.0, 0.0)
    notes: list[str] = field(default_factory=list)

    def targets(self) -> dict[str, bool | None]:
        met: dict[str, bool | None] = {
            "zero_false_failures": not self.false_failures,
            "zero_lost_writes": self.lost_writes == 0 and self.replicas_checked > 0,
        }
        if self.config.get("partition"):
            met["membership_reconverged_in_2_push_pulls"] = (
                None if self.heal_membership_s is None else self.heal_membership_s <= self.heal_target_s
            )
            met["state_reconverged_in_2_push_pulls"] = (
                None if self.heal_state_s is None else self.heal_state_s <= self.heal_target_s
            )
        return met

    def passed(self) -> bool:
        return all(value is True for value in self.targets().values())


# -- the driving parts ----------------------------------------------------------------------------------


class Starver:
    """SIGSTOP/SIGCONT cycling of one node's process, seeded; `running()` holds it running for a moment
    (while faults are injected, so that every node is told at once)."""

    def __init__(
        self,
        pid: int,
        rng: random.Random,
        stop_range: tuple[float, float],
        run_range: tuple[float, float] = (2.0, 4.0),
    ) -> None:
        self.pid = pid
        self.stops: list[tuple[float, float]] = []
        self._rng = rng
        self._stop_range = stop_range
        self._run_range = run_range
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-starver", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(self._rng.uniform(*self._run_range)):
            with self._lock:
                if self._done.is_set():
                    return
                os.kill(self.pid, signal.SIGSTOP)
                stopped = time.time()
                try:
                    self._done.wait(self._rng.uniform(*self._stop_range))
                finally:
                    os.kill(self.pid, signal.SIGCONT)
                    self.stops.append((stopped, time.time()))

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        with self._lock:
            yield

    def stop(self) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10.0)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGCONT)


class WriteLoad:
    """`rate` writes a second, round robin over `names`, each acknowledged (or not) on a pool thread.

    At most `writers` are in flight: a slot that finds them all waiting is skipped and counted, so that
    a cluster that cannot keep up shows as a lower rate and not as a queue in this process that makes
    every later write look slow. A write's latency runs from its request to its acknowledgement."""

    def __init__(self, cluster: Cluster, names: Sequence[str], config: SoakConfig) -> None:
        self.cluster = cluster
        self.names = list(names)
        self.rate = config.rate
        self.per_node = max(1, math.ceil(config.keys / len(names)))
        self.timeout = config.write_timeout
        self.writes: list[Write] = []
        self.skipped = 0
        self._pool = ThreadPoolExecutor(max_workers=config.writers, thread_name_prefix="soak-write")
        self._free = threading.BoundedSemaphore(config.writers)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-writes", daemon=True)
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """No new writes; waits for every write in flight to be answered or to time out."""
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10.0)
        self._pool.shutdown(wait=True, cancel_futures=False)

    def snapshot(self) -> list[Write]:
        with self._lock:
            return list(self.writes)

    def _run(self) -> None:
        interval = 1.0 / self.rate
        due = time.monotonic()
        seq = 0
        while not self._done.is_set():
            now = time.monotonic()
            if now < due:
                self._done.wait(due - now)
                continue
            if now - due > 1.0:  # this process fell behind by a second: go on, do not burst
                missed = int((now - due) / interval)
                self.skipped += missed
                due += missed * interval
            due += interval
            if not self._free.acquire(blocking=False):
                self.skipped += 1
                continue
            node = self.names[seq % len(self.names)]
            slot = (seq // len(self.names)) % self.per_node
            write = Write(seq, node, f"{node}/{slot}", seq, time.time())
            with self._lock:
                self.writes.append(write)
            self._pool.submit(self._send, write)
            seq += 1

    def _send(self, write: Write) -> None:
        request = StateSetRequest("kv", write.key, write.value)
        try:
            written = self.cluster.ask(write.node, request, StateWritten, timeout=self.timeout)
        except ControlError as error:
            write.error = str(error).split(": ", 1)[-1][:80] or type(error).__name__
            return
        finally:
            self._free.release()
        write.version = written.version
        write.acked = time.time()


class HealthSampler:
    """Every node's Lifeguard health score, read from its metrics page every `every` seconds: how much
    each node stretched its own probe interval (score + 1 times), the starved one and the others."""

    def __init__(self, cluster: Cluster, names: Sequence[str], every: float = 5.0) -> None:
        self.cluster = cluster
        self.names = list(names)
        self.every = every
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._pool = ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="soak-health")
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-health", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10.0)
        self._pool.shutdown(wait=True)

    def _one(self, name: str) -> float | None:
        try:
            page = scrape(metrics_address(self.cluster.spec(name)), timeout=5.0)
        except MetricsUnavailable:
            return None
        return page.value("memberlist_health_score")

    def _run(self) -> None:
        while not self._done.wait(self.every):
            futures = {name: self._pool.submit(self._one, name) for name in self.names}
            scores = {name: score for name, f in futures.items() if (score := f.result()) is not None}
            self.samples.append((time.time(), scores))

    def summary(self, starved: str) -> dict[str, float | None]:
        healthy = [v for _, scores in self.samples for k, v in scores.items() if k != starved]
        mine = [v for _, scores in self.samples for k, v in scores.items() if k == starved]
        return {
            "samples": float(len(self.samples)),
            "healthy_mean": statistics.mean(healthy) if healthy else None,
            "healthy_max": max(healthy, default=None),
            "healthy_share_above_0": sum(v > 0 for v in healthy) / len(healthy) if healthy else None,
            "starved_mean": statistics.mean(mine) if mine else None,
            "starved_max": max(mine, default=None),
        }


class Poller:
    """Asks every node the same question at once (so that a stopped node delays only its own answer)."""

    def __init__(self, cluster: Cluster, names: Sequence[str]) -> None:
        self.cluster = cluster
        self.names = list(names)
        self._pool = ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="soak-poll")

    def each(self, ask: Callable[[str], Any]) -> dict[str, Any]:
        def guarded(name: str) -> Any:
            try:
                return ask(name)
            except ControlError:
                return None

        futures = {name: self._pool.submit(guarded, name) for name in self.names}
        return {name: future.result() for name, future in futures.items()}

    def status(self) -> dict[str, StatusSnapshot | None]:
        return self.each(lambda name: self.cluster.status(name, timeout=5.0))

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def wait_until(check: Callable[[], bool], timeout: float, poll: float = POLL) -> float | None:
    """Seconds until `check()` held (checked every `poll`), or None after `timeout`."""
    began = time.time()
    while True:
        if check():
            return time.time() - began
        if time.time() - began > timeout:
            return None
        time.sleep(poll)


def all_live(statuses: dict[str, StatusSnapshot | None], names: Sequence[str]) -> bool:
    wanted = set(names)
    for snapshot in statuses.values():
        if snapshot is None or snapshot.membership is None:
            return False
        live = {row.member for row in snapshot.membership.members if row.state in LIVE}
        if not wanted <= live:
            return False
    return True


def cut_complete(statuses: dict[str, StatusSnapshot | None], sides: tuple[list[str], list[str]]) -> bool:
    """Each node holds every member of the other side dead: the partition has been found."""
    for index, side in enumerate(sides):
        other = set(sides[1 - index])
        for name in side:
            snapshot = statuses.get(name)
            if snapshot is None or snapshot.membership is None:
                return False
            dead = {row.member for row in snapshot.membership.members if row.state == "dead"}
            if not other <= dead:
                return False
    return True


def watermarks_cover(statuses: dict[str, StatusSnapshot | None], wanted: dict[str, int]) -> bool:
    """Every replica holds every owner's entries up to the version that owner acknowledged."""
    for snapshot in statuses.values():
        if snapshot is None or snapshot.state is None:
            return False
        for owner, version in wanted.items():
            if snapshot.state.owners.get(owner, (0, 0))[1] < version:
                return False
    return True


def make_layout(config: SoakConfig, workdir: Path) -> Path:
    names = config.names
    ports = free_ports(len(names))
    lines = [f"cluster: soak{len(names)}", f"preset: {config.preset}", "nodes:"]
    for name, port in zip(names, ports, strict=True):
        lines.append(f"  {name}: {{role: {name.split('-')[0]}, host: 127.0.0.1, port: {port}}}")
    workdir.mkdir(parents=True, exist_ok=True)
    layout_file = workdir / "layout-source.yaml"
    layout_file.write_text("\n".join(lines) + "\n")
    return layout_file


# -- the run --------------------------------------------------------------------------------------------


def run_soak(
    config: SoakConfig, workdir: Path, progress: Callable[[str], None] = lambda line: None
) -> SoakReport:
    """One soak, start to stop; every process it started is stopped whatever happens."""
    report = SoakReport(config=asdict(config), starved=config.starved, sides=config.sides)
    report.heal_target_s = 2 * config.push_pull_s
    cluster = prepare(make_layout(config, workdir), RunDir(workdir / "run"))
    names = config.names
    rng = random.Random(config.seed)
    t: dict[str, float] = {}
    starver: Starver | None = None
    load: WriteLoad | None = None
    poller = Poller(cluster, names)
    health = HealthSampler(cluster, names)
    try:
        t["launch"] = time.time()
        progress(f"up: {len(names)} nodes, preset {config.preset}")
        result = cluster.up(timeout=config.up_timeout)
        if not result.started:
            raise LaunchError(f"the cluster did not start: {result.problems}")
        t["started"] = time.time()
        if wait_until(lambda: all_live(poller.status(), names), config.up_timeout) is None:
            raise LaunchError("membership did not converge after the start")
        t["converged"] = time.time()
        pids = {name: pid for name in names if (pid := cluster.pid(name)) is not None}
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}

        faults.set_loss(cluster, config.loss, names, timeout=FAULT_TIMEOUT)
        starver = Starver(pids[config.starved], rng, config.stop_range)
        load = WriteLoad(cluster, names, config)
        t["load"] = time.time()
        progress(f"loaded: {config.loss:.0%} loss, {config.starved} starved, {config.rate:g} writes/s")
        starver.start()
        load.start()
        health.start()
        end = t["load"] + config.seconds
        if config.partition:
            partition_and_heal(config, cluster, poller, starver, load, t, report, progress, end)
        while time.time() < end:
            time.sleep(min(1.0, end - time.time()))
        load.stop()
        starver.stop()
        health.stop()
        t["load_end"] = time.time()
        cpu_after = {name: cpu_seconds(pid) for name, pid in pids.items()}
        loaded = t["load_end"] - t["load"]
        report.cpu_pct = {name: 100 * (cpu_after[name] - cpu_before[name]) / loaded for name in pids}
        progress(f"settling (up to {config.settle_s:.0f}s)")
        report.settle_agreed_s = wait_until(lambda: digests_agree(poller), config.settle_s)
        t["settled"] = time.time()
        check_replicas(poller, load.snapshot(), report)
        report.metrics = scrape_totals(cluster, names)
        report.load_average = os.getloadavg()
    except (LaunchError, ControlError, OSError) as error:
        report.notes.append(f"aborted: {type(error).__name__}: {error}")
    finally:
        if load is not None:
            load.stop()
        if starver is not None:
            starver.stop()
            report.stops = list(starver.stops)
        poller.close()
        health.stop()
        report.health = health.summary(config.starved)
        report.health_samples = [(ts - t["launch"], scores) for ts, scores in health.samples]
        t["stopping"] = time.time()
        with contextlib.suppress(LaunchError, OSError):
            cluster.down(grace=5.0)
        cluster.kill_unrecorded()
    report.launched_at = t["launch"]
    report.phases = {name: moment - t["launch"] for name, moment in t.items()}
    if load is not None:
        summarize_writes(load, report, config)
    stops = list(report.stops)
    judge_membership(
        config,
        member_events(cluster),
        t,
        report,
        lambda ts: any(begin <= ts <= end for begin, end in stops),
    )
    return report


def partition_and_heal(
    config: SoakConfig,
    cluster: Cluster,
    poller: Poller,
    starver: Starver,
    load: WriteLoad,
    t: dict[str, float],
    report: SoakReport,
    progress: Callable[[str], None],
    end: float,
) -> None:
    """Half-way: cut, hold until each side has failed the other, lift the cut, time the re-convergence."""
    time.sleep(max(0.0, t["load"] + config.seconds / 2 - time.time()))
    sides = config.sides
    with starver.running():
        t["cut_begin"] = time.time()
        faults.partition(cluster, sides, running=config.names, timeout=FAULT_TIMEOUT)
        t["cut"] = time.time()
    progress(f"partition: {len(sides[0])} / {len(sides[1])} nodes")
    hold = 2 * config.suspicion_s[1] + 10.0
    report.cut_all_failed_s = wait_until(lambda: cut_complete(poller.status(), sides), hold)
    if report.cut_all_failed_s is None:
        report.notes.append(f"the partition was not found on every node within {hold:.0f}s; healed anyway")
    with starver.running():
        t["heal_begin"] = time.time()
        faults.lift_partition(cluster, running=config.names, timeout=FAULT_TIMEOUT)
        t["heal"] = time.time()
    progress("healed; waiting for membership and state to re-converge")
    before_heal: dict[str, int] = {}
    for write in load.snapshot():
        if write.acked is not None and write.version is not None and write.acked <= t["heal"]:
            before_heal[write.node] = max(before_heal.get(write.node, 0), write.version)
    cap = max(2 * report.heal_target_s, end - time.time())
    membership: float | None = None
    state: float | None = None
    while time.time() - t["heal"] < cap and (membership is None or state is None):
        statuses = poller.status()
        answered = time.time() - t["heal"]
        if membership is None and all_live(statuses, config.names):
            membership = answered
        if state is None and watermarks_cover(statuses, before_heal):
            state = answered
        time.sleep(POLL)
    report.heal_membership_polled_s, report.heal_state_s = membership, state
    t["reconverged"] = time.time()


def digests_agree(poller: Poller) -> bool:
    answers = poller.each(lambda name: poller.cluster.ask(name, StateDigestRequest("kv"), StateDigest))
    prints = {answer.fingerprint() if answer is not None else None for answer in answers.values()}
    return len(prints) == 1 and None not in prints


def check_replicas(poller: Poller, writes: list[Write], report: SoakReport) -> None:
    """Each acknowledged write against every replica's view: missing or older is lost there."""
    views = poller.each(
        lambda name: poller.cluster.ask(name, StateListRequest("kv"), StateEntries, timeout=30.0)
    )
    acked = [w for w in writes if w.version is not None]
    lost: set[int] = set()
    for replica, view in views.items():
        if view is None:
            report.notes.append(f"{replica} did not answer state-list; counted as holding nothing")
        report.replicas_checked += view is not None
        entries = view.entries if view is not None else {}
        for write in acked:
            assert write.version is not None
            entry = entries.get(write.key)
            if (
                entry is None
                or entry.owner != write.node
                or entry.version < write.version
                or (entry.version == write.version and entry.value != write.value)
            ):
                report.lost_writes += 1
                report.lost_by_replica[replica] = report.lost_by_replica.get(replica, 0) + 1
                lost.add(write.seq)
                if len(report.lost_examples) < 10:
                    report.lost_examples.append(
                        {
                            "replica": replica,
                            "key": write.key,
                            "through": write.node,
                            "acked_version": write.version,
                            "shown": None if entry is None else asdict(entry),
                        }
                    )
    report.lost_writes_distinct = len(lost)
    report.keys_checked = len({w.key for w in acked})


def scrape_totals(cluster: Cluster, names: Sequence[str]) -> dict[str, float]:
    totals = dict.fromkeys(METRICS, 0.0)
    health_max = 0.0
    for name in names:
        try:
            page = scrape(metrics_address(cluster.spec(name)), timeout=5.0)
        except MetricsUnavailable:
            continue
        for metric in METRICS:
            totals[metric] += page.value(metric)
        health_max = max(health_max, page.value("memberlist_health_score"))
    totals["memberlist_health_score_max_at_end"] = health_max
    return totals


def summarize_writes(load: WriteLoad, report: SoakReport, config: SoakConfig) -> None:
    writes = load.snapshot()
    report.writes_offered = len(writes)
    acked = [w for w in writes if w.acked is not None]
    report.writes_acked = len(acked)
    report.writes_unacked = len(writes) - len(acked)
    for write in writes:
        if write.acked is None:
            reason = write.error or "not answered"
            report.unacked_reasons[reason] = report.unacked_reasons.get(reason, 0) + 1
    report.writes_skipped = load.skipped
    if report.phases.get("load_end") is not None:
        report.achieved_rate = len(acked) / max(1e-9, report.phases["load_end"] - report.phases["load"])

    def q(values: list[float], share: float) -> float | None:
        if not values:
            return None
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    latencies = [w.acked - w.sent for w in acked if w.acked is not None]
    healthy = [w.acked - w.sent for w in acked if w.acked is not None and w.node != config.starved]
    starved = [w.acked - w.sent for w in acked if w.acked is not None and w.node == config.starved]
    report.ack_p50_s, report.ack_p99_s = q(latencies, 0.5), q(latencies, 0.99)
    report.ack_max_s = max(latencies, default=None)
    report.ack_p99_healthy_s, report.ack_p99_starved_s = q(healthy, 0.99), q(starved, 0.99)


def member_events(cluster: Cluster) -> list[dict[str, Any]]:
    """Every membership event of every node, in time order, without parsing the state_changed lines."""
    records = []
    for name in cluster.layout.names:
        with contextlib.suppress(OSError), cluster.run_dir.events_file(name).open("rb") as handle:
            for line in handle:
                if b'"event": "member_' in line:
                    with contextlib.suppress(ValueError):
                        records.append(json.loads(line))
    return sorted(records, key=lambda record: float(record.get("ts", 0.0)))


def judge_membership(
    config: SoakConfig,
    events: list[dict[str, Any]],
    t: dict[str, float],
    report: SoakReport,
    starved_at: Callable[[float], bool] = lambda ts: False,
) -> None:
    """False failures and suspicions, and membership's re-convergence after the heal, from the events.

    A failure is the partition's when the suspicion that ended in it ran at some moment of the cut (it
    started before the heal and the failure came after the cut began) and the declarer was on the other
    side from the member; a node that only learned of a failure inherits the declarer's verdict. The
    declarer is whoever raised the failure first-hand (the event's `by`), its suspicion the first
    `member_suspect` it raised about that member at that incarnation."""
    stopping = t.get("stopping", math.inf)
    side_of = {name: index for index, side in enumerate(config.sides) for name in side}
    cut, healed = t.get("cut_begin", math.inf), t.get("heal", math.inf)
    names = config.names
    not_live = {(o, m) for o in names for m in names if o != m}  # until joined
    since: dict[tuple[str, str], tuple[float, int]] = {}  # (observer, member): suspicion start, incarnation
    declared: dict[tuple[str, str, int], bool] = {}  # (declarer, member, incarnation): the partition's
    suspicions = {"about_starved": 0, "about_others": 0, "across_the_partition": 0, "refuted": 0}

    def the_partitions(declarer: str, member: str, started: float, ts: float) -> bool:
        return config.partition and side_of[declarer] != side_of[member] and started <= healed and ts >= cut

    for record in events:
        ts, observer, member = float(record["ts"]), record.get("node"), record.get("member")
        kind, incarnation = record["event"], int(record.get("incarnation", 0))
        if ts >= stopping or observer not in side_of or member not in side_of or observer == member:
            continue
        by = record.get("by") or observer
        if by not in side_of:
            by = observer
        if kind == "member_suspect":
            known = since.get((observer, member))
            if known is None or known[1] != incarnation:
                since[(observer, member)] = (ts, incarnation)
                if by == observer:
                    if the_partitions(observer, member, ts, ts):
                        suspicions["across_the_partition"] += 1
                    elif member == config.starved:
                        suspicions["about_starved"] += 1
                    else:
                        suspicions["about_others"] += 1
        if kind in ("member_joined", "member_alive", "member_updated", "member_suspect"):
            not_live.discard((observer, member))
            if kind != "member_suspect":
                since.pop((observer, member), None)
        else:
            not_live.add((observer, member))
        if kind == "member_alive":
            suspicions["refuted"] += 1
        if kind == "member_failed":
            started = since.pop((observer, member), (ts, incarnation))[0]
            if by == observer:
                partitions = the_partitions(observer, member, started, ts)
                declared[(observer, member, incarnation)] = partitions
            else:
                learned = declared.get((by, member, incarnation))
                partitions = the_partitions(by, member, ts, ts) if learned is None else learned
            if partitions:
                report.partition_failures += 1
            else:
                report.false_failures.append(
                    {
                        "after_launch_s": round(ts - t["launch"], 3),
                        "observer": observer,
                        "member": member,
                        "incarnation": incarnation,
                        "by": by,
                        "suspected_for_s": round(ts - started, 3) if by == observer else None,
                        "member_is_starved": member == config.starved,
                        "starved_stopped_at_suspicion": starved_at(started) if by == observer else None,
                        "starved_stopped_at_failure": starved_at(ts),
                    }
                )
        if healed <= ts and report.heal_membership_s is None and not not_live:
            report.heal_membership_s = ts - healed
    report.suspicions = suspicions


# -- reporting ------------------------------------------------------------------------------------------


def fmt(value: float | None, spec: str = ".2f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def verdict(value: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "n/a"}[value]


def ms(value: float | None, spec: str = ".0f") -> str:
    return fmt(None if value is None else 1000 * value, spec)


def print_report(report: SoakReport) -> None:
    c, m, met = report.config, report.metrics, report.targets()
    healthy_cpu = [v for k, v in report.cpu_pct.items() if k != report.starved]
    stops = [end - begin for begin, end in report.stops]
    loaded = report.phases.get("load_end", 0.0) - report.phases.get("load", 0.0)
    stopped_share = fmt(100 * sum(stops) / loaded if stops and loaded > 0 else None, ".0f", " %")
    heal = f"<= {report.heal_target_s:.0f} s"
    metrics = "/".join(
        f"{m.get(name, 0):.0f}"
        for name in (
            "memberlist_msg_suspect_total",
            "memberlist_suspicions_refuted_total",
            "memberlist_refutations_total",
            "memberlist_msg_dead_total",
        )
    )
    s = report.suspicions
    rows = [
        ["metric", "value", "target"],
        ["nodes, preset; loaded phase", f"{c['nodes']}, {c['preset']}; {c['seconds']:.0f} s", ""],
        ["loss on every node", f"{c['loss']:.0%}", ""],
        [
            f"starved {report.starved}: SIGSTOPs, s each",
            f"{len(stops)} x {fmt(min(stops, default=None))}..{fmt(max(stops, default=None))}",
            "",
        ],
        ["  share of the loaded phase stopped", stopped_share, ""],
        [
            "false failures (member_failed)",
            str(len(report.false_failures)),
            f"0: {verdict(met['zero_false_failures'])}",
        ],
        ["  member_failed across the partition (right)", str(report.partition_failures), ""],
        ["suspicions raised: of the starved node", str(s.get("about_starved", 0)), ""],
        ["  of the other nodes, outside the cut", str(s.get("about_others", 0)), ""],
        ["  across the partition", str(s.get("across_the_partition", 0)), ""],
        ["  member_alive (a suspicion refuted, per node)", str(s.get("refuted", 0)), ""],
        ["  metrics: suspect/refuted/refutations/dead", metrics, ""],
        ["writes offered / acknowledged", f"{report.writes_offered} / {report.writes_acked}", ""],
        ["  acknowledged per second", fmt(report.achieved_rate, ".1f"), f"{c['rate']:g}"],
        ["  not acknowledged", str(report.writes_unacked), ""],
        [f"  slots skipped ({c['writers']} writes already waiting)", str(report.writes_skipped), ""],
        [
            "  ack latency p50 / p99 / max, ms",
            f"{ms(report.ack_p50_s, '.1f')} / {ms(report.ack_p99_s)} / {ms(report.ack_max_s)}",
            "",
        ],
        [
            "  p99 through a healthy / the starved node, ms",
            f"{ms(report.ack_p99_healthy_s)} / {ms(report.ack_p99_starved_s)}",
            "",
        ],
        [
            "acknowledged writes lost on a replica",
            f"{report.lost_writes} ({report.lost_writes_distinct} writes)",
            f"0: {verdict(met['zero_lost_writes'])}",
        ],
        ["  replicas x keys checked", f"{report.replicas_checked} x {report.keys_checked}", ""],
        ["  settle: kv digests agree after, s", fmt(report.settle_agreed_s, ".1f"), ""],
    ]
    if c.get("partition"):
        rows += [
            ["partition: each side failed the other after, s", fmt(report.cut_all_failed_s, ".1f"), ""],
            [
                "heal -> membership re-converged (events), s",
                fmt(report.heal_membership_s, ".1f"),
                f"{heal}: {verdict(met.get('membership_reconverged_in_2_push_pulls'))}",
            ],
            ["  seen in every status (upper bound), s", fmt(report.heal_membership_polled_s, ".1f"), ""],
            [
                "heal -> state re-converged (watermarks), s",
                fmt(report.heal_state_s, ".1f"),
                f"{heal}: {verdict(met.get('state_reconverged_in_2_push_pulls'))}",
            ],
        ]
    rows += [
        [
            "CPU per node, % core: mean / max",
            f"{fmt(statistics.mean(healthy_cpu) if healthy_cpu else None, '.1f')}"
            f" / {fmt(max(healthy_cpu, default=None), '.1f')}",
            "",
        ],
        ["  the starved node, % core", fmt(report.cpu_pct.get(report.starved), ".1f"), ""],
        [
            "Lifeguard health score: others mean / max",
            f"{fmt(report.health.get('healthy_mean'))} / {fmt(report.health.get('healthy_max'), '.0f')}",
            "",
        ],
        [
            "  the starved node: mean / max",
            f"{fmt(report.health.get('starved_mean'))} / {fmt(report.health.get('starved_max'), '.0f')}",
            "",
        ],
        ["datagrams dropped by the injected loss", f"{m.get('pycluster_injected_drops_total', 0):.0f}", ""],
        ["load average at the end (1, 5, 15 min)", " ".join(f"{x:.2f}" for x in report.load_average), ""],
    ]
    print_table(rows)
    for failure in report.false_failures[:10]:
        print(f"false failure: {failure}")
    if report.lost_by_replica:
        print(f"lost, by replica: {report.lost_by_replica}")
    for example in report.lost_examples:
        print(f"lost: {example}")
    for reason, count in sorted(report.unacked_reasons.items(), key=lambda item: -item[1])[:5]:
        print(f"not acknowledged ({count}): {reason}")
    for note in report.notes:
        print(f"note: {note}")
    print("targets " + ("met" if report.passed() else "NOT met"))


def write_json(out: Path, report: SoakReport) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        **run_header(),
        "targets_met": report.targets(),
        **asdict(report),
    }
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--nodes", type=int, default=25)
    parser.add_argument("--minutes", type=float, default=10.0, help="the loaded phase")
    parser.add_argument("--loss", type=float, default=0.10, help="share of datagrams lost, every node")
    parser.add_argument("--rate", type=float, default=100.0, help="writes per second")
    parser.add_argument("--preset", default="lan")
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--no-partition", action="store_true")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--settle", type=float, help="seconds (default: 3 state sync intervals)")
    parser.add_argument("--out", default="bench-results/soak.json")
    parser.add_argument("--keep", metavar="DIR", help="keep the run directory (event logs) under DIR")
    args = parser.parse_args()
    interrupt_on_sigterm()
    config = SoakConfig(
        nodes=args.nodes,
        seconds=60 * args.minutes,
        loss=args.loss,
        rate=args.rate,
        preset=args.preset,
        keys=args.keys,
        partition=not args.no_partition,
        seed=args.seed,
        settle=args.settle,
    )

    def progress(line: str) -> None:
        print(f"  [{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)

    with contextlib.ExitStack() as stack:
        if args.keep:
            workdir = Path(args.keep)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="soak-")))
        report = run_soak(config, workdir, progress)
    print_report(report)
    write_json(Path(args.out), report)
    return 0 if report.passed() else 1


if __name__ == "__main__":
    sys.exit(main())
