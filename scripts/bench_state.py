#!/usr/bin/env python3
"""Replicated state side by side with HashiCorp Serf user events: propagation, throughput, idle traffic.

For each N (default 10, 25, 50) this runs, one after the other so they never compete for the CPU, N nodes
of this project on the `lan` preset and N Serf agents with `-profile=lan`, all on 127.0.0.1, and measures:

1. propagation: --samples single updates, each from a random node, --gap seconds apart; for each, the time
   from the writer's own receipt until the last other node has it (p50, p99 and max over the samples).
   Ours: `kv` writes through the control port (`state-set`), seen in each node's `state_changed` event.
   Serf: user events sent through the agent's RPC (msgpack, `Coalesce: false`), seen in each agent's INFO
   line `agent: Received event: user-event: NAME`, read through a pipe and stamped on arrival.
2. throughput (at N <= --throughput-max-n): --writes updates offered as fast as the client can, spread
   over all nodes; the rate is the number of updates over the time from the first offer until every node
   holds every update (ours: every node's store digest equal to the writers'; Serf: every agent logged
   every event). Serf drops user events beyond its queue depth and rate (its documented limits); what it
   delivered is reported beside the rate.
3. idle traffic: bytes per second per node on the loopback interface (/sys/class/net/lo) over --idle
   seconds once everything settled, divided by N: headers included, the same way for both.

Targets (issue 4, reported, not enforced): propagation max <= 0.05 s at N = 25 (Serf here: about 0.4 s);
>= 2,000 updates/s sustained at N = 10; idle traffic <= 2 KB/s per node at N = 25.

    python scripts/bench_state.py [--sizes 10 25 50] [--samples 30] [--writes 4000] [--idle 20]
                                  [--out bench-results/state.json] [--install-serf]

Serf comes from Debian (`apt-get install -y serf`, or --install-serf); without it the Serf columns are
skipped. Every process started here is stopped by pid on the way out, error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import (
    Ours,
    Serf,
    find_serf,
    interrupt_on_sigterm,
    node_names,
    run_header,
)

from cluster.ops.metrics_client import metrics_address, scrape

SETTLE = 3.0
TARGET_PROPAGATION_MAX_S = (25, 0.05)
TARGET_UPDATES_PER_S = (10, 2000.0)
TARGET_IDLE_BYTES = (25, 2048.0)
SERF_EVENT = re.compile(r"agent: Received event: user-event: (\S+)")


@dataclass
class Result:
    system: str
    nodes: int
    propagation_s: list[float] = field(default_factory=list)
    propagation_missing: int = 0
    updates_offered: int = 0
    updates_delivered_min: int | None = None
    updates_per_s: float | None = None  # the median of the runs
    throughput_runs: list[float] = field(default_factory=list)  # updates/s of each run that converged
    throughput_failed: int = 0  # runs that did not converge
    gaps: int = 0  # ours: gaps seen during the throughput runs, on all nodes
    gaps_repaired_in_100ms: int = 0
    gap_repair_max_s: float | None = None
    idle_bytes_per_s_per_node: float | None = None
    notes: list[str] = field(default_factory=list)

    def quantile(self, q: float) -> float | None:
        if not self.propagation_s:
            return None
        ordered = sorted(self.propagation_s)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def lo_bytes() -> int:
    return int(Path("/sys/class/net/lo/statistics/tx_bytes").read_text())


def wait_until(done: Callable[[], bool], timeout: float, poll: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True


# -- ours ----------------------------------------------------------------------------------------------


class OursState:
    def __init__(self, names: list[str], workdir: Path, *, sealed: bool = True) -> None:
        self.names = names
        self.system = Ours(names, workdir, sealed=sealed)
        self.cluster = self.system.cluster

    def start(self) -> bool:
        self.system.launch()
        return wait_until(
            lambda: (
                all(c == len(self.names) for c in self.system.alive_counts().values())
                and len(self.system.alive_counts()) == len(self.names)
            ),
            60.0,
            0.2,
        )

    def arrivals(self, key: str) -> dict[str, float]:
        seen: dict[str, float] = {}
        for name in self.names:
            for record in self.cluster.read_events(name):
                if record["event"] == "state_changed" and record.get("key") == key:
                    seen.setdefault(name, float(record["ts"]))
        return seen

    def write(self, node: str, key: str, value: Any) -> None:
        self.cluster.query(node, "state-set", {"provider": "kv", "key": key, "value": value}, timeout=5.0)

    def write_many(self, node: str, entries: list[list[Any]]) -> None:
        self.cluster.query(node, "state-set-many", {"provider": "kv", "entries": entries}, timeout=10.0)

    def stop(self) -> None:
        self.system.stop()


# -- Serf ----------------------------------------------------------------------------------------------


class SerfRpc:
    """Serf's agent RPC: msgpack header (Command, Seq) and body per request; header (Seq, Error) back."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.unpacker = msgpack.Unpacker(raw=False)
        self.seq = 0
        self._call("handshake", {"Version": 1})

    def _call(self, command: str, body: dict[str, Any]) -> None:
        self.sock.sendall(msgpack.packb({"Command": command, "Seq": self.seq}) + msgpack.packb(body))
        self.seq += 1
        while True:
            for header in self.unpacker:
                if header.get("Error"):
                    raise RuntimeError(f"serf {command}: {header['Error']}")
                return
            data = self.sock.recv(65536)
            if not data:
                raise RuntimeError("serf RPC closed")
            self.unpacker.feed(data)

    def event(self, name: str, payload: bytes = b"") -> None:
        self._call("event", {"Name": name, "Payload": payload, "Coalesce": False})

    def close(self) -> None:
        self.sock.close()


class SerfState:
    def __init__(self, names: list[str], workdir: Path, binary: str) -> None:
        self.names = names
        self.system = Serf(names, workdir, binary)
        self.rpcs: dict[str, SerfRpc] = {}

    def start(self) -> bool:
        self.system.launch()
        ok = wait_until(
            lambda: all(c == len(self.names) for c in self.system.alive_counts().values()), 90.0, 0.5
        )
        self.rpcs = {name: SerfRpc(self.system.rpc[name]) for name in self.names}
        return ok

    def _received(self) -> dict[str, dict[str, float]]:
        """event name -> node -> first time that agent logged it."""
        seen: dict[str, dict[str, float]] = {}
        for ts, who, line in self.system.pump.snapshot():
            if match := SERF_EVENT.search(line):
                seen.setdefault(match.group(1), {}).setdefault(who, ts)
        return seen

    def arrivals(self, key: str) -> dict[str, float]:
        return self._received().get(key, {})

    def write(self, node: str, key: str, value: Any) -> None:
        self.rpcs[node].event(key, json.dumps(value).encode())

    def delivered_counts(self, prefix: str) -> dict[str, int]:
        counts = dict.fromkeys(self.names, 0)
        for name, by_node in self._received().items():
            if name.startswith(prefix):
                for node in by_node:
                    counts[node] += 1
        return counts

    def stop(self) -> None:
        for rpc in self.rpcs.values():
            with contextlib.suppress(OSError):
                rpc.close()
        self.system.stop()


# -- measuring -----------------------------------------------------------------------------------------


def propagation(system: Any, result: Result, samples: int, gap: float, rng: random.Random) -> None:
    for i in range(samples):
        key = f"prop{i}"
        writer = rng.choice(system.names)
        system.write(writer, key, i)
        arrived = wait_until(lambda k=key: len(system.arrivals(k)) == len(system.names), 10.0)
        seen = system.arrivals(key)
        if not arrived or writer not in seen:
            result.propagation_missing += 1
            continue
        result.propagation_s.append(max(seen.values()) - seen[writer])
        time.sleep(gap)


def throughput_ours(system: OursState, result: Result, run: int, writes: int, batch: int) -> None:
    """The time to convergence is the last arrival of the run's updates on any node, from the nodes' own
    `state_changed` stamps: polling busy nodes every 0.1 s for their digests both loaded them and rounded
    the figure up to a poll. The digests are still compared, more slowly, to confirm the convergence."""
    prefix = f"load{run}-"
    entries = [[f"{prefix}{i}", i] for i in range(writes)]
    held = min(system.cluster.query(n, timeout=5.0).get("state", {}).get("entries", 0) for n in system.names)
    started = time.time()
    for start in range(0, writes, batch):
        node = system.names[(start // batch) % len(system.names)]
        system.write_many(node, entries[start : start + batch])
    result.updates_offered += writes

    def converged() -> bool:
        """Every node holds every update: the same store digest everywhere, and all the entries."""
        states = [system.cluster.query(n, timeout=5.0).get("state", {}) for n in system.names]
        return all(st.get("entries", 0) >= held + writes for st in states) and all(
            st.get("owners") == states[0].get("owners") for st in states
        )

    if not wait_until(converged, 120.0, 0.5):
        result.notes.append(f"throughput run {run + 1}: replicas did not converge within 120 s")
        result.throughput_failed += 1
        return
    last = 0.0
    for name in system.names:
        stamps = [
            float(record["ts"])
            for record in system.cluster.read_events(name)
            if record["event"] == "state_changed" and str(record.get("key", "")).startswith(prefix)
        ]
        last = max([last, *stamps])
    result.throughput_runs.append(writes / max(last - started, 1e-3))


def gap_repairs(system: OursState) -> tuple[int, int, float]:
    """Gaps seen, gaps repaired within 0.1 s and the longest repair, over every node (from /metrics)."""
    seen = fast = 0
    longest = 0.0
    for spec in system.cluster.layout.nodes:
        page = scrape(metrics_address(spec))
        seen += int(page.value("pycluster_state_gaps_total"))
        fast += int(page.value("pycluster_state_gap_repair_seconds_bucket", le="0.1"))
        longest = max(longest, page.value("pycluster_state_gap_repair_seconds_max"))
    return seen, fast, longest


def throughput_serf(system: SerfState, result: Result, run: int, writes: int) -> None:
    prefix = f"load{run}-"
    started = time.time()
    for i in range(writes):
        system.write(system.names[i % len(system.names)], f"{prefix}{i}", i)
    result.updates_offered += writes
    done = wait_until(lambda: min(system.delivered_counts(prefix).values()) >= writes, 60.0, 0.2)
    counts = system.delivered_counts(prefix)
    fewest = min(counts.values())
    result.updates_delivered_min = min(fewest, result.updates_delivered_min or fewest)
    if done:
        result.throughput_runs.append(writes / (time.time() - started))
    else:
        result.notes.append(f"throughput run {run + 1}: some agents got only {fewest} of {writes}")
        result.throughput_failed += 1


def idle_traffic(result: Result, seconds: float) -> None:
    time.sleep(SETTLE)
    before, began = lo_bytes(), time.monotonic()
    time.sleep(seconds)
    result.idle_bytes_per_s_per_node = (lo_bytes() - before) / (time.monotonic() - began) / result.nodes


def measure(system: Any, name: str, size: int, args: argparse.Namespace) -> Result:
    result = Result(name, size)
    rng = random.Random(size)
    try:
        if not system.start():
            result.notes.append("membership did not converge before the measurements")
        time.sleep(SETTLE)
        idle_traffic(result, args.idle)
        propagation(system, result, args.samples, args.gap, rng)
        if size <= args.throughput_max_n:
            for run in range(args.throughput_runs):
                if isinstance(system, OursState):
                    throughput_ours(system, result, run, args.writes, args.batch)
                else:
                    throughput_serf(system, result, run, args.writes)
                time.sleep(SETTLE)
            if result.throughput_runs:
                result.updates_per_s = statistics.median(result.throughput_runs)
            if isinstance(system, OursState):
                result.gaps, result.gaps_repaired_in_100ms, result.gap_repair_max_s = gap_repairs(system)
    finally:
        system.stop()
    return result


# -- reporting -----------------------------------------------------------------------------------------


def fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def ratio(ours: float | None, serf: float | None) -> str:
    return "-" if ours is None or serf is None or serf == 0 else f"{ours / serf:.2f}x"


def _best(result: Result) -> float | None:
    return max(result.throughput_runs, default=None)


def _worst(result: Result) -> float | None:
    """The slowest run, or None if any run did not converge: the target holds in every run or not at all."""
    if not result.throughput_runs:
        return None
    return 0.0 if result.throughput_failed else min(result.throughput_runs)


def verdict(size: int, at: int, ok: bool | None) -> str:
    if size != at or ok is None:
        return ""
    return "met" if ok else "NOT met"


def print_table(rows: list[tuple[Result, Result | None]]) -> None:
    header = f"{'N':>3}  {'metric':<38}{'ours':>12}{'serf':>12}{'ours/serf':>11}  target"
    print(header)
    print("-" * len(header))
    for ours, serf in rows:
        n = ours.nodes
        pmax = ours.quantile(1.0)
        lines = [
            ("propagation p50, s", ours.quantile(0.5), serf and serf.quantile(0.5), ".3f", ""),
            ("propagation p99, s", ours.quantile(0.99), serf and serf.quantile(0.99), ".3f", ""),
            (
                "propagation max, s",
                pmax,
                serf and serf.quantile(1.0),
                ".3f",
                verdict(
                    n,
                    TARGET_PROPAGATION_MAX_S[0],
                    None if pmax is None else pmax <= TARGET_PROPAGATION_MAX_S[1],
                ),
            ),
            (
                "updates/s, all converged (median)",
                ours.updates_per_s,
                serf and serf.updates_per_s,
                ".0f",
                "",
            ),
            ("updates/s, fastest run", _best(ours), None if serf is None else _best(serf), ".0f", ""),
            (
                "updates/s, slowest run",
                _worst(ours),
                None if serf is None else _worst(serf),
                ".0f",
                verdict(
                    n,
                    TARGET_UPDATES_PER_S[0],
                    None if _worst(ours) is None else _worst(ours) >= TARGET_UPDATES_PER_S[1],  # type: ignore[operator]
                ),
            ),
            (
                "idle bytes/s per node (lo)",
                ours.idle_bytes_per_s_per_node,
                serf and serf.idle_bytes_per_s_per_node,
                ".0f",
                verdict(
                    n,
                    TARGET_IDLE_BYTES[0],
                    None
                    if ours.idle_bytes_per_s_per_node is None
                    else ours.idle_bytes_per_s_per_node <= TARGET_IDLE_BYTES[1],
                ),
            ),
        ]
        for metric, a, b, spec, target in lines:
            print(f"{n:>3}  {metric:<38}{fmt(a, spec):>12}{fmt(b, spec):>12}{ratio(a, b):>11}  {target}")
        if ours.throughput_runs:
            runs = ", ".join(f"{rate:.0f}" for rate in ours.throughput_runs)
            print(f"{n:>3}    ours: each run, updates/s: {runs}")
        if ours.gaps:
            print(
                f"{n:>3}    ours: gaps {ours.gaps}, repaired within 0.1 s {ours.gaps_repaired_in_100ms}, "
                f"longest repair {fmt(ours.gap_repair_max_s)} s"
            )
        if serf is not None and serf.updates_delivered_min is not None:
            print(
                f"{n:>3}    {'serf: fewest events one agent got':<36}{'':>12}{serf.updates_delivered_min:>12}"
            )
        for note in ours.notes + (serf.notes if serf else []):
            print(f"{n:>3}    note: {note}")
        print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 25, 50])
    parser.add_argument("--systems", nargs="+", choices=["ours", "serf"], default=["ours", "serf"])
    parser.add_argument("--samples", type=int, default=30, help="single updates timed per run")
    parser.add_argument("--gap", type=float, default=0.2, help="seconds between timed updates")
    parser.add_argument("--writes", type=int, default=4000, help="updates offered in the throughput run")
    parser.add_argument("--batch", type=int, default=200, help="ours: updates per control request")
    parser.add_argument("--throughput-max-n", type=int, default=10)
    parser.add_argument("--throughput-runs", type=int, default=5, help="throughput runs per N (spread)")
    parser.add_argument("--idle", type=float, default=20.0, help="idle window, seconds")
    parser.add_argument("--out", default="bench-results/state.json")
    parser.add_argument("--install-serf", action="store_true")
    parser.add_argument(
        "--unsealed", action="store_true", help="ours: security: none (the default seals every packet)"
    )
    args = parser.parse_args()
    interrupt_on_sigterm()
    serf_binary, serf_version = find_serf(args.install_serf) if "serf" in args.systems else (None, "")
    if "serf" in args.systems and serf_binary is None:
        print(
            "serf is not installed (apt-get install -y serf, or --install-serf): Serf skipped",
            file=sys.stderr,
        )
    rows: list[tuple[Result, Result | None]] = []
    with tempfile.TemporaryDirectory(prefix="bench-state-") as tmp:
        for size in args.sizes:
            names = node_names(size)
            ours = Result("ours", size, notes=["not run"])
            serf = None
            if "ours" in args.systems:
                print(f"  {size} nodes: ours (lan preset)...", file=sys.stderr, flush=True)
                state = OursState(names, Path(tmp) / f"ours-{size}", sealed=not args.unsealed)
                ours = measure(state, "ours", size, args)
            if serf_binary is not None:
                print(f"  {size} nodes: serf (-profile=lan)...", file=sys.stderr, flush=True)
                serf = measure(SerfState(names, Path(tmp) / f"serf-{size}", serf_binary), "serf", size, args)
            rows.append((ours, serf))
    print()
    print_table(rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        **run_header(),
        "serf_version": serf_version or None,
        "results": [
            {
                "nodes": ours.nodes,
                "ours": {
                    **vars(ours),
                    "p50": ours.quantile(0.5),
                    "p99": ours.quantile(0.99),
                    "max": ours.quantile(1.0),
                },
                "serf": None
                if serf is None
                else {
                    **vars(serf),
                    "p50": serf.quantile(0.5),
                    "p99": serf.quantile(0.99),
                    "max": serf.quantile(1.0),
                },
            }
            for ours, serf in rows
        ],
    }
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
