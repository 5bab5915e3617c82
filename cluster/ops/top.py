"""`clusterctl top`: where a running cluster's cost goes, node by node, refreshed live.

Every node is scraped (`GET /metrics`, in parallel) once per interval; rates come from the difference of two
scrapes, so the first table appears one interval after the start. Per node: CPU (% of one core, from the
process' CPU seconds), RSS, threads, the deepest actor mailbox, UDP datagrams in and out per second, the
Lifeguard health score (0 is healthy) and how many members it holds as suspect. The busiest node comes
first. `--json` prints one object per node and refresh instead of the table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from cluster.layout.model import Layout
from cluster.ops.metrics_client import MetricsUnavailable, Scrape, metrics_address, scrape
from cluster.ops.tables import print_table

__all__ = ["NodeLoad", "add_parser", "loads", "scrape_all"]

CLEAR_SCREEN = "\x1b[H\x1b[2J"
CPU = "pycluster_cpu_seconds_total"  # to the nanosecond; process_cpu_seconds_total counts 10 ms ticks


@dataclass(frozen=True)
class NodeLoad:
    node: str
    role: str
    cpu_percent: float | None
    rss_mb: float | None
    threads: int | None
    mailbox: str | None  # "actor:depth" of the deepest inbox
    datagrams_per_s: float | None
    health: int | None
    suspects: int | None
    problem: str = ""  # why the node could not be read


def scrape_all(layout: Layout, *, timeout: float = 2.0) -> dict[str, Scrape | str]:
    """Every node's page, or why there is none."""

    def one(name: str) -> Scrape | str:
        try:
            return scrape(metrics_address(layout.node(name)), timeout=timeout)
        except MetricsUnavailable as error:
            return str(error)

    with ThreadPoolExecutor(max_workers=16) as pool:
        return dict(zip(layout.names, pool.map(one, layout.names), strict=True))


def _datagrams(page: Scrape) -> float:
    return page.value("memberlist_udp_sent_datagrams_total") + page.value(
        "memberlist_udp_received_datagrams_total"
    )


def loads(
    layout: Layout, before: Mapping[str, Scrape | str], after: Mapping[str, Scrape | str], elapsed: float
) -> list[NodeLoad]:
    """The table's rows from two rounds of scrapes `elapsed` seconds apart, busiest first."""
    rows = []
    for spec in layout.nodes:
        now, then = after.get(spec.name), before.get(spec.name)
        if not isinstance(now, Scrape):
            rows.append(
                NodeLoad(spec.name, spec.role, None, None, None, None, None, None, None, now or "no page")
            )
            continue
        cpu = rate = None
        if isinstance(then, Scrape) and elapsed > 0:
            cpu = 100 * (now.value(CPU) - then.value(CPU)) / elapsed
            rate = (_datagrams(now) - _datagrams(then)) / elapsed
        depths = now.by_label("pycluster_actor_mailbox_depth", "actor")
        deepest = max(depths.items(), key=lambda item: item[1], default=None)
        rows.append(
            NodeLoad(
                node=spec.name,
                role=spec.role,
                cpu_percent=cpu,
                rss_mb=now.value("process_resident_memory_bytes") / 2**20,
                threads=int(now.value("pycluster_threads")),
                mailbox=None if deepest is None else f"{deepest[0]}:{int(deepest[1])}",
                datagrams_per_s=rate,
                health=int(now.value("memberlist_health_score")),
                suspects=int(now.value("memberlist_node_instances", state="suspect")),
            )
        )
    rows.sort(key=lambda row: (row.problem == "", row.cpu_percent or 0.0), reverse=True)
    return rows


def _cell(value: float | int | str | None, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec) if spec else str(value)


def _print(rows: list[NodeLoad], elapsed: float) -> None:
    table = [["NODE", "ROLE", "CPU%", "RSS MB", "THREADS", "DEEPEST MAILBOX", "DGRAM/S", "HEALTH", "SUSPECT"]]
    for row in rows:
        table.append(
            [
                row.node,
                row.role,
                _cell(row.cpu_percent, ".1f"),
                _cell(row.rss_mb, ".1f"),
                _cell(row.threads),
                row.problem or _cell(row.mailbox),
                _cell(row.datagrams_per_s, ".1f"),
                _cell(row.health),
                _cell(row.suspects),
            ]
        )
    up = [row for row in rows if not row.problem]
    cpu = sum(row.cpu_percent or 0.0 for row in up)
    print(f"{len(up)}/{len(rows)} nodes answering; CPU {cpu:.1f}% of one core in all, over {elapsed:.1f} s")
    print_table(table)


def cmd_top(args: argparse.Namespace, layout: Layout) -> int:
    live = sys.stdout.isatty() and not args.json
    before = scrape_all(layout)
    taken = time.monotonic()
    shown = 0
    while args.count == 0 or shown < args.count:
        time.sleep(max(0.0, taken + args.interval - time.monotonic()))
        after = scrape_all(layout)
        now = time.monotonic()
        rows = loads(layout, before, after, now - taken)
        if args.json:
            for row in rows:
                print(json.dumps(asdict(row)), flush=True)
        else:
            if live:
                print(CLEAR_SCREEN, end="")
            _print(rows, now - taken)
            sys.stdout.flush()
        before, taken = after, now
        shown += 1
    return 0


def add_parser(verbs: Any, find_cluster: Any, common: argparse.ArgumentParser) -> None:
    top = verbs.add_parser("top", parents=[common], help="CPU, memory, mailboxes and traffic per node, live")
    top.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes (default 2)")
    top.add_argument("--count", type=int, default=0, help="stop after this many tables (default: never)")
    top.set_defaults(run=lambda args: cmd_top(args, find_cluster(args).layout))
