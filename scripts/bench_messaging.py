#!/usr/bin/env python3
"""Users' messages between actors on different nodes, side by side with Ray actors and Thespian.

In one invocation, one system after the other (so they never compete for the CPU), this measures:

1. one-way: an actor on worker-1 sends --messages 64-byte payloads to an actor on worker-2 as fast as it
   can; msgs/s from the first send until the receiver has them all (the receiver stamps that);
2. round trips (p50, p99): actor to actor, worker-1 asking worker-2 and waiting for each reply (timed
   inside the asking actor), and from a driver (this process, through `ClusterClient.request`);
3. a publish to a topic subscribed on 10 nodes: ms from the publish until the last subscriber has it
   (each stamps `time.time()` on arrival; one machine, one clock), p50 over --publish-rounds.

Ours runs the actors in scripts/bench_apps on 11 real node processes (a manager and 10 workers). The
peers run the same three measures through scripts/messaging_peers.py, under a Python that has them
installed (--peer-python, default /work/peers-venv/bin/python when it exists; make one with
`python3 -m venv V && V/bin/pip install ray thespian msgpack`). A peer that is not installed is reported
as missing, never faked. Ratios are computed from this one run, because this machine is shared and noisy.

Targets (issue 9, reported, not enforced): one-way >= 50,000 msgs/s; round trip p50 <= 0.3 ms and p99 <= 1
ms; publish reaching 10 nodes <= 2 ms.

    python scripts/bench_messaging.py [--messages 100000] [--round-trips 5000] [--publish-rounds 200]
                                      [--peers ray thespian] [--peer-python PATH] [--out FILE]

Every node started here is stopped by its pid on the way out (the launcher's `down`), error or not.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchlib import run_header  # noqa: E402

from actors import RunDir, free_ports  # noqa: E402
from cluster import prepare  # noqa: E402
from cluster.ops.client import ClusterClient  # noqa: E402
from cluster.ops.tables import print_table  # noqa: E402

WORKERS = 10
TARGETS = {
    "oneway_msgs_per_s": (">=", 50_000),
    "rtt_actor_p50_ms": ("<=", 0.3),
    "rtt_actor_p99_ms": ("<=", 1.0),
    "rtt_driver_p50_ms": ("<=", 0.3),
    "rtt_driver_p99_ms": ("<=", 1.0),
    "publish10_p50_ms": ("<=", 2.0),
}
LABELS = {
    "oneway_msgs_per_s": "one-way, msgs/s",
    "rtt_actor_p50_ms": "round trip actor->actor p50, ms",
    "rtt_actor_p99_ms": "round trip actor->actor p99, ms",
    "rtt_driver_p50_ms": "round trip driver->actor p50, ms",
    "rtt_driver_p99_ms": "round trip driver->actor p99, ms",
    "publish10_p50_ms": "publish reaching 10 nodes p50, ms",
}


def _layout(workdir: Path) -> Path:
    ports = free_ports(WORKERS + 1)
    lines = ["cluster: benchmessaging", "preset: local", "nodes:"]
    lines.append(f"  manager: {{role: manager, host: 127.0.0.1, port: {ports[0]}}}")
    lines += [
        f"  worker-{i}: {{role: worker, host: 127.0.0.1, port: {ports[i]}}}" for i in range(1, WORKERS + 1)
    ]
    lines += [
        "app:",
        f"  path: [{ROOT / 'scripts' / 'bench_apps'}]",
        "  actors:",
        "    worker: [{name: sink, class: 'benchapps:Sink', args: {topics: [bench]}},"
        " {name: echo, class: 'benchapps:Echo'}]",
        "    worker-1: [{name: blaster, class: 'benchapps:Blaster'},"
        " {name: pinger, class: 'benchapps:Pinger'}]",
        "    manager: [{name: publisher, class: 'benchapps:Publisher'}]",
    ]
    path = workdir / "layout.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure_ours(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-messaging-"))
    cluster = prepare(_layout(workdir), RunDir(workdir / "run"))
    client = ClusterClient(cluster)

    def ask(node: str, actor: str, message: Any, timeout: float = 60.0) -> Any:
        return client.request(node, actor, message, timeout=timeout)

    try:
        began = time.monotonic()
        if not cluster.up(timeout=60).started:
            raise RuntimeError("our cluster did not start")
        setup = time.monotonic() - began
        # every worker's subscription must be known to the publisher's node before publishes are timed
        deadline = time.monotonic() + 30
        while (
            len(
                cluster.query("manager", "state-list", {"provider": "topics"})["entries"]
                .get("bench", {})
                .get("value", [])
            )
            < WORKERS
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("the topic's subscribers never all showed up")
            time.sleep(0.1)
        ask("worker-1", "blaster", {"to": ["worker-2", "sink"], "n": 100, "size": args.payload})  # warm-up

        ask("worker-2", "sink", {"expect": args.messages})
        sent = ask(
            "worker-1", "blaster", {"to": ["worker-2", "sink"], "n": args.messages, "size": args.payload}
        )
        while (stats := ask("worker-2", "sink", {"stats": True}))["count"] < args.messages:
            time.sleep(0.05)
        oneway = args.messages / (stats["last"] - sent["started"])

        ask("worker-1", "pinger", {"to": ["worker-2", "echo"], "n": 50})  # warm-up
        actor_rtt = ask("worker-1", "pinger", {"to": ["worker-2", "echo"], "n": args.round_trips})

        driver_rtt = []
        for _ in range(args.round_trips // 5):
            started = time.perf_counter()
            ask("worker-2", "echo", "x" * args.payload, timeout=5.0)
            driver_rtt.append(time.perf_counter() - started)

        reach = []
        sinks = [f"worker-{i}" for i in range(1, WORKERS + 1)]
        for _ in range(args.publish_rounds):
            published = ask("manager", "publisher", {"topic": "bench"})
            time.sleep(0.005)
            arrivals = [ask(sink, "sink", {"arrivals": True}) for sink in sinks]
            if all(arrivals):
                reach.append((max(a[0] for a in arrivals) - published) * 1000)
        return {
            "system": "ours",
            "version": "0.1.0",
            "oneway_msgs_per_s": round(oneway, 1),
            "rtt_actor_p50_ms": round(_percentile(actor_rtt, 0.5) * 1000, 3),
            "rtt_actor_p99_ms": round(_percentile(actor_rtt, 0.99) * 1000, 3),
            "rtt_driver_p50_ms": round(_percentile(driver_rtt, 0.5) * 1000, 3),
            "rtt_driver_p99_ms": round(_percentile(driver_rtt, 0.99) * 1000, 3),
            "publish10_p50_ms": round(statistics.median(reach), 3) if reach else None,
            "publish10_rounds_complete": len(reach),
            "messages": args.messages,
            "round_trips": args.round_trips,
            "nodes": WORKERS + 1,
            "setup_s": round(setup, 2),
        }
    finally:
        cluster.down()


def measure_peer(system: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        args.peer_python,
        str(ROOT / "scripts" / "messaging_peers.py"),
        system,
        "--payload",
        str(args.payload),
    ]
    if not Path(args.peer_python).exists():
        return {"system": system, "error": f"no peer Python at {args.peer_python}"}
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        return {"system": system, "error": "timed out"}
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"system": system, "error": f"no result (exit {result.returncode}): {result.stderr[-400:]}"}
    parsed: dict[str, Any] = json.loads(lines[-1])
    return parsed


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3f}"


def print_results(results: list[dict[str, Any]]) -> None:
    ours = results[0]
    peers = [r for r in results[1:] if "error" not in r]
    header = [
        "measure",
        "target",
        "ours",
        *(p["system"] for p in peers),
        *(f"ours/{p['system']}" for p in peers),
    ]
    rows = [header]
    for key, label in LABELS.items():
        op, goal = TARGETS[key]
        row = [label, f"{op} {goal:,}", _cell(ours.get(key))]
        row += [_cell(p.get(key)) for p in peers]
        for peer in peers:
            mine, theirs = ours.get(key), peer.get(key)
            row.append(f"{mine / theirs:.2f}x" if mine and theirs else "-")
        rows.append(row)
    print_table(rows)
    for result in results[1:]:
        if "error" in result:
            print(f"{result['system']}: not measured ({result['error']})")
    met = [
        key
        for key, (op, goal) in TARGETS.items()
        if ours.get(key) is not None and (ours[key] >= goal if op == ">=" else ours[key] <= goal)
    ]
    missed = [key for key in TARGETS if key not in met]
    print(f"targets met: {', '.join(met) or 'none'}; missed: {', '.join(missed) or 'none'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--round-trips", type=int, default=5000)
    parser.add_argument("--publish-rounds", type=int, default=200)
    parser.add_argument("--payload", type=int, default=64)
    parser.add_argument("--peers", nargs="*", default=["ray", "thespian"])
    default_peer = (
        "/work/peers-venv/bin/python" if Path("/work/peers-venv/bin/python").exists() else sys.executable
    )
    parser.add_argument("--peer-python", default=default_peer)
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "messaging.json"))
    args = parser.parse_args()
    results = [measure_ours(args)]
    print(f"ours: {json.dumps(results[0])}", file=sys.stderr)
    for system in args.peers:
        results.append(measure_peer(system, args))
        print(f"{system}: {json.dumps(results[-1])}", file=sys.stderr)
    print_results(results)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "messaging",
        **run_header(),
        "targets": {key: list(target) for key, target in TARGETS.items()},
        "results": results,
    }
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
