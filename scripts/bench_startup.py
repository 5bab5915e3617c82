#!/usr/bin/env python3
"""Start-up and idle cost of a real multi-process cluster.

For generated layouts of 6, 26 and 51 nodes (Zeek's shape: 1 manager, loggers, proxies, workers on free
loopback ports), time `clusterctl up` from the first spawn to `cluster_started` (median of --repeat runs),
then measure each node's CPU and RSS while the cluster idles for --idle seconds. Prints a table and writes
JSON. Targets (issue 2): 51 nodes started in <= 5 s; idle CPU <= 0.1 % of a core per node; RSS <= 25 MB.

    python scripts/bench_startup.py [--sizes 6 26 51] [--repeat 3] [--idle 10] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import cpu_seconds, memory_mb

from actors import RunDir, free_ports
from cluster import Cluster, prepare

SHAPES = {6: (1, 1, 3), 26: (1, 2, 22), 51: (2, 4, 44)}  # loggers, proxies, workers besides the manager


def layout_text(size: int) -> str:
    loggers, proxies, workers = SHAPES.get(size, (1, max(1, size // 12), size - 2 - max(1, size // 12)))
    names = (
        ["manager"]
        + [f"logger-{i}" for i in range(1, loggers + 1)]
        + [f"proxy-{i}" for i in range(1, proxies + 1)]
        + [f"worker-{i}" for i in range(1, workers + 1)]
    )
    ports = free_ports(len(names))
    lines = [f"cluster: bench{size}", "preset: local", "nodes:"]
    for name, port in zip(names, ports, strict=True):
        role = name.split("-")[0]
        lines.append(f"  {name}: {{role: {role}, host: 127.0.0.1, port: {port}}}")
    return "\n".join(lines) + "\n"


def start_once(workdir: Path, size: int, timeout: float) -> tuple[Cluster, float]:
    workdir.mkdir(parents=True, exist_ok=True)
    layout_file = workdir / f"bench{size}.yaml"
    layout_file.write_text(layout_text(size))
    cluster = prepare(layout_file, RunDir(workdir / f"run{size}"))
    result = cluster.up(timeout=timeout)
    if not result.started:
        cluster.down()
        raise SystemExit(f"{size} nodes did not start: {result.problems}")
    return cluster, result.elapsed


def idle_cost(cluster: Cluster, seconds: float, settle: float) -> tuple[float, float, float, float]:
    pids = {name: cluster.pid(name) for name in cluster.layout.names}
    time.sleep(settle)  # joining (greetings, gossip, first push-pulls) is not idleness
    before = {name: cpu_seconds(pid) for name, pid in pids.items() if pid}
    time.sleep(seconds)
    after = {name: cpu_seconds(pid) for name, pid in pids.items() if pid}
    cpu = [100 * (after[name] - before[name]) / seconds for name in before]
    rss = [memory_mb(pid, "VmRSS") for pid in pids.values() if pid]
    pss = [memory_mb(pid, "Pss") for pid in pids.values() if pid]
    return statistics.mean(cpu), max(cpu), statistics.mean(rss), statistics.mean(pss)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[6, 26, 51])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after start before idling counts")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--out", default="bench-results/startup.json")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        for size in args.sizes:
            times = []
            for attempt in range(args.repeat):
                cluster, elapsed = start_once(Path(tmp) / f"{size}-{attempt}", size, args.timeout)
                times.append(elapsed)
                try:
                    if attempt == args.repeat - 1:
                        cpu_mean, cpu_max, rss, pss = idle_cost(cluster, args.idle, args.settle)
                finally:
                    cluster.down()
            rows.append(
                {
                    "nodes": size,
                    "startup_s": times,
                    "startup_median_s": statistics.median(times),
                    "idle_cpu_pct_mean": cpu_mean,
                    "idle_cpu_pct_max": cpu_max,
                    "rss_mb_mean": rss,
                    "pss_mb_mean": pss,
                }
            )
            print(f"  {size} nodes: median {statistics.median(times):.2f}s", file=sys.stderr)
    header = (
        f"{'nodes':>5}  {'up->started (median)':>21}  {'runs':>20}  {'idle CPU/node':>14}  {'max':>7}  "
        f"{'RSS/node':>9}  {'PSS/node':>9}"
    )
    print(header)
    for row in rows:
        runs = " ".join(f"{t:.2f}" for t in row["startup_s"])
        print(
            f"{row['nodes']:>5}  {row['startup_median_s']:>20.2f}s  {runs:>20}  "
            f"{row['idle_cpu_pct_mean']:>13.3f}%  {row['idle_cpu_pct_max']:>6.3f}%  "
            f"{row['rss_mb_mean']:>7.1f}MB  {row['pss_mb_mean']:>7.1f}MB"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "idle_seconds": args.idle,
                "settle_seconds": args.settle,
                "results": rows,
            },
            indent=2,
        )
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
