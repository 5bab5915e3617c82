"""`clusterctl partition|heal|loss|delay`: inject network faults into a running cluster, live.

    clusterctl partition manager,logger / worker-1,worker-2   # cut the two groups off from each other
    clusterctl partition worker-3                              # one node against the rest
    clusterctl loss 10% [--node N ...]                         # that share of datagrams sent is lost
    clusterctl delay 50ms [--node N ...]                       # everything sent waits that long
    clusterctl heal                                            # every fault lifted

Each node carries out its own faults in its transport; `clusterctl status` shows them.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from cluster.control.protocol import FaultsStatus
from cluster.ops import faults
from cluster.ops.launcher import Cluster, LaunchError
from cluster.ops.tables import print_table
from cluster.wire.schema import to_plain


def describe(status: FaultsStatus) -> str:
    parts = []
    if status.blocked:
        parts.append("cut off from " + ", ".join(status.blocked))
    if status.loss:
        parts.append(f"{100 * status.loss:g}% datagrams lost")
    if status.delay:
        parts.append(f"{1000 * status.delay:g} ms delay")
    return "; ".join(parts) or "none"


def _show(args: argparse.Namespace, result: dict[str, FaultsStatus]) -> int:
    if args.json:
        for name, status in result.items():
            print(json.dumps({"node": name, **to_plain(status)}))
        return 0
    print_table([["NODE", "FAULTS"], *([name, describe(status)] for name, status in result.items())])
    return 0


def _parsed(parse: Callable[[str], Any], text: str) -> Any:
    try:
        return parse(text)
    except ValueError as error:
        raise LaunchError(str(error)) from None


def add_parsers(verbs: Any, find_cluster: Callable[[argparse.Namespace], Cluster], common: Any) -> None:
    def run(action: Callable[[argparse.Namespace, Cluster], dict[str, FaultsStatus]]) -> Any:
        return lambda args: _show(args, action(args, find_cluster(args)))

    partition = verbs.add_parser(
        "partition", parents=[common], help="cut groups of nodes off from each other: A,B / C,D"
    )
    partition.add_argument("groups", nargs="+", metavar="NODES", help="groups of nodes, split by /")
    partition.set_defaults(
        run=run(lambda args, cluster: faults.partition(cluster, _parsed(faults.parse_groups, args.groups)))
    )

    heal = verbs.add_parser("heal", parents=[common], help="lift every injected fault on every node")
    heal.set_defaults(run=run(lambda args, cluster: faults.heal(cluster)))

    loss = verbs.add_parser("loss", parents=[common], help="lose a share of the datagrams nodes send: 10%%")
    loss.add_argument("share", help="a percentage (10%%) or a share (0.1); 0%% lifts it")
    loss.add_argument("--node", action="append", help="only this node (repeatable; default every node)")
    loss.set_defaults(
        run=run(
            lambda args, cluster: faults.set_loss(cluster, _parsed(faults.parse_loss, args.share), args.node)
        )
    )

    delay = verbs.add_parser("delay", parents=[common], help="hold everything nodes send that long: 50ms")
    delay.add_argument("duration", help="50ms, 0.5s; 0 lifts it")
    delay.add_argument("--node", action="append", help="only this node (repeatable; default every node)")
    delay.set_defaults(
        run=run(
            lambda args, cluster: faults.set_delay(
                cluster, _parsed(faults.parse_delay, args.duration), args.node
            )
        )
    )
