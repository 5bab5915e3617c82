"""`clusterctl send|publish|request|actors`: drive users' actors from the shell.

MESSAGE is JSON (`'{"text": "a b"}'`, `3`, `'"word"'`); text that is not JSON is sent as a string. The
reply of `request` is printed as one line of JSON, so scripts can read it.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from cluster.control.protocol import ActorsList
from cluster.ops.cli_state import parse_value
from cluster.ops.client import ClusterClient
from cluster.ops.control_client import ControlError
from cluster.ops.tables import print_table
from cluster.wire.schema import to_plain


def add_parsers(verbs: Any, find_cluster: Any, common: argparse.ArgumentParser) -> None:
    def client(args: argparse.Namespace) -> ClusterClient:
        return ClusterClient(find_cluster(args))

    send = verbs.add_parser("send", parents=[common], help="tell an application actor a message")
    send.add_argument("node")
    send.add_argument("actor")
    send.add_argument("message", help="JSON, or text")
    send.set_defaults(run=lambda args: cmd_send(args, client(args)))

    publish = verbs.add_parser("publish", parents=[common], help="publish a message to a topic")
    publish.add_argument("topic")
    publish.add_argument("message", help="JSON, or text")
    publish.add_argument("--node", help="publish from this node (default: the first running one)")
    publish.set_defaults(run=lambda args: cmd_publish(args, client(args)))

    request = verbs.add_parser("request", parents=[common], help="ask an actor and print its reply as JSON")
    request.add_argument("node")
    request.add_argument("actor")
    request.add_argument("message", help="JSON, or text")
    request.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the reply")
    request.set_defaults(run=lambda args: cmd_request(args, client(args)))

    actors = verbs.add_parser("actors", parents=[common], help="each node's application actors")
    actors.add_argument("--node", action="append", help="only these nodes (default: every running node)")
    actors.set_defaults(run=lambda args: cmd_actors(args, client(args)))


def cmd_send(args: argparse.Namespace, client: ClusterClient) -> int:
    client.send(args.node, args.actor, parse_value(args.message))
    print(f"sent to {args.actor} on {args.node}")
    return 0


def cmd_publish(args: argparse.Namespace, client: ClusterClient) -> int:
    client.publish(args.topic, parse_value(args.message), node=args.node)
    print(f"published to {args.topic}")
    return 0


def cmd_request(args: argparse.Namespace, client: ClusterClient) -> int:
    reply = client.request(args.node, args.actor, parse_value(args.message), timeout=args.timeout)
    print(json.dumps(reply, default=_bytes_as_text))
    return 0


def cmd_actors(args: argparse.Namespace, client: ClusterClient) -> int:
    names = args.node or client.cluster.running()
    lists: list[ActorsList] = []
    for name in names:
        try:
            lists.append(client.actors(name))
        except ControlError as error:
            print(f"{name}: {error}")
    if getattr(args, "json", False):
        for listing in lists:
            print(json.dumps(to_plain(listing)))
        return 0
    rows: list[tuple[str, ...]] = [("NODE", "ACTOR", "CLASS", "STATE", "RESTARTS", "MAILBOX")]
    for listing in lists:
        for actor in listing.actors:
            rows.append(
                (listing.node, actor.name, actor.cls, actor.state, str(actor.restarts), str(actor.mailbox))
            )
    print_table(rows)
    for listing in lists:
        if listing.undeliverable or listing.dropped:
            print(f"{listing.node}: {listing.undeliverable} undeliverable, {listing.dropped} dropped")
    return 0


def _bytes_as_text(value: object) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    raise TypeError(f"{type(value).__name__} is not JSON")
