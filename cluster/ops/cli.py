"""`clusterctl`: spawn a layout, watch it form, poke it, and bring it down.

Every error the user can cause (a bad layout, a cluster already running, a node that is not running)
ends as one clear line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import ast
import ipaddress
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from actors.app.loading import load_app
from actors.rundir import RunDir
from cluster.app.plain import MessageRefused
from cluster.control.protocol import StateEntries, StateGetRequest, StateSetRequest, StateWritten
from cluster.layout.loader import LayoutError, load_layout
from cluster.layout.model import Layout
from cluster.ops import cli_app, cli_faults, cli_state, plain_json, top
from cluster.ops.control_client import ControlError
from cluster.ops.launcher import Cluster, EventTail, LaunchError, NodeState, UnknownNode, prepare
from cluster.ops.tables import print_table
from cluster.state.providers import PROVIDERS
from cluster.wire.keyring import KEY_SIZE, encode_key
from cluster.wire.schema import to_plain

EXIT_FAILED = 1
EXIT_USAGE = 2


def _say(line: str) -> None:
    print(line, flush=True)


def _find_cluster(args: argparse.Namespace) -> Cluster:
    """The run directory from --run-dir or --cluster NAME, else the one cluster under ./.cluster that is
    running, else the one started last."""
    if args.run_dir:
        return Cluster.from_run_dir(RunDir(Path(args.run_dir)))
    base = Path.cwd() / ".cluster"
    if args.cluster:
        return Cluster.from_run_dir(RunDir(base / args.cluster))
    candidates = sorted(path.parent for path in base.glob("*/layout.yaml"))
    if not candidates:
        raise LaunchError("no cluster here: start one with `clusterctl up LAYOUT` (or pass --run-dir)")
    clusters = [Cluster.from_run_dir(RunDir(path)) for path in candidates]
    running = [cluster for cluster in clusters if cluster.running()]
    if len(running) == 1:
        return running[0]
    if not running:  # the one started last: `up` copies its layout in afresh
        return max(clusters, key=lambda cluster: cluster.run_dir.layout_file.stat().st_mtime)
    names = ", ".join(cluster.run_dir.root.name for cluster in running)
    raise LaunchError(f"several clusters are running under {base} ({names}): choose one with --cluster NAME")


def cmd_up(args: argparse.Namespace) -> int:
    run_dir = RunDir(Path(args.run_dir)) if args.run_dir else None
    cluster = prepare(Path(args.layout), run_dir)
    exposed = unsealed_exposure(cluster.layout)
    if exposed:
        print(
            f"warning: security: none, and {', '.join(exposed)} listen beyond loopback: anyone who can "
            "reach those ports is a member",
            file=sys.stderr,
        )
    result = cluster.up(timeout=args.timeout, progress=_say)
    if result.started:
        return 0
    print(
        f"error: cluster {cluster.layout.cluster!r} did not start within {result.elapsed:.1f}s "
        f"({len(result.reported)}/{len(cluster.layout.nodes)} reported)",
        file=sys.stderr,
    )
    for name, problem in result.problems.items():
        print(f"  {name}: {problem}", file=sys.stderr)
    print("the nodes are left running for inspection; `clusterctl down` stops them", file=sys.stderr)
    return EXIT_FAILED


def unsealed_exposure(layout: Layout) -> list[str]:
    """The nodes of an unsealed layout (`security: none`) that bind an address other hosts can reach."""
    if layout.security != "none":
        return []
    exposed = []
    for spec in layout.nodes:
        try:
            loopback = ipaddress.ip_address(spec.host).is_loopback
        except ValueError:
            loopback = spec.host == "localhost"
        if not loopback:
            exposed.append(f"{spec.name} ({spec.host})")
    return exposed


def cmd_status(args: argparse.Namespace) -> int:
    cluster = _find_cluster(args)
    states = cluster.states()
    if args.json:
        for state in states:
            print(plain_json.dumps(_state_json(state)))
        return 0
    manager_view = next((s.status.readiness for s in states if s.status and s.status.readiness), None)
    header = f"cluster {cluster.layout.cluster!r} ({cluster.run_dir.root})"
    if manager_view:
        header += f": {manager_view.state}"
        if manager_view.missing:
            header += f", missing {', '.join(manager_view.missing)}"
    print(header)
    header_row = ("NODE", "ROLE", "ADDRESS", "PID", "ALIVE", "READINESS", "MEMBERS", "PEERS UP")
    rows: list[tuple[str, ...]] = [header_row]
    rows += [_state_row(state) for state in states]
    faulted = {
        s.name: s.status.faults for s in states if s.status is not None and s.status.faults is not None
    }
    if faulted:  # the column appears only while faults are injected
        rows = [rows[0] + ("FAULTS",)] + [
            (*row, cli_faults.describe(faulted[row[0]]) if row[0] in faulted else "-") for row in rows[1:]
        ]
    print_table(rows)
    return 0


def _state_row(state: NodeState) -> tuple[str, ...]:
    running = {"T": "stopped"}.get(state.process, "yes") if state.alive else "no"
    readiness, members, peers = "-", "-", "-"
    if state.status:
        seen = state.status.membership.members if state.status.membership else ()
        alive = sum(1 for row in seen if row.state == "alive")
        members = f"{alive}/{len(seen)} alive" if seen else "-"
        connectivity = state.status.connectivity
        if connectivity is not None:
            readiness = (
                "started"
                if connectivity.cluster_started
                else ("connected" if connectivity.fully_connected else "connecting")
            )
            up = connectivity.peers_up
            missing = [peer for peer in connectivity.outgoing if peer not in up]
            peers = f"{len(up)}" + (f" (missing {', '.join(missing)})" if missing else "")
    elif state.error:
        readiness = "unreachable"
    return (state.name, state.role, state.address, str(state.pid or "-"), running, readiness, members, peers)


def _state_json(state: NodeState) -> dict[str, Any]:
    return {
        "node": state.name,
        "role": state.role,
        "address": state.address,
        "pid": state.pid,
        "alive": state.alive,
        "process_state": state.process,
        "status": state.status.body() if state.status else None,
        "error": state.error,
    }


def cmd_members(args: argparse.Namespace) -> int:
    """The membership as one node sees it (by default the first node that answers)."""
    cluster = _find_cluster(args)
    names = [args.node] if args.node else list(cluster.layout.names)
    for name in names:
        cluster.spec(name)
        if not cluster.alive(name):
            continue
        try:
            membership = cluster.status(name, timeout=1.0).membership
        except ControlError:
            continue
        if membership is None:
            continue
        if args.json:
            for row in membership.members:
                print(plain_json.dumps({"observer": name, **to_plain(row)}))
            return 0
        print(f"membership as {name} sees it (health score {membership.health_score}):")
        table: list[tuple[str, ...]] = [("MEMBER", "STATE", "INCARNATION", "ROLE", "ADDRESS", "ID")]
        table += [
            (r.member, r.state, str(r.incarnation), r.role, r.address, r.id[:12]) for r in membership.members
        ]
        print_table(table)
        return 0
    raise LaunchError(
        f"no node of {cluster.layout.cluster!r} answered" + (f" ({args.node})" if args.node else "")
    )


def cmd_events(args: argparse.Namespace) -> int:
    cluster = _find_cluster(args)
    records = (
        cluster.follow_events(duration=args.duration)
        if args.follow or args.duration
        else iter(cluster.all_events())
    )
    try:
        for record in records:
            print(plain_json.dumps(record) if args.json else _event_line(record), flush=True)
    except KeyboardInterrupt:
        pass
    return 0


def _event_line(record: dict[str, Any]) -> str:
    stamp = (
        time.strftime("%H:%M:%S", time.localtime(record.get("ts", 0)))
        + f".{int(record.get('ts', 0) * 1000) % 1000:03d}"
    )
    fields = " ".join(
        f"{key}={plain_json.dumps(value)}"
        for key, value in record.items()
        if key not in ("ts", "node", "event")
    )
    return f"{stamp} {record.get('node', '?'):<12} {record.get('event', '?'):<24} {fields}".rstrip()


def cmd_kill(args: argparse.Namespace) -> int:
    cluster = _find_cluster(args)
    cluster.spec(args.node)
    signum = signal.Signals["SIG" + args.signal.upper().removeprefix("SIG")]
    pid = cluster.signal(args.node, signum)
    _say(f"sent {signum.name} to {args.node} (pid {pid})")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    cluster = _find_cluster(args)
    pid = cluster.spawn(args.node)
    _say(f"started {args.node} (pid {pid})")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    cluster = _find_cluster(args)
    cluster.down(grace=args.grace, progress=_say)
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    """A new cluster key (32 random bytes from the OS, base64), as `serf keygen` prints one."""
    print(encode_key(secrets.token_bytes(KEY_SIZE)))
    return 0


def cmd_layout_check(args: argparse.Namespace) -> int:
    layout = load_layout(args.file)
    app = load_app(layout)
    _say(
        f"{args.file}: ok: cluster {layout.cluster!r}, preset {layout.preset!r}, {len(layout.nodes)} nodes "
        f"(digest {layout.digest})"
    )
    for spec in layout.nodes:
        peers = ", ".join(layout.outgoing(spec.name)) or "-"
        _say(f"  {spec.name:<12} {spec.role:<8} {spec.host}:{spec.port}  connects to {peers}")
        for actor in layout.app_actors(spec.name):
            _say(f"  {'':<12} actor {actor.name} ({actor.cls.spec})")
    extra = sorted(set(app.providers) - set(PROVIDERS))
    if extra:
        _say(f"  providers from the layout: {', '.join(extra)}")
    return 0


SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
QUICKSTART = "quickstart"


def demos() -> dict[str, str]:
    """Demo name -> what it shows (its script's first docstring line): `scripts/demo_NAME.py`."""
    found = {QUICKSTART: "up, status, a crash and a restart of one worker while events stream, down"}
    for script in sorted(SCRIPTS.glob("demo_*.py")):
        docstring = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
        found[script.stem.removeprefix("demo_")] = docstring.splitlines()[0] if docstring else ""
    return found


def cmd_demo(args: argparse.Namespace) -> int:
    """`clusterctl demo` lists the demos; `clusterctl demo NAME` runs one (its script, in a child
    process); a layout file runs the quick start on that layout."""
    if args.what is None:
        _say("demos (clusterctl demo NAME):")
        for name, line in demos().items():
            _say(f"  {name:<12} {line}")
        return 0
    if args.what != QUICKSTART and not args.what.endswith((".yaml", ".yml")):
        known = demos()
        if args.what not in known:
            raise LaunchError(f"no demo {args.what!r} (demos: {', '.join(known)})")
        command = [sys.executable, str(SCRIPTS / f"demo_{args.what}.py")]
        if args.run_dir:
            command += ["--run-dir", args.run_dir]
        return subprocess.run(command, check=False).returncode
    args.layout = "layouts/local.yaml" if args.what == QUICKSTART else args.what
    return _quickstart(args)


def _quickstart(args: argparse.Namespace) -> int:
    """The quick start: up, status, then a crash and a restart of one worker while the event stream runs,
    then down. The cluster is stopped even when something fails."""
    run_dir = RunDir(Path(args.run_dir)) if args.run_dir else None
    cluster = prepare(Path(args.layout), run_dir)
    args.run_dir = str(cluster.run_dir.root)
    try:
        result = cluster.up(timeout=args.timeout, progress=_say)
        if not result.started:
            for name, problem in result.problems.items():
                print(f"  {name}: {problem}", file=sys.stderr)
            return EXIT_FAILED
        _say("")
        cmd_status(argparse.Namespace(run_dir=args.run_dir, cluster=None, json=False))
        tail = cluster.event_tail()
        _say("\nthe event stream (clusterctl events --follow):")
        _show(tail, 0.0)
        workers = cluster.layout.roles("worker")
        _demo_state(cluster, tail, reader=workers[-1].name if workers else cluster.layout.manager.name)
        if workers and args.seconds > 0:
            victim = workers[-1].name
            _say(f"\n$ clusterctl kill {victim}        # SIGKILL: the manager notices the lost peering")
            cluster.signal(victim, signal.SIGKILL)
            _show(tail, args.seconds / 2)
            _say(f"\n$ clusterctl start {victim}       # a new life: it reports again and gets a replay")
            _say(f"started {victim} (pid {cluster.spawn(victim)})")
            _show(tail, args.seconds / 2)
        return 0
    finally:
        _say("")
        cluster.down(progress=_say)


def _demo_state(cluster: Cluster, tail: EventTail, *, reader: str) -> None:
    """Write through the manager, read on another node: replicated state in two commands."""
    writer = cluster.layout.manager.name
    _say(f"\n$ clusterctl state set greeting '\"hello\"' --node {writer}")
    try:
        written = cluster.ask(writer, StateSetRequest("kv", "greeting", "hello"), StateWritten)
        _say(f'{writer}: kv/greeting = "hello" (version {written.version})')
        _show(tail, 0.3)
        _say(f"\n$ clusterctl state get greeting --node {reader}")
        seen = cluster.ask(reader, StateGetRequest("kv", "greeting"), StateEntries).entries
        entry = seen.get("greeting")
        _say(
            f"greeting = {plain_json.dumps(entry.value)}  (owner {entry.owner})" if entry else "not there yet"
        )
    except ControlError as error:
        _say(f"state: {error}")


def _show(tail: EventTail, seconds: float) -> None:
    """Print new events as they come, for `seconds` (at least one poll)."""
    deadline = time.monotonic() + seconds
    while True:
        for record in tail.poll():
            _say(_event_line(record))
        if time.monotonic() >= deadline:
            return
        time.sleep(0.1)


def _add_common_options(parser: argparse.ArgumentParser, *, default: bool) -> None:
    """--run-dir, --cluster and --json, accepted before the verb and after it. On the verbs they default
    to nothing at all (SUPPRESS), so a value given before the verb is not reset by the verb's parser."""
    unset: dict[str, Any] = {} if default else {"default": argparse.SUPPRESS}
    parser.add_argument(
        "--run-dir", help="the cluster's run directory (default .cluster/<cluster name>)", **unset
    )
    parser.add_argument("--cluster", help="which cluster under ./.cluster, when there are several", **unset)
    parser.add_argument(
        "--json", action="store_true", help="machine-readable output: one JSON object per line", **unset
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clusterctl", description=__doc__.splitlines()[0])
    _add_common_options(parser, default=True)
    common = argparse.ArgumentParser(add_help=False)
    _add_common_options(common, default=False)
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    up = verbs.add_parser(
        "up", parents=[common], help="spawn every node of a layout and wait for cluster_started"
    )
    up.add_argument("layout", help="layout YAML file")
    up.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for cluster_started")
    up.set_defaults(run=cmd_up)

    status = verbs.add_parser("status", parents=[common], help="nodes, roles, pids, readiness and peers")
    status.set_defaults(run=cmd_status)

    members = verbs.add_parser("members", parents=[common], help="the membership as one node sees it")
    members.add_argument("--node", help="whose view (default: the first node that answers)")
    members.set_defaults(run=cmd_members)

    events = verbs.add_parser("events", parents=[common], help="every node's events in time order")
    events.add_argument("--follow", "-f", action="store_true", help="keep printing new events")
    events.add_argument("--duration", type=float, help="with --follow, stop after this many seconds")
    events.set_defaults(run=cmd_events)

    kill = verbs.add_parser("kill", parents=[common], help="send a signal to one node (default KILL)")
    kill.add_argument("node")
    kill.add_argument(
        "--signal", "-s", default="KILL", choices=["KILL", "TERM", "STOP", "CONT", "INT"], type=str.upper
    )
    kill.set_defaults(run=cmd_kill)

    start = verbs.add_parser(
        "start", parents=[common], help="start a stopped node of the running layout again"
    )
    start.add_argument("node")
    start.set_defaults(run=cmd_start)

    down = verbs.add_parser(
        "down", parents=[common], help="stop every node: SIGTERM, then SIGKILL after a grace period"
    )
    down.add_argument("--grace", type=float, default=5.0, help="seconds before SIGKILL")
    down.set_defaults(run=cmd_down)

    layout = verbs.add_parser("layout", parents=[common], help="layout tools")
    layout_verbs = layout.add_subparsers(dest="layout_verb", required=True, metavar="VERB")
    check = layout_verbs.add_parser(
        "check", parents=[common], help="validate a layout file and show its topology"
    )
    check.add_argument("file")
    check.set_defaults(run=cmd_layout_check)

    keygen = verbs.add_parser("keygen", help="print a new 32-byte cluster key (base64) for a keyring")
    keygen.set_defaults(run=cmd_keygen)

    cli_state.add_parser(verbs, _find_cluster, common)
    cli_app.add_parsers(verbs, _find_cluster, common)
    top.add_parser(verbs, _find_cluster, common)
    cli_faults.add_parsers(verbs, _find_cluster, common)

    demo = verbs.add_parser("demo", parents=[common], help="list the demos, or run one (a name or a layout)")
    demo.add_argument("what", nargs="?", help="a demo's name, or a layout file for the quick start")
    demo.add_argument("--seconds", type=float, default=4.0, help="how long to show the event stream")
    demo.add_argument("--timeout", type=float, default=30.0)
    demo.set_defaults(run=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except LayoutError as error:
        print(f"error: invalid layout:\n{error}", file=sys.stderr)
        return EXIT_USAGE
    except UnknownNode as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except MessageRefused as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (LaunchError, ControlError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # `clusterctl events | head`: the reader has all it wanted
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
