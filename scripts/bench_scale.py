#!/usr/bin/env python3
"""Scale on one machine, side by side with HashiCorp Serf: 101 and 201 nodes, start, idle, kill -9.

For each N (default 101 and 201), in one invocation and one after the other, N nodes of this project (a
Zeek-shaped layout, `lan` preset) and N Serf agents (`-profile=lan`), all on 127.0.0.1. Measured for both
(the phases are scripts/bench_membership.py's, run the same way):

- start: from the moment launching begins until the cluster is formed. Ours: `cluster_started` on the
  manager (what `clusterctl up` waits for); Serf has no such event, so its figure is convergence, every agent
  seeing N members alive. Our convergence is reported beside it.
- false failures: `member_failed` about a node that was alive, from the first launch through the idle window
  and the kills (target 0), and how many healthy nodes were ever suspected;
- idle CPU per node over --idle seconds (default 600 at 101 nodes, 300 at 201: the issue's windows);
- kill -9 of one worker until every survivor has marked it failed (target: <= 0.5x Serf at 101 nodes).

Targets (issue 10), at 101 nodes: start no slower than Serf's convergence; 0 false failures; idle CPU per
node no higher than Serf's; detection <= 0.5x Serf. At 201 nodes: it forms, with 0 false failures.
Prints a table and writes JSON. Every process started is stopped by its pid, error or Ctrl-C.

    python scripts/bench_scale.py [--sizes 101 201] [--idle SECONDS] [--kills 1] [--out FILE] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_membership import RunResult, converged_at, fmt, measure, verdict_text
from benchlib import Ours, Serf, find_serf, interrupt_on_sigterm, node_names, ratio, run_header

from cluster import ClusterStartedEvent

DEFAULT_IDLE = {101: 600.0, 201: 300.0}
TARGET_DETECT_RATIO = 0.5


class TimedOurs(Ours):
    """Ours, remembering when launching began and reading when the manager announced the start."""

    began = 0.0

    def launch(self) -> None:
        self.began = time.time()
        super().launch()

    def started_after(self) -> float | None:
        for record in self.cluster.read_events("manager"):
            if record.get("event") == ClusterStartedEvent.NAME:
                return float(record["ts"]) - self.began
        return None


class TimedSerf(Serf):
    began = 0.0

    def launch(self) -> None:
        self.began = time.time()
        super().launch()


def run_one(system: TimedOurs | TimedSerf, args: argparse.Namespace) -> tuple[RunResult, float | None]:
    """The bench_membership phases, plus the start: ours to `cluster_started`, Serf's to convergence, both
    from the moment launching began (Serf's seed agent must answer before the others are launched)."""
    result = measure(system, args)
    if isinstance(system, TimedOurs):
        return result, system.started_after()
    reached = converged_at(system.observations(), system.names)
    if result.not_converged or not reached:
        return result, None
    return result, max(reached.values()) - system.began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[101, 201])
    parser.add_argument("--systems", nargs="+", choices=["ours", "serf"], default=["ours", "serf"])
    parser.add_argument("--idle", type=float, help="idle window, seconds (default 600 at 101, 300 at 201)")
    parser.add_argument("--join-timeout", type=float, default=150.0)
    parser.add_argument("--detect-timeout", type=float, default=90.0)
    parser.add_argument("--kills", type=int, default=1)
    parser.add_argument("--tail", type=float, default=5.0, help="watch for false failures after a kill")
    parser.add_argument("--out", default="bench-results/scale.json")
    parser.add_argument("--keep", metavar="DIR", help="keep run directories (event logs) under DIR")
    parser.add_argument("--install-serf", action="store_true")
    args = parser.parse_args()
    interrupt_on_sigterm()
    serf_binary, serf_version = find_serf(args.install_serf) if "serf" in args.systems else (None, "")
    rows: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        if args.keep:
            Path(args.keep).mkdir(parents=True, exist_ok=True)
            tmp = args.keep
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-scale-"))
        for size in args.sizes:
            run_args = argparse.Namespace(**vars(args))
            run_args.idle = args.idle if args.idle is not None else DEFAULT_IDLE.get(size, 300.0)
            row: dict[str, Any] = {"nodes": size, "idle_s": run_args.idle}
            names = node_names(size)
            if "ours" in args.systems:
                print(f"  {size} nodes: ours...", file=sys.stderr, flush=True)
                row["ours"], row["ours_started_s"] = run_one(
                    TimedOurs(names, Path(tmp) / f"ours-{size}"), run_args
                )
            if serf_binary is not None:
                print(f"  {size} nodes: serf...", file=sys.stderr, flush=True)
                serf = TimedSerf(names, Path(tmp) / f"serf-{size}", serf_binary)
                row["serf"], row["serf_started_s"] = run_one(serf, run_args)
            rows.append(row)
    print_report(rows)
    write_json(Path(args.out), rows, args, serf_version)
    return 0


def targets(row: dict[str, Any]) -> dict[str, bool | None]:
    ours: RunResult | None = row.get("ours")
    serf: RunResult | None = row.get("serf")
    if ours is None:
        return {}
    met: dict[str, bool | None] = {
        "formed": row.get("ours_started_s") is not None,
        "zero_false_failures": not ours.false_failures,
    }
    if row["nodes"] <= 101:
        started, converged = row.get("ours_started_s"), row.get("serf_started_s")
        met["start_le_serf_convergence"] = (
            None if started is None or converged is None else started <= converged
        )
        cpu = ratio(ours.idle_cpu_sched_pct_mean, serf.idle_cpu_sched_pct_mean) if serf else None
        met["idle_cpu_le_serf"] = None if cpu is None else cpu <= 1.0
        detect = ratio(ours.detect_s, serf.detect_s) if serf else None
        met["detect_le_0.5x_serf"] = None if detect is None else detect <= TARGET_DETECT_RATIO
    return met


def print_report(rows: list[dict[str, Any]]) -> None:
    header = f"{'N':>3}  {'metric':<44} {'ours':>12} {'serf':>12} {'ours/serf':>10}  target"
    print(header)
    print("-" * (len(header) + 24))
    for row in rows:
        n = row["nodes"]
        ours: RunResult = row.get("ours") or RunResult("ours", n)
        serf: RunResult = row.get("serf") or RunResult("serf", n)
        met = targets(row)

        def line(metric: str, a: str, b: str, r: float | None, target: str = "", n: int = n) -> None:
            print(f"{n:>3}  {metric:<44} {a:>12} {b:>12} {fmt(r, '.2f', 'x'):>10}  {target}")

        started, converged = row.get("ours_started_s"), row.get("serf_started_s")
        line(
            "start: launch -> cluster_started / converged, s",
            fmt(started),
            fmt(converged),
            ratio(started, converged),
            f"<= serf: {verdict_text(met.get('start_le_serf_convergence'))}"
            if n <= 101
            else f"forms: {verdict_text(met.get('formed'))}",
        )
        line(
            "  convergence after the last launch, s",
            fmt(ours.join_s),
            fmt(serf.join_s),
            ratio(ours.join_s, serf.join_s),
        )
        line(
            "  launching: first to last start, s", fmt(ours.launch_spread_s), fmt(serf.launch_spread_s), None
        )
        line(
            f"false failures (start, {row['idle_s']:.0f} s idle, kills)",
            str(len(ours.false_failures)),
            str(len(serf.false_failures)) if row.get("serf") else "-",
            None,
            f"0: {verdict_text(met.get('zero_false_failures'))}",
        )
        line(
            "  healthy members ever suspected",
            str(len(ours.suspected_healthy)),
            str(len(serf.suspected_healthy)),
            None,
        )
        line(
            "idle CPU/node (schedstat), % core",
            fmt(ours.idle_cpu_sched_pct_mean, ".3f"),
            fmt(serf.idle_cpu_sched_pct_mean, ".3f"),
            ratio(ours.idle_cpu_sched_pct_mean, serf.idle_cpu_sched_pct_mean),
            f"<= serf: {verdict_text(met.get('idle_cpu_le_serf'))}" if n <= 101 else "",
        )
        line(
            "  max node, % core",
            fmt(ours.idle_cpu_sched_pct_max, ".3f"),
            fmt(serf.idle_cpu_sched_pct_max, ".3f"),
            None,
        )
        line(
            "kill -9 -> all survivors marked it failed, s",
            fmt(ours.detect_s),
            fmt(serf.detect_s),
            ratio(ours.detect_s, serf.detect_s),
            f"<= 0.5x: {verdict_text(met.get('detect_le_0.5x_serf'))}" if n <= 101 else "",
        )
        line(
            "RSS/node, MB",
            fmt(ours.rss_mb_mean, ".1f"),
            fmt(serf.rss_mb_mean, ".1f"),
            ratio(ours.rss_mb_mean, serf.rss_mb_mean),
        )
        for result in (row.get("ours"), row.get("serf")):
            for note in result.notes if result is not None else []:
                print(f"{n:>3}  note ({result.system}): {note}")
        print()


def write_json(out: Path, rows: list[dict[str, Any]], args: argparse.Namespace, serf_version: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        **run_header(),
        "serf_version": serf_version or None,
        "results": [
            {
                "nodes": row["nodes"],
                "idle_s": row["idle_s"],
                "ours_started_s": row.get("ours_started_s"),
                "serf_converged_s": row.get("serf_started_s"),
                "ours": vars(row["ours"]) if row.get("ours") else None,
                "serf": vars(row["serf"]) if row.get("serf") else None,
                "targets_met": targets(row),
            }
            for row in rows
        ],
    }
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
