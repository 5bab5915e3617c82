"""A load-balancer fleet: workers probe HTTP backends and share health, circuit breakers and drains by gossip.

The gossip seed's own use. It came from an eBPF load balancer whose nodes had to agree on where traffic
goes without a controller in the middle; this demo replays that on a real cluster on loopback:

1. three tiny HTTP backends start inside this process, on free ports;
2. the cluster in layouts/lbfleet.yaml comes up: a manager and three workers, each worker running a
   `Prober` (layouts/app/lbfleet.py);
3. the backends' addresses go into kv/backends through the manager, and every node soon sees all three
   backends healthy;
4. backend-2 is shut down: the first worker to fail it three times in a row opens its circuit, and the
   demo measures, from the nodes' event logs, how long that news takes to reach the last node;
5. backend-3 is drained through the manager, and the demo waits until the drain view says drained on
   every node (each live node has reported it), then shows that no worker routes to it any more.

The cluster and the backends are stopped at the end, whatever happened. Exit status 0 means every check
held; otherwise the reason is printed and the status is 1.

    python scripts/demo_lbfleet.py [--free-ports] [--run-dir DIR]
"""

from __future__ import annotations

import http.server
import json
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeGuard, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from demolib import arguments

from actors import RunDir, free_ports
from cluster import Cluster, ControlError, LaunchError, Plain, prepare
from cluster.control.protocol import (
    StateEntries,
    StateGetRequest,
    StateListRequest,
    StateSetRequest,
    StateWritten,
)
from cluster.ops.client import ClusterClient
from cluster.ops.testing import on_free_ports

ROOT = Path(__file__).resolve().parent.parent
LAYOUT = ROOT / "layouts" / "lbfleet.yaml"
BACKENDS = ("backend-1", "backend-2", "backend-3")
FAILING = "backend-2"
DRAINED = "backend-3"
UP_TIMEOUT = 20.0
STEP_TIMEOUT = 8.0  # each step takes well under a second; this only bounds a broken run
CLIENT_KEYS = [f"client-{i}" for i in range(1, 7)]

_T = TypeVar("_T")


class DemoFailed(Exception):
    """A check that did not hold; the message says which, for the audience."""


def say(line: str = "") -> None:
    print(line, flush=True)


# -- the backends ---------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    """Answers every GET with 200 and the backend's name; quiet, so the narration stays readable."""

    def do_GET(self) -> None:
        body = f"ok from {self.server.backend_name}\n".encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request access log: ten probes a second per worker would drown the story."""


class Backend:
    """One HTTP backend on a loopback port, served from a thread of this process until `stop`."""

    def __init__(self, name: str, port: int) -> None:
        self.name = name
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self.server.daemon_threads = True
        self.server.backend_name = name  # type: ignore[attr-defined]
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        # A short poll, so that `stop` (which waits for the serving loop to notice) returns at once.
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), name=name, daemon=True
        )
        self._thread.start()
        self.running = True

    def stop(self) -> None:
        """Stop serving and close the listening socket, so that a connect is refused from now on."""
        if not self.running:
            return
        self.running = False
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=2.0)


def start_backends() -> list[Backend]:
    """The backends on ports below the ephemeral range (`free_ports`), which no outgoing connection can
    hold, so a port closed later is not taken over by some dial and answered by something else."""
    started: list[Backend] = []
    try:
        for name, port in zip(BACKENDS, free_ports(len(BACKENDS)), strict=True):
            started.append(Backend(name, port))
    except BaseException:
        for backend in started:
            backend.stop()
        raise
    return started


# -- watching the cluster -------------------------------------------------------------------------


def wait_for(
    what: str, check: Callable[[], _T | None], *, seen: Callable[[], Any], timeout: float = STEP_TIMEOUT
) -> _T:
    """Poll `check` until it returns something true, or fail saying `what` and, from `seen`, what the
    cluster looked like instead: a demo that fails must say why, not just that it did."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except ControlError:  # a node busy for a moment answers next time
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            try:
                instead = seen()
            except ControlError as error:
                instead = f"(could not look: {error})"
            raise DemoFailed(f"{what}: not within {timeout:.0f}s; seen instead: {instead!r}")
        time.sleep(0.05)


def view(cluster: Cluster, node: str, provider: str) -> dict[str, Any]:
    """key -> value of one provider's view on `node`, as `clusterctl state list -p PROVIDER` shows it."""
    entries = cluster.ask(node, StateListRequest(provider), StateEntries).entries
    return {key: entry.value for key, entry in entries.items()}


def first_events(
    cluster: Cluster, provider: str, key: str, holds: Callable[[Any], bool]
) -> dict[str, dict[str, Any]]:
    """node -> its first `state_changed` record of `provider`/`key` whose value `holds` (its `ts` is the
    node's wall clock, which all nodes on this one machine share, so times compare across nodes)."""
    firsts: dict[str, dict[str, Any]] = {}
    for node in cluster.layout.names:
        for record in cluster.read_events(node):
            if (
                record.get("event") == "state_changed"
                and record.get("provider") == provider
                and record.get("key") == key
                and holds(record.get("value"))
            ):
                firsts[node] = record
                break
    return firsts


def is_open(value: Any) -> bool:
    return isinstance(value, dict) and value.get("phase") == "open"


def is_drained(value: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(value, dict) and value.get("intent") == "drain" and value.get("drained") is True


def routes(client: ClusterClient, worker: str) -> dict[str, Any]:
    answer: dict[str, Any] = client.request(worker, "prober", {"routes": True}, timeout=2.0)
    return answer


def show_routes(client: ClusterClient, workers: list[str]) -> None:
    for worker in workers:
        table = routes(client, worker)
        out = ", ".join(f"{b} ({why})" for b, why in table["out"].items()) or "none"
        say(f"    {worker}: routes to {', '.join(table['in_rotation']) or 'nothing'}; out: {out}")


def show_picks(client: ClusterClient, workers: list[str]) -> dict[str, str | None]:
    """Where each worker sends a few clients: the same answer everywhere, though no worker asked another.
    Returns client -> backend; raises DemoFailed when two workers disagree."""
    picks = {w: [client.request(w, "prober", {"pick": key}) for key in CLIENT_KEYS] for w in workers}
    agreed: dict[str, str | None] = {}
    for index, key in enumerate(CLIENT_KEYS):
        chosen = {picks[w][index] for w in workers}
        if len(chosen) != 1:
            raise DemoFailed(f"the workers send {key} to different backends: {sorted(map(str, chosen))}")
        agreed[key] = picks[workers[0]][index]
    line = ", ".join(f"{key} -> {backend}" for key, backend in agreed.items())
    say(f"    every worker alike: {line}")
    return agreed


# -- the story ------------------------------------------------------------------------------------


def run(cluster: Cluster, backends: list[Backend]) -> None:
    """Steps 2 to 5 of the module docstring; raises DemoFailed at the first check that does not hold."""
    layout = cluster.layout
    manager = layout.manager.name
    nodes = list(layout.names)
    workers = [spec.name for spec in layout.roles("worker")]
    client = ClusterClient(cluster)
    by_name = {backend.name: backend for backend in backends}

    say(f"\n== 2. the fleet: {manager} and {', '.join(workers)} (each worker runs a Prober)")
    result = cluster.up(timeout=UP_TIMEOUT, progress=lambda line: say(f"    {line}"))
    if not result.started:
        problems = "; ".join(f"{name}: {problem}" for name, problem in result.problems.items())
        raise DemoFailed(f"the cluster did not start: {problems}")

    say("\n== 3. tell the fleet where the backends are (one write, through the manager)")
    addresses: dict[str, Plain] = {backend.name: backend.address for backend in backends}
    say(f"    $ clusterctl state set backends '{_json(addresses)}' --node {manager}")
    written = cluster.ask(manager, StateSetRequest("kv", "backends", addresses), StateWritten)
    began = time.monotonic()
    say(f"    {manager}: kv/backends written (version {written.version}); the Probers read it every round")

    def all_healthy_everywhere() -> bool:
        for node in nodes:
            health = view(cluster, node, "health")
            for backend in BACKENDS:
                verdict = health.get(backend)
                if not (verdict and verdict["status"] == "healthy" and verdict["observers"] == len(workers)):
                    return False
        return True

    wait_for(
        "every node sees every backend healthy, observed by every worker",
        all_healthy_everywhere,
        seen=lambda: {node: view(cluster, node, "health") for node in nodes},
    )
    elapsed = time.monotonic() - began
    say(
        f"    {elapsed * 1000:.0f} ms later every node sees all {len(BACKENDS)} backends healthy, "
        f"each observed by all {len(workers)} workers"
    )
    wait_for(
        "every worker routes to every backend",
        lambda: _all_route(client, workers, set(BACKENDS)),
        seen=lambda: [routes(client, worker) for worker in workers],
    )
    say("    the workers' routing tables:")
    show_routes(client, workers)
    say("    where clients go (rendezvous hashing over the backends in rotation, no coordination):")
    before = show_picks(client, workers)

    say(f"\n== 4. {FAILING} dies (its server is shut down)")
    by_name[FAILING].stop()
    stopped_at = time.time()  # from now on a connect to it is refused
    prober = next(spec for spec in layout.app_actors(workers[0]) if spec.name == "prober")
    needed = prober.args.get("failures_to_open", 3)
    say(f"    a Prober opens {FAILING}'s circuit after {needed} failed probes in a row (unless it is open)")

    def open_everywhere() -> dict[str, dict[str, Any]] | None:
        firsts = first_events(cluster, "circuit_breaker", FAILING, is_open)
        return firsts if len(firsts) == len(nodes) else None

    opened = wait_for(
        f"every node sees {FAILING}'s circuit open",
        open_everywhere,
        seen=lambda: {node: view(cluster, node, "circuit_breaker").get(FAILING) for node in nodes},
    )
    times = {node: float(record["ts"]) for node, record in opened.items()}
    first_ts, last_ts = min(times.values()), max(times.values())
    first_node = min(times, key=lambda node: times[node])
    say(
        f"    first seen open on {first_node}, {(first_ts - stopped_at) * 1000:.0f} ms after the backend went"
    )
    say("    when each node's view showed it (event logs), and whose write it was:")
    for node in sorted(times, key=lambda node: times[node]):
        owner = opened[node]["owner"]
        how = "opened it itself" if owner == node else f"learned {owner}'s open by gossip"
        say(f"      {node:<10} +{(times[node] - first_ts) * 1000:6.1f} ms   {how}")
    spread_ms = (last_ts - first_ts) * 1000
    say(f"    the breaker-open news reached all {len(nodes)} nodes within {spread_ms:.1f} ms of the first")
    wait_for(
        f"no worker routes to {FAILING}",
        lambda: _all_route(client, workers, set(BACKENDS) - {FAILING}),
        seen=lambda: [routes(client, worker) for worker in workers],
    )
    show_routes(client, workers)
    after = show_picks(client, workers)
    moved = sorted(key for key in CLIENT_KEYS if before[key] != after[key])
    wrongly = [key for key in moved if before[key] != FAILING]
    if wrongly:
        raise DemoFailed(f"clients of healthy backends moved too: {wrongly}")
    say(f"    only {FAILING}'s clients moved ({', '.join(moved) or 'none of these'}); the rest stayed put")

    say(f"\n== 5. drain {DRAINED} (an operator takes it out of rotation, through the manager)")
    say(f"    $ clusterctl state set {DRAINED} drain --provider drain --node {manager}")
    asked_at = time.time()
    began = time.monotonic()
    written = cluster.ask(manager, StateSetRequest("drain", DRAINED, "drain"), StateWritten)
    say(f"    {manager}: drain/{DRAINED} intent written (version {written.version})")

    def drained_everywhere() -> dict[str, Any] | None:
        seen = {node: view(cluster, node, "drain").get(DRAINED) for node in cluster.running()}
        done = all(is_drained(v) and set(v["reported"]) == set(nodes) for v in seen.values())
        return seen if done and len(seen) == len(nodes) else None

    seen = wait_for(
        f"the drain view says {DRAINED} drained on every node",
        drained_everywhere,
        seen=lambda: {node: view(cluster, node, "drain").get(DRAINED) for node in cluster.running()},
    )
    polled_ms = (time.monotonic() - began) * 1000
    reported = seen[manager]["reported"]
    drained_at = first_events(cluster, "drain", DRAINED, is_drained)
    if len(drained_at) != len(nodes):
        raise DemoFailed(f"drained shown by the views but not in every event log: {sorted(drained_at)}")
    drain_ms = (max(float(record["ts"]) for record in drained_at.values()) - asked_at) * 1000
    say(f"    drained on every node: all {len(reported)} live nodes reported ({', '.join(reported)})")
    say(f"    {drain_ms:.1f} ms from the request to the last node's view saying drained (event logs);")
    say(f"    {polled_ms:.0f} ms until polling every node's view from here confirmed it")
    check = cluster.ask(manager, StateGetRequest("drain", DRAINED), StateEntries).entries[DRAINED]
    say(f"    $ clusterctl state get {DRAINED} -p drain   ->  {_json(check.value)}")
    wait_for(
        f"no worker routes to {DRAINED}",
        lambda: _all_route(client, workers, set(BACKENDS) - {FAILING, DRAINED}),
        seen=lambda: [routes(client, worker) for worker in workers],
    )
    show_routes(client, workers)
    say(
        f"\nall checks held: {FAILING}'s circuit open on all {len(nodes)} nodes within {spread_ms:.1f} ms, "
        f"{DRAINED} drained everywhere {drain_ms:.1f} ms after the request"
    )


def _all_route(client: ClusterClient, workers: list[str], expected: set[str]) -> bool:
    return all(set(routes(client, worker)["in_rotation"]) == expected for worker in workers)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "))


def _layout_to_run(run_root: Path, free: bool) -> Path:
    """The shipped layout, or (`--free-ports`) a copy on free ports, as tests must run it."""
    return on_free_ports(LAYOUT, run_root) if free else LAYOUT


def main(argv: list[str] | None = None) -> int:
    args = arguments(__doc__.splitlines()[0] if __doc__ else "", argv)
    temporary = args.run_dir is None
    run_root = Path(args.run_dir) if args.run_dir else Path(tempfile.mkdtemp(prefix="lbfleet-"))
    backends: list[Backend] = []
    cluster: Cluster | None = None
    ok = False
    started = time.monotonic()
    try:
        cluster = prepare(_layout_to_run(run_root, args.free_ports), RunDir(run_root))
        say("== 1. three HTTP backends, in this process, on free loopback ports")
        backends = start_backends()
        for backend in backends:
            say(f"    {backend.name} on {backend.address}")
        run(cluster, backends)
        ok = True
    except (DemoFailed, LaunchError, ControlError) as failure:
        say(f"\nFAILED: {failure}")
    finally:
        say("\n== the end: stopping the cluster and the backends")
        try:
            if cluster is not None:
                cluster.down(progress=lambda line: say(f"    {line}"))
        finally:
            for backend in backends:
                backend.stop()
    say(f"(whole run {time.monotonic() - started:.1f} s)")
    if temporary and ok:
        shutil.rmtree(run_root, ignore_errors=True)
    elif not ok:
        say(f"the run directory, with every node's log and event log, is kept: {run_root}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
