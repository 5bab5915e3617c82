"""`clusterctl state`: read and write replicated state through a node's providers.

`set` and `del` go to one node (the one named, else the first that answers), which writes its own entry
and spreads it; `get` and `list` show what that node sees. VALUE is read as JSON when it parses (so
`3`, `true` and `{"a": 1}` keep their types), else taken as text.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from cluster.control.protocol import (
    ControlProtocolError,
    NothingWritten,
    Request,
    StateDelRequest,
    StateDigest,
    StateDigestRequest,
    StateEntries,
    StateGetRequest,
    StateListRequest,
    StateSetRequest,
    StateWritten,
    parse_reply,
    to_request,
)
from cluster.ops import plain_json
from cluster.ops.control_client import ControlError, ControlRefused
from cluster.ops.launcher import Cluster, LaunchError
from cluster.wire.schema import to_plain


def add_parser(verbs: Any, find_cluster: Any, common: argparse.ArgumentParser) -> None:
    state = verbs.add_parser(
        "state", parents=[common], help="read and write replicated state (kv by default)"
    )
    state_verbs = state.add_subparsers(dest="state_verb", required=True, metavar="VERB")
    for verb, helptext in [
        ("get", "the value of KEY as a node sees it"),
        ("set", "write KEY=VALUE as a node's own entry"),
        ("del", "delete KEY (a tombstone of the node's own)"),
        ("list", "every key a node sees"),
        ("digest", "whether every running node sees the same view (each node's digest)"),
    ]:
        sub = state_verbs.add_parser(verb, parents=[common], help=helptext)
        if verb not in ("list", "digest"):
            sub.add_argument("key")
        if verb == "set":
            sub.add_argument("value", help="JSON, or text")
        sub.add_argument("--provider", "-p", default="kv", help="state type (default kv)")
        if verb == "digest":
            sub.add_argument("--node", action="append", help="only these nodes (default: every running node)")
            sub.set_defaults(run=lambda args: cmd_digest(args, find_cluster(args)))
        else:
            sub.add_argument("--node", help="the node that reads or writes (default: any that answers)")
            sub.set_defaults(run=lambda args: cmd_state(args, find_cluster(args)))


def parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _request(args: argparse.Namespace) -> Request:
    match args.state_verb:
        case "get":
            return StateGetRequest(args.provider, args.key)
        case "set":
            return StateSetRequest(args.provider, args.key, parse_value(args.value))
        case "del":
            return StateDelRequest(args.provider, args.key)
    return StateListRequest(args.provider)


def cmd_state(args: argparse.Namespace, cluster: Cluster) -> int:
    request = _request(args)
    name, body = _ask(cluster, args.node, request)
    if args.json:
        print(plain_json.dumps({"node": name, **body}))
        return 0
    try:
        return _show(name, request, body)
    except ControlProtocolError as error:
        raise ControlError(f"{name} answered what this clusterctl cannot read: {error}") from None


def _show(name: str, request: Request, body: dict[str, Any]) -> int:
    if isinstance(request, StateSetRequest | StateDelRequest):
        if "version" not in body:
            unchanged = parse_reply(NothingWritten, body, request.COMMAND)
            print(f"{name}: {unchanged.provider}/{request.key} unchanged (nothing to write)")
            return 0
        written = parse_reply(StateWritten, body, request.COMMAND)
        what = "deleted" if written.deleted else f"= {plain_json.dumps(written.value)}"
        print(f"{name}: {written.provider}/{written.key} {what} (version {written.version})")
        return 0
    entries = parse_reply(StateEntries, body, request.COMMAND).entries
    if isinstance(request, StateGetRequest) and request.key not in entries:
        print(f"{name}: {request.provider}/{request.key} is not set")
        return 1
    for key, entry in entries.items():
        print(f"{key} = {plain_json.dumps(entry.value)}  (owner {entry.owner}, version {entry.version})")
    return 0


def cmd_digest(args: argparse.Namespace, cluster: Cluster) -> int:
    """Ask each node for the provider's digest: one line per node, and whether they all agree (0) or not
    (1). A view still converging shows as a disagreement that clears on its own."""
    names = args.node or [name for name in cluster.layout.names if cluster.alive(name)]
    request = StateDigestRequest(args.provider)
    seen: dict[str, StateDigest] = {}
    for name in names:
        cluster.spec(name)
        try:
            seen[name] = cluster.ask(name, request, StateDigest, timeout=5.0)
        except ControlRefused:
            raise
        except ControlError as error:
            print(f"{name}: {error}")
    if args.json:
        for name, digest in seen.items():
            print(plain_json.dumps({"node": name, "fingerprint": digest.fingerprint(), **to_plain(digest)}))
    else:
        for name, digest in seen.items():
            owners, own, held = len(digest.digest), digest.own_entries, digest.entries
            print(f"{name:<12} {digest.fingerprint()}  {owners} owners, {held} entries, {own} of its own")
    fingerprints = {digest.fingerprint() for digest in seen.values()}
    agree = len(fingerprints) == 1 and len(seen) == len(names)
    if not args.json:
        verdict = "agree" if agree else "do not agree (yet)"
        print(f"{args.provider}: {len(seen)} of {len(names)} nodes answered and {verdict}")
    return 0 if agree else 1


def _ask(cluster: Cluster, node: str | None, request: Request) -> tuple[str, dict[str, Any]]:
    """The named node, or the first running one that answers; a node's refusal is the user's error."""
    names = [node] if node else list(cluster.layout.names)
    problems = []
    wire = to_request(request)
    for name in names:
        cluster.spec(name)
        if not cluster.alive(name):
            problems.append(f"{name}: not running")
            continue
        try:
            return name, cluster.query(name, wire.command, wire.args, timeout=5.0)
        except ControlRefused:
            raise
        except ControlError as error:
            if node is not None:
                raise
            problems.append(str(error))
    raise LaunchError("no node answered: " + "; ".join(problems))
