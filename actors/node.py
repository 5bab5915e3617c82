"""One node: its actors wired with explicit references, and `python -m actors.node` to run it alone.

`NodeRuntime` is used both by the node process and by the in-process mode of the tests, so a test runs the
very wiring a real node runs. Subscriptions are made here, in order, before the transport starts
listening: a peer that says hello in the first millisecond is still seen by every actor that cares.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import random
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pykka

from actors import metric_sources
from actors.app.host import ActorHost, HostWiring
from actors.app.loading import load_app
from actors.app.router import APP_WIRE, AppRouter
from actors.base import tell_if_alive
from actors.clock import Clock, MonotonicClock
from actors.connectivity import ConnectivityActor
from actors.control import ControlEndpoint
from actors.coordinator import CoordinatorActor
from actors.effects import Neighbours
from actors.events import EventLog
from actors.gossip_scheduler import GossipSchedulerActor
from actors.membership import MembershipActor
from actors.messages import (
    AttachProviders,
    AttachRouter,
    LeaveCluster,
    RaiseEvent,
    StartListening,
    StartMembership,
    StartTracking,
    SubscribeMembers,
    SubscribeMessages,
    SubscribePeers,
    SubscribeViews,
)
from actors.metrics import NodeMetrics
from actors.node_sockets import NodeSockets, PortInUse
from actors.provider import ProviderActor
from actors.reactor import MAX_UNIDENTIFIED, Reactor
from actors.rundir import RunDir, load_sealing
from actors.timer import TimerService
from actors.transport import Transport
from actors.udp_reader import UdpReader
from cluster.app.postoffice import PostOffice
from cluster.control.endpoint import NodeIdentity
from cluster.core.effects import Address
from cluster.core.events import NodeStartedEvent, NodeStoppingEvent
from cluster.layout.loader import LayoutError, LocatedProblem, load_layout
from cluster.layout.model import Layout
from cluster.membership.swim import Membership
from cluster.readiness.connectivity import ConnectivityTracker
from cluster.readiness.coordinator import Coordinator
from cluster.readiness.peering import PATIENCE_DOUBLINGS, Identity, PeeringTable
from cluster.state.gossip import StateGossip
from cluster.state.provider import Provider
from cluster.state.providers.topics import TopicsProvider
from cluster.wire.keyring import KeyringError
from cluster.wire.messages import (
    ClusterStarted,
    ControlRequest,
    MemberSync,
    NodeConnectivityLost,
    NodeFullyConnected,
    NodeInfo,
    Pull,
    Push,
    PushPull,
    generate_node_id,
)
from cluster.wire.seal import OVERHEAD, Sealing

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_CRASHED = 1
EXIT_BAD_LAYOUT = 2
EXIT_PORT_IN_USE = 3


@dataclass(frozen=True)
class NodeCores:
    """A node's pure cores, before any actor runs: what `NodeRuntime.start` wraps in actors."""

    peering: PeeringTable
    tracker: ConnectivityTracker
    membership: Membership
    state: StateGossip
    coordinator: Coordinator | None
    providers: Mapping[str, Provider]
    post_office: PostOffice


@dataclass(frozen=True)
class NodeActors:
    events: pykka.ActorRef[Any]
    timer: pykka.ActorRef[Any]
    control: pykka.ActorRef[Any]
    transport: pykka.ActorRef[Any]
    tracker: pykka.ActorRef[Any]
    membership: pykka.ActorRef[Any]
    coordinator: pykka.ActorRef[Any] | None
    scheduler: pykka.ActorRef[Any]
    providers: Mapping[str, pykka.ActorRef[Any]]
    router: pykka.ActorRef[Any]
    hosts: Mapping[str, pykka.ActorRef[Any]]

    def all(self) -> list[pykka.ActorRef[Any]]:
        refs = [
            *self.hosts.values(),
            self.router,
            self.events,
            self.timer,
            self.control,
            self.transport,
            self.tracker,
            self.membership,
            self.coordinator,
            self.scheduler,
            *self.providers.values(),
        ]
        return [ref for ref in refs if ref is not None]


class NodeRuntime:
    """The actors of one node of a layout; `start` wires and starts them, `stop` stops them."""

    def __init__(
        self,
        layout: Layout,
        name: str,
        *,
        run_dir: RunDir | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        on_crash: Callable[[str, BaseException], None] | None = None,
        event_subscribers: tuple[pykka.ActorRef[Any], ...] = (),
        sockets: NodeSockets | None = None,
    ) -> None:
        self.layout = layout
        self._sockets = sockets  # bound in advance by the forkserver; else `start` binds them
        self.spec = layout.node(name)
        self.name = name
        self.run_dir = run_dir
        self.clock = clock or MonotonicClock()
        self.rng = rng or random.Random(int.from_bytes(os.urandom(16), "big"))
        self.node_id = generate_node_id(self.rng)
        self.generation = run_dir.next_generation(name) if run_dir is not None else 1
        self.crashes: list[tuple[str, BaseException]] = []
        self._on_crash = on_crash
        self._event_subscribers = event_subscribers
        self.actors: NodeActors | None = None
        self.metrics = NodeMetrics(name, self.spec.role, layout.cluster)
        self._dropped: Counter[str] = Counter()  # the transport's drops by reason, read by the metrics
        self._unsealed: Counter[str] = Counter()  # datagrams that did not open, counted by their reader
        self.sealing = self._sealing()
        self.app = load_app(layout)  # users' code: imported before anything runs, refused as a layout error

    def _sealing(self) -> Sealing | None:
        """The node's sealing when its layout names a keyring: one sealer with an epoch of its own (a new
        life draws a new one), and replay windows for a few times the layout's nodes."""
        path = self.run_dir.keyring_for(self.layout) if self.run_dir is not None else self.layout.keyring
        if path is None:
            return None
        try:
            return load_sealing(path, self.layout.cluster, max_epochs=64 + 4 * len(self.layout.nodes))
        except KeyringError as error:  # refused as a bad layout is: the node never starts
            raise LayoutError([LocatedProblem(str(path), None, "keyring", str(error))]) from None

    def _drops(self) -> tuple[Mapping[str, int], ...]:
        """The transport's drops and the datagrams that did not open: two counters, each written by one
        thread, read together."""
        return (self._dropped, self._unsealed)

    def _crashed(self, actor: str, error: BaseException) -> None:
        self.crashes.append((actor, error))
        if self._on_crash is not None:
            self._on_crash(actor, error)

    def start(self) -> NodeActors:
        """Bind the port first (a taken port fails here, before any actor runs), then build the cores,
        start an actor around each, wire them, and only then let the transport listen."""
        reactor = Reactor(
            self.spec.host,
            self.spec.port,
            max_frame=self.layout.timings.max_frame_size,
            metrics_port=self.spec.metrics_port,
            traffic=self.metrics.traffic,
            render_metrics=self.metrics.render,
            quiet_limit=self.layout.timings.handshake_timeout,
            # As long as a dial of ours waits for a hello at most (`PeeringTable._patience`): a hub of a
            # large start has hundreds of hellos to judge at once.
            identify_limit=self.layout.timings.handshake_timeout * (1 << PATIENCE_DOUBLINGS),
            # Every other node may be dialling at once, and again after a reset, besides any strangers.
            max_unidentified=MAX_UNIDENTIFIED + 2 * len(self.layout.nodes),
            sockets=self._sockets,
            sealer=self.sealing.sealer if self.sealing is not None else None,
        )
        cores = self.build_cores()
        actors = self._start_actors(cores, reactor)
        self._wire(actors)
        self._watch(cores, actors)
        # Users' code starts on a node that is wired: what an actor does in `on_start` (subscribe, write
        # state, send) must find every actor it passes through already connected to the next.
        actors = replace(actors, hosts=self._start_hosts(actors))
        self.metrics.watch(metric_sources.mailboxes({f"app:{n}": ref for n, ref in actors.hosts.items()}))
        actors.events.tell(
            RaiseEvent(
                NodeStartedEvent(
                    role=self.spec.role,
                    id=self.node_id,
                    generation=self.generation,
                    pid=os.getpid(),
                    address=f"{self.spec.host}:{self.spec.port}",
                )
            )
        )
        actors.transport.tell(StartListening())
        actors.tracker.tell(StartTracking())
        actors.membership.tell(StartMembership())
        self.actors = actors
        return actors

    def build_cores(self) -> NodeCores:
        """The node's pure cores, each with its own seeded generator, as its layout describes them."""
        timings = self.layout.timings
        if self.sealing is not None:
            # What the cores pack into a datagram is sealed on its way out: it must leave room for that.
            timings = dataclasses.replace(timings, udp_buffer_size=timings.udp_buffer_size - OVERHEAD)
        addresses = {spec.name: Address(spec.host, spec.port) for spec in self.layout.nodes}
        identity = Identity(
            cluster=self.layout.cluster,
            name=self.name,
            node_id=self.node_id,
            generation=self.generation,
            layout_digest=self.layout.digest,
        )
        peering = PeeringTable(
            identity,
            {name: address for name, address in addresses.items() if name != self.name},
            retry_min=timings.connect_retry_min,
            retry_max=timings.connect_retry_max,
            handshake_timeout=timings.handshake_timeout,
            rng=random.Random(self.rng.getrandbits(64)),
        )
        tracker = ConnectivityTracker(
            self.name, self.node_id, self.layout.manager.name, self.layout.outgoing(self.name)
        )
        state = StateGossip(
            self.name,
            self.generation,
            timings,
            random.Random(self.rng.getrandbits(64)),
            self.clock.now(),
            deferred_push=True,
        )
        local = NodeInfo(
            node_id=self.node_id,
            name=self.name,
            host=self.spec.host,
            port=self.spec.port,
            role=self.spec.role,
            generation=self.generation,
        )
        membership = Membership(
            local,
            addresses,
            timings,
            random.Random(self.rng.getrandbits(64)),
            self.clock.now(),
            streams_need_peering=True,
            admitted=addresses,
        )
        coordinator = (
            Coordinator(self.name, self.node_id, self.layout.names) if self.spec.role == "manager" else None
        )
        providers = {state_type: make(self.name) for state_type, make in self.app.providers.items()}
        post_office = PostOffice(
            self.name,
            {spec.name: spec.role for spec in self.layout.nodes},
            queue_limit=self.layout.app.queue_limit,
            max_message=self.layout.app.max_message_size,
        )
        return NodeCores(peering, tracker, membership, state, coordinator, providers, post_office)

    def _start_actors(self, cores: NodeCores, reactor: Reactor) -> NodeActors:
        """One actor around each core, each given the references it talks to (architecture §2)."""
        crash = self._crashed
        events_path = self.run_dir.events_file(self.name) if self.run_dir is not None else None
        events = EventLog.start(self.name, events_path, subscribers=self._event_subscribers, on_crash=crash)
        timer = TimerService.start(self.clock, on_crash=crash)
        whoami = NodeIdentity(
            node=self.name,
            role=self.spec.role,
            cluster=self.layout.cluster,
            id=self.node_id,
            generation=self.generation,
            layout_digest=self.layout.digest,
            pid=os.getpid(),
        )
        peers = tuple(name for name in self.layout.names if name != self.name)
        # One reading of every drop, for `status` and for the metrics page (`_watch`).
        self._drop_counts = metric_sources.drop_counts(
            self._drops(), cores.membership, cores.state, cores.post_office
        )
        control = ControlEndpoint.start(whoami, peers=peers, dropped=self._drop_counts, on_crash=crash)
        transport = Transport.start(
            cores.peering,
            reactor,
            timer=timer,
            events=events,
            clock=self.clock,
            max_frame=self.layout.timings.max_frame_size,
            send_bound=self.layout.app.send_buffer,
            dropped=self._dropped,
            sealing=self.sealing,
            on_crash=crash,
        )
        neighbours = Neighbours(transport=transport, events=events, timer=timer)
        tracker = ConnectivityActor.start(cores.tracker, neighbours, status=control, on_crash=crash)
        scheduler = GossipSchedulerActor.start(
            cores.state,
            neighbours,
            clock=self.clock,
            providers={},
            send_datagram=reactor.send_datagram,
            status=control,
            on_crash=crash,
        )
        providers = {
            state_type: ProviderActor.start(
                core, scheduler=scheduler, events=events, control=control, on_crash=crash
            )
            for state_type, core in cores.providers.items()
        }
        membership = MembershipActor.start(
            cores.membership,
            neighbours,
            clock=self.clock,
            send_datagram=reactor.send_datagram,
            udp=UdpReader(
                reactor.datagrams,
                self.layout.timings.udp_buffer_size,
                self.metrics.traffic,
                faults=lambda: reactor.faults,
                clock=self.clock,
                opener=self.sealing.datagrams if self.sealing is not None else None,
                dropped=self._unsealed,
            ),
            state_sink=scheduler,
            status=control,
            on_crash=crash,
        )
        coordinator = None
        if cores.coordinator is not None:
            coordinator = CoordinatorActor.start(
                cores.coordinator, neighbours, status=control, on_crash=crash
            )
        router = AppRouter.start(
            cores.post_office,
            transport=transport,
            timer=timer,
            events=events,
            topics=providers.get(TopicsProvider.state_type),
            clock=self.clock,
            on_crash=crash,
        )
        return NodeActors(
            events,
            timer,
            control,
            transport,
            tracker,
            membership,
            coordinator,
            scheduler,
            providers,
            router,
            {},
        )

    def _start_hosts(self, actors: NodeActors) -> dict[str, pykka.ActorRef[Any]]:
        """The layout's application actors for this node, each in its own supervising host."""
        wiring = HostWiring(
            router=actors.router, timer=actors.timer, events=actors.events, providers=actors.providers
        )
        app = self.layout.app
        return {
            spec.name: ActorHost.start(
                spec.name,
                self.app.actor_classes[spec.cls.spec],
                spec.args,
                identity=(self.name, self.spec.role, self.node_id),
                wiring=wiring,
                clock=self.clock,
                supervision=app.supervision,
                max_message=app.max_message_size,
                on_crash=self._crashed,
            )
            for spec in self.layout.app_actors(self.name)
        }

    def _watch(self, cores: NodeCores, actors: NodeActors) -> None:
        """What the metrics page reads at each scrape: the cores' counters and every actor's inbox."""
        metrics = self.metrics
        metrics.watch(metric_sources.membership(cores.membership))
        metrics.watch(metric_sources.state(cores.state))
        metrics.watch(metric_sources.drops(self._drop_counts))
        inboxes = {
            "events": actors.events,
            "timer": actors.timer,
            "control": actors.control,
            "transport": actors.transport,
            "tracker": actors.tracker,
            "membership": actors.membership,
            "gossip": actors.scheduler,
            "router": actors.router,
            **({"coordinator": actors.coordinator} if actors.coordinator is not None else {}),
            **{f"provider:{state_type}": ref for state_type, ref in actors.providers.items()},
        }
        metrics.watch(metric_sources.mailboxes(inboxes))

    def _wire(self, actors: NodeActors) -> None:
        """Subscriptions, made in order before the transport listens: a peer that says hello in the first
        millisecond is still seen by every actor that cares."""
        actors.scheduler.tell(AttachProviders(actors.providers))
        actors.control.tell(AttachProviders(actors.providers))
        transport = actors.transport
        transport.tell(SubscribeMessages((ControlRequest,), actors.control))
        transport.tell(SubscribeMessages((MemberSync,), actors.membership))
        transport.tell(SubscribePeers(actors.membership))
        transport.tell(SubscribeMessages((Pull, Push, PushPull), actors.scheduler))
        transport.tell(SubscribePeers(actors.scheduler))
        actors.membership.tell(SubscribeMembers(actors.scheduler))
        transport.tell(SubscribePeers(actors.tracker))
        transport.tell(SubscribeMessages((ClusterStarted,), actors.tracker))
        router = actors.router
        transport.tell(SubscribeMessages(APP_WIRE, router, batches=True))
        transport.tell(SubscribePeers(router))
        actors.membership.tell(SubscribeMembers(router))
        actors.control.tell(AttachRouter(router))
        topics = actors.providers.get(TopicsProvider.state_type)
        if topics is not None:
            topics.tell(SubscribeViews(router))
        if actors.coordinator is not None:
            transport.tell(SubscribePeers(actors.coordinator))
            transport.tell(SubscribeMessages((NodeFullyConnected, NodeConnectivityLost), actors.coordinator))

    def stop(self, *, timeout: float = 5.0, leave: bool = True) -> None:
        """Stop every actor. `leave`: say goodbye first (a graceful leave, `member_left` everywhere). A node
        that stops because one of its actors crashed does not: it failed, and the others must see it
        fail (`member_failed`), as they would a kill, rather than take it for an operator's choice."""
        if self.actors is None:
            return
        actors, self.actors = self.actors, None
        tell_if_alive(actors.events, RaiseEvent(NodeStoppingEvent(id=self.node_id)))
        if leave:
            tell_if_alive(actors.membership, LeaveCluster())
        for ref in [
            *actors.hosts.values(),
            actors.router,
            actors.membership,
            actors.scheduler,
            *actors.providers.values(),
            actors.coordinator,
            actors.tracker,
            actors.control,
            actors.transport,
            actors.timer,
            actors.events,
        ]:
            if ref is None:
                continue
            with contextlib.suppress(pykka.ActorDeadError, pykka.Timeout):
                ref.stop(timeout=timeout)


def _configure_logging(run_dir: RunDir | None, name: str, verbose: bool) -> None:
    handlers: list[logging.Handler] = []
    if run_dir is not None:
        run_dir.root.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(run_dir.log_file(name), encoding="utf-8"))
    else:
        handlers.append(logging.StreamHandler(sys.stderr))
    # The node's format shows none of these, and each costs every record something (the caller's frame
    # above all); the logging HOWTO's "Optimization" section names these switches.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m actors.node", description="Run one node of a layout.")
    parser.add_argument("--layout", required=True, help="the layout YAML file")
    parser.add_argument("--node", required=True, help="the name of the node to run")
    parser.add_argument("--run-dir", help="run directory (default .cluster/<cluster name>)")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    given_run_dir = RunDir(Path(args.run_dir)) if args.run_dir else None
    try:
        layout = given_run_dir.load_layout(Path(args.layout)) if given_run_dir else load_layout(args.layout)
        layout.node(args.node)
    except LayoutError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_LAYOUT
    except KeyError:
        print(
            f"error: {args.layout}: no node named {args.node!r} (nodes: {', '.join(layout.names)})",
            file=sys.stderr,
        )
        return EXIT_BAD_LAYOUT
    run_dir = given_run_dir or RunDir.default_for(layout.cluster)
    return run(layout, args.node, run_dir, verbose=args.verbose)


def run(
    layout: Layout, name: str, run_dir: RunDir, *, verbose: bool = False, sockets: NodeSockets | None = None
) -> int:
    """Run one node until SIGTERM/SIGINT; the body of both `python -m actors.node` and a forkserver child
    (which is handed the `sockets` the forkserver bound for it)."""
    _configure_logging(run_dir, name, verbose)
    # Block the stop signals in every thread (threads inherit the mask); the main thread waits for them.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    crashed = threading.Event()

    def on_crash(actor: str, error: BaseException) -> None:
        log.critical("actor %s crashed (%r): stopping the node", actor, error)
        crashed.set()
        os.kill(os.getpid(), signal.SIGTERM)

    try:
        runtime = NodeRuntime(layout, name, run_dir=run_dir, on_crash=on_crash, sockets=sockets)
    except LayoutError as error:
        log.error("cannot start %s: %s", name, error)
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_LAYOUT
    try:
        runtime.start()
    except PortInUse as error:
        log.error("cannot start %s: %s", name, error.strerror)
        print(f"error: cannot start {name}: {error.strerror}", file=sys.stderr)
        return EXIT_PORT_IN_USE
    run_dir.write_pid(name, os.getpid())
    received = signal.sigwait(stop_signals)
    log.info("stopping on %s", signal.Signals(received).name)
    runtime.stop(leave=not crashed.is_set())
    return EXIT_CRASHED if crashed.is_set() else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
