#!/usr/bin/env python3
"""Messaging cost of the two peer actor systems that our messaging benchmark is compared with.

Our framework's messaging numbers mean little on their own on a noisy 2-core machine; they are read side
by side with two established actor systems, Ray and Thespian (`multiprocTCPBase`), measured here on the
same three measures, one system per run:

1. one-way: a sender actor fires N payloads (bytes) at a receiver actor in another OS process, without
   waiting; msgs/s from the first send until the receiver has all N (the receiver stamps that itself);
2. request/reply round trips, p50 and p99 in ms: actor to actor (A waits for B's reply before its next
   request; B is in another process) and from the driver (this process) to an actor;
3. publish to 10 subscribers, each in its own process: ms from the publish until the last subscriber has
   the message (each stamps time.time() on arrival), p50 over the rounds.

Neither peer is a dependency of the project: each is imported only inside the functions that drive it,
from a virtualenv of its own. The actor system is always shut down by the library's own shutdown, on
error too, and only loopback addresses are used. One JSON line goes to stdout, everything else to stderr.

    python scripts/messaging_peers.py {ray|thespian} [--messages N] [--round-trips N]
                                      [--publish-rounds N] [--payload 64]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import json
import logging
import os
import platform
import socket
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

LOOPBACK = "127.0.0.1"
SUBSCRIBERS = 10
TIMEOUT = 120.0  # seconds any one phase may take before the run is given up
POLL = 0.02  # seconds between the driver's looks at a Ray receiver that is still counting
WARMUP_MESSAGES = 100  # one-way payloads sent (unmeasured) before the measured burst
WARMUP_ROUND_TRIPS = 20
WARMUP_PUBLISHES = 2

T = TypeVar("T")


@dataclass(frozen=True)
class Sizes:
    messages: int
    round_trips: int
    publish_rounds: int


# Each phase takes ~2-15 s here. One-way throughput falls as the burst grows (Thespian's sender blocks
# once ~950 sends are queued), so the one-way sizes are what each system was measured at, not a free choice:
# Ray ~2,500 msgs/s at 20,000, Thespian ~300 msgs/s at 3,000 (~850 at 300).
DEFAULT_SIZES = {
    "ray": Sizes(messages=20000, round_trips=5000, publish_rounds=200),
    "thespian": Sizes(messages=3000, round_trips=5000, publish_rounds=200),
}


@dataclass
class Measures:
    """What one system's run found, before it is summarised."""

    version: str
    actor_pids: list[int] = field(default_factory=list)
    setup_s: float = 0.0
    oneway_s: float = 0.0
    rtt_actor_ms: list[float] = field(default_factory=list)
    rtt_driver_ms: list[float] = field(default_factory=list)
    publish_ms: list[float] = field(default_factory=list)


def percentile(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def deadline() -> float:
    return time.monotonic() + TIMEOUT


def log(message: str) -> None:
    print(f"messaging_peers: {message}", file=sys.stderr, flush=True)


# -- Ray: plain classes, made actors by ray.remote in run_ray ------------------------------------------


class RayPeer:
    """Receiver of the one-way burst, echo of round trips, or subscriber, as the phase uses it."""

    def __init__(self) -> None:
        self.expected = 0
        self.count = 0
        self.t0: float | None = None
        self.done_at: float | None = None

    def pid(self) -> int:
        return os.getpid()

    def expect(self, n: int) -> None:
        self.expected, self.count, self.t0, self.done_at = n, 0, None, None

    def take(self, payload: bytes) -> None:
        self.count += 1
        if self.count == self.expected:
            self.done_at = time.time()

    def started(self, t0: float) -> None:
        self.t0 = t0

    def result(self) -> tuple[float, float] | None:
        """(first send, last arrival) once both are known."""
        if self.t0 is None or self.done_at is None:
            return None
        return self.t0, self.done_at

    def echo(self, payload: bytes) -> bytes:
        return payload

    def deliver(self, payload: bytes) -> float:
        return time.time()


class RaySource:
    """The actor that sends: the one-way burst, actor-to-actor requests, publishes."""

    def __init__(self) -> None:
        self.subscribers: list[Any] = []

    def pid(self) -> int:
        return os.getpid()

    def blast(self, sink: Any, n: int, payload: bytes) -> None:
        t0 = time.time()
        for _ in range(n):
            sink.take.remote(payload)  # the ObjectRef is dropped: fire and forget
        sink.started.remote(t0)

    def ping_loop(self, target: Any, n: int, payload: bytes) -> list[float]:
        import ray

        latencies = []
        for _ in range(n):
            start = time.perf_counter()
            ray.get(target.echo.remote(payload))
            latencies.append(ms_since(start))
        return latencies

    def subscribe(self, subscribers: list[Any]) -> int:
        self.subscribers = subscribers
        return len(subscribers)

    def publish(self, payload: bytes) -> tuple[float, list[float]]:
        """Sends to every subscriber, then collects the arrival stamps they return."""
        import ray

        t0 = time.time()
        refs = [subscriber.deliver.remote(payload) for subscriber in self.subscribers]
        return t0, ray.get(refs)


def run_ray(sizes: Sizes, payload: bytes) -> Measures:
    import ray

    started = time.perf_counter()
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
        _node_ip_address=LOOPBACK,
    )
    try:
        measures = Measures(version=ray.__version__)
        peer = ray.remote(num_cpus=0)(RayPeer)
        source = ray.remote(num_cpus=0)(RaySource).remote()
        sink, echo = peer.remote(), peer.remote()
        subscribers = [peer.remote() for _ in range(SUBSCRIBERS)]
        actors = [source, sink, echo, *subscribers]
        measures.actor_pids = ray.get([actor.pid.remote() for actor in actors], timeout=TIMEOUT)
        ray.get(source.subscribe.remote(subscribers), timeout=TIMEOUT)
        measures.setup_s = time.perf_counter() - started
        ray_phases(ray, sizes, payload, measures, (source, sink, echo))
        return measures
    finally:
        ray.shutdown()


def ray_phases(ray: Any, sizes: Sizes, payload: bytes, measures: Measures, actors: tuple[Any, ...]) -> None:
    source, sink, echo = actors
    ray_oneway(ray, source, sink, WARMUP_MESSAGES, payload)
    measures.oneway_s = ray_oneway(ray, source, sink, sizes.messages, payload)
    log(f"ray one-way: {sizes.messages} in {measures.oneway_s:.2f} s")
    ray.get(source.ping_loop.remote(echo, WARMUP_ROUND_TRIPS, payload), timeout=TIMEOUT)
    pings = source.ping_loop.remote(echo, sizes.round_trips, payload)
    measures.rtt_actor_ms = ray.get(pings, timeout=TIMEOUT)
    ray_driver_rtt(ray, echo, WARMUP_ROUND_TRIPS, payload)
    measures.rtt_driver_ms = ray_driver_rtt(ray, echo, sizes.round_trips, payload)
    log("ray round trips done")
    for _ in range(WARMUP_PUBLISHES):
        ray.get(source.publish.remote(payload), timeout=TIMEOUT)
    for _ in range(sizes.publish_rounds):
        t0, arrivals = ray.get(source.publish.remote(payload), timeout=TIMEOUT)
        measures.publish_ms.append((max(arrivals) - t0) * 1000)
    log("ray publish done")


def ray_oneway(ray: Any, source: Any, sink: Any, n: int, payload: bytes) -> float:
    """Seconds from the sender's first send until the receiver had all n."""
    ray.get(sink.expect.remote(n), timeout=TIMEOUT)
    ray.get(source.blast.remote(sink, n, payload), timeout=TIMEOUT)
    until = deadline()
    while time.monotonic() < until:
        result = ray.get(sink.result.remote(), timeout=TIMEOUT)
        if result is not None:
            return float(result[1] - result[0])
        time.sleep(POLL)
    raise TimeoutError(f"ray receiver did not get {n} one-way messages in {TIMEOUT:.0f} s")


def ray_driver_rtt(ray: Any, echo: Any, n: int, payload: bytes) -> list[float]:
    latencies = []
    for _ in range(n):
        start = time.perf_counter()
        ray.get(echo.echo.remote(payload), timeout=TIMEOUT)
        latencies.append(ms_since(start))
    return latencies


# -- Thespian: messages and plain role classes; one Actor class (made in thespian_shell) plays them ------


@dataclass(frozen=True)
class Become:
    role: str


@dataclass(frozen=True)
class Expect:
    n: int


@dataclass(frozen=True)
class Blast:
    sink: Any
    n: int
    payload: bytes


@dataclass(frozen=True)
class Started:
    t0: float


@dataclass(frozen=True)
class Done:
    t0: float
    done_at: float


@dataclass(frozen=True)
class PingLoop:
    target: Any
    n: int
    payload: bytes


@dataclass(frozen=True)
class Pings:
    latencies_ms: tuple[float, ...]


@dataclass(frozen=True)
class Subscribe:
    subscribers: tuple[Any, ...]


@dataclass(frozen=True)
class Publish:
    payload: bytes


@dataclass(frozen=True)
class Deliver:
    payload: bytes


@dataclass(frozen=True)
class Delivered:
    ts: float


@dataclass(frozen=True)
class Published:
    t0: float
    arrivals: tuple[float, ...]


Send = Callable[[Any, Any], None]


class ThespianRole:
    """What one actor does with the messages of the phases; `send` is its actor's own send."""

    def __init__(self, send: Send) -> None:
        self.send = send

    def handlers(self) -> dict[type, Callable[[Any, Any], None]]:
        return {}

    def on(self, message: Any, sender: Any) -> None:
        handler = self.handlers().get(type(message))
        if handler is not None:  # Thespian's own messages (exit requests, ...) are left to it
            handler(message, sender)


class ThespianSink(ThespianRole):
    """Counts the one-way burst; tells whoever sent Expect when it has all of it."""

    def __init__(self, send: Send) -> None:
        super().__init__(send)
        self.expect(Expect(0), None)

    def handlers(self) -> dict[type, Callable[[Any, Any], None]]:
        return {Expect: self.expect, bytes: self.take, Started: self.started}

    def expect(self, message: Expect, sender: Any) -> None:
        self.expected, self.count, self.report_to = message.n, 0, sender
        self.t0: float | None = None
        self.done_at: float | None = None
        if sender is not None:
            self.send(sender, message)

    def take(self, _payload: bytes, _sender: Any) -> None:
        self.count += 1
        if self.count == self.expected:
            self.done_at = time.time()
            self.report()

    def started(self, message: Started, _sender: Any) -> None:
        self.t0 = message.t0
        self.report()

    def report(self) -> None:
        if self.t0 is not None and self.done_at is not None and self.report_to is not None:
            self.send(self.report_to, Done(self.t0, self.done_at))
            self.report_to = None


class ThespianEcho(ThespianRole):
    def handlers(self) -> dict[type, Callable[[Any, Any], None]]:
        return {bytes: self.echo}

    def echo(self, payload: bytes, sender: Any) -> None:
        self.send(sender, payload)


class ThespianSubscriber(ThespianRole):
    def handlers(self) -> dict[type, Callable[[Any, Any], None]]:
        return {Deliver: self.deliver}

    def deliver(self, _message: Deliver, sender: Any) -> None:
        self.send(sender, Delivered(time.time()))


class ThespianSource(ThespianRole):
    """Sends the one-way burst, the actor-to-actor requests (one at a time) and the publishes."""

    def __init__(self, send: Send) -> None:
        super().__init__(send)
        self.subscribers: tuple[Any, ...] = ()
        self.report_to: Any = None
        self.loop = PingLoop(None, 0, b"")
        self.latencies: list[float] = []
        self.sent_at = 0.0
        self.t0 = 0.0
        self.arrivals: list[float] = []

    def handlers(self) -> dict[type, Callable[[Any, Any], None]]:
        return {
            Blast: self.blast,
            PingLoop: self.start_pings,
            bytes: self.pong,
            Subscribe: self.subscribe,
            Publish: self.publish,
            Delivered: self.delivered,
        }

    def blast(self, message: Blast, _sender: Any) -> None:
        t0 = time.time()
        for _ in range(message.n):
            self.send(message.sink, message.payload)
        self.send(message.sink, Started(t0))

    def start_pings(self, message: PingLoop, sender: Any) -> None:
        self.loop, self.report_to, self.latencies = message, sender, []
        self.ping()

    def ping(self) -> None:
        self.sent_at = time.perf_counter()
        self.send(self.loop.target, self.loop.payload)

    def pong(self, _reply: bytes, _sender: Any) -> None:
        self.latencies.append(ms_since(self.sent_at))
        if len(self.latencies) < self.loop.n:
            self.ping()
        else:
            self.send(self.report_to, Pings(tuple(self.latencies)))

    def subscribe(self, message: Subscribe, sender: Any) -> None:
        self.subscribers = message.subscribers
        self.send(sender, message)

    def publish(self, message: Publish, sender: Any) -> None:
        self.report_to, self.arrivals = sender, []
        self.t0 = time.time()
        for subscriber in self.subscribers:
            self.send(subscriber, Deliver(message.payload))

    def delivered(self, message: Delivered, _sender: Any) -> None:
        self.arrivals.append(message.ts)
        if len(self.arrivals) == len(self.subscribers):
            self.send(self.report_to, Published(self.t0, tuple(self.arrivals)))


THESPIAN_ROLES: dict[str, type[ThespianRole]] = {
    "source": ThespianSource,
    "sink": ThespianSink,
    "echo": ThespianEcho,
    "subscriber": ThespianSubscriber,
}


def thespian_shell() -> type:
    """The one Actor class, made only once thespian may be imported.

    Thespian starts an actor in a forked process by importing `module.ClassName`, so the class is
    installed as a global of this module under its own name before the actor system forks its admin.
    """
    from thespian.actors import Actor

    class ThespianShell(Actor):  # type: ignore[misc]
        role: ThespianRole | None = None

        def receiveMessage(self, message: Any, sender: Any) -> None:
            if isinstance(message, Become):
                self.role = THESPIAN_ROLES[message.role](self.send)
                self.send(sender, os.getpid())
            elif self.role is not None:
                self.role.on(message, sender)

    ThespianShell.__module__ = __name__
    ThespianShell.__qualname__ = ThespianShell.__name__
    globals()[ThespianShell.__name__] = ThespianShell
    return ThespianShell


def thespian_ask(system: Any, address: Any, message: Any, kind: type[T]) -> T:
    reply = system.ask(address, message, TIMEOUT)
    if not isinstance(reply, kind):
        raise RuntimeError(f"thespian: {type(message).__name__} answered by {reply!r}, not {kind.__name__}")
    return reply


def run_thespian(sizes: Sizes, payload: bytes) -> Measures:
    from thespian.actors import ActorSystem

    started = time.perf_counter()
    shell = thespian_shell()
    port = free_port()
    system = ActorSystem("multiprocTCPBase", {"Admin Port": port})
    log(f"thespian admin on {LOOPBACK}:{port}")
    try:
        measures = Measures(version=importlib.metadata.version("thespian"))
        roles = ["source", "sink", "echo"] + ["subscriber"] * SUBSCRIBERS
        actors = [system.createActor(shell) for _ in roles]
        measures.actor_pids = [
            thespian_ask(system, actor, Become(role), int) for actor, role in zip(actors, roles, strict=True)
        ]
        thespian_ask(system, actors[0], Subscribe(tuple(actors[3:])), Subscribe)
        measures.setup_s = time.perf_counter() - started
        thespian_phases(system, sizes, payload, measures, tuple(actors[:3]))
        return measures
    finally:
        system.shutdown()


def thespian_phases(
    system: Any, sizes: Sizes, payload: bytes, measures: Measures, actors: tuple[Any, ...]
) -> None:
    source, sink, echo = actors
    thespian_oneway(system, source, sink, WARMUP_MESSAGES, payload)
    measures.oneway_s = thespian_oneway(system, source, sink, sizes.messages, payload)
    log(f"thespian one-way: {sizes.messages} in {measures.oneway_s:.2f} s")
    thespian_ask(system, source, PingLoop(echo, WARMUP_ROUND_TRIPS, payload), Pings)
    pings = thespian_ask(system, source, PingLoop(echo, sizes.round_trips, payload), Pings)
    measures.rtt_actor_ms = list(pings.latencies_ms)
    thespian_driver_rtt(system, echo, WARMUP_ROUND_TRIPS, payload)
    measures.rtt_driver_ms = thespian_driver_rtt(system, echo, sizes.round_trips, payload)
    log("thespian round trips done")
    for _ in range(WARMUP_PUBLISHES):
        thespian_ask(system, source, Publish(payload), Published)
    for _ in range(sizes.publish_rounds):
        published = thespian_ask(system, source, Publish(payload), Published)
        measures.publish_ms.append((max(published.arrivals) - published.t0) * 1000)
    log("thespian publish done")


def thespian_oneway(system: Any, source: Any, sink: Any, n: int, payload: bytes) -> float:
    """Seconds from the sender's first send until the receiver had all n: the receiver is told to expect
    them (and whom to tell) before the sender starts, so no payload can overtake its count's reset."""
    thespian_ask(system, sink, Expect(n), Expect)
    done = thespian_ask(system, source, Blast(sink, n, payload), Done)
    return done.done_at - done.t0


def thespian_driver_rtt(system: Any, echo: Any, n: int, payload: bytes) -> list[float]:
    latencies = []
    for _ in range(n):
        start = time.perf_counter()
        thespian_ask(system, echo, payload, bytes)
        latencies.append(ms_since(start))
    return latencies


# -- the run --------------------------------------------------------------------------------------------

RUNNERS: dict[str, Callable[[Sizes, bytes], Measures]] = {"ray": run_ray, "thespian": run_thespian}
MODULES = {"ray": "ray", "thespian": "thespian.actors"}
LOOPBACK_ENV = {
    "ray": {"RAY_USAGE_STATS_ENABLED": "0"},  # no usage report leaves the machine
    "thespian": {"THESPIAN_BASE_IPADDR": LOOPBACK},  # actors' addresses are loopback ones
}


def summary(system: str, sizes: Sizes, payload: bytes, measures: Measures) -> dict[str, Any]:
    pids = measures.actor_pids
    return {
        "system": system,
        "version": measures.version,
        "oneway_msgs_per_s": round(sizes.messages / measures.oneway_s, 1),
        "rtt_actor_p50_ms": round(percentile(measures.rtt_actor_ms, 50), 3),
        "rtt_actor_p99_ms": round(percentile(measures.rtt_actor_ms, 99), 3),
        "rtt_driver_p50_ms": round(percentile(measures.rtt_driver_ms, 50), 3),
        "rtt_driver_p99_ms": round(percentile(measures.rtt_driver_ms, 99), 3),
        "publish10_p50_ms": round(percentile(measures.publish_ms, 50), 3),
        "publish10_max_ms": round(max(measures.publish_ms), 3),
        "messages": sizes.messages,
        "round_trips": sizes.round_trips,
        "publish_rounds": sizes.publish_rounds,
        "subscribers": SUBSCRIBERS,
        "payload_bytes": len(payload),
        "oneway_s": round(measures.oneway_s, 3),
        "actors": len(pids),
        "actor_processes": len(set(pids) - {os.getpid()}),
        "setup_s": round(measures.setup_s, 2),
        "python": platform.python_version(),
    }


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Whatever the library or its child processes write to fd 1 goes to stderr meanwhile."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def parse_args(argv: list[str] | None) -> tuple[str, Sizes, bytes]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("system", choices=sorted(RUNNERS))
    parser.add_argument("--messages", type=int, help="one-way messages (default: per system)")
    parser.add_argument("--round-trips", type=int, help="round trips of each kind (default: 5000)")
    parser.add_argument("--publish-rounds", type=int, help="publishes to the 10 subscribers (default: 200)")
    parser.add_argument("--payload", type=int, default=64, help="payload size in bytes (default: 64)")
    args = parser.parse_args(argv)
    given = {
        "messages": args.messages,
        "round_trips": args.round_trips,
        "publish_rounds": args.publish_rounds,
    }
    sizes = replace(DEFAULT_SIZES[args.system], **{k: v for k, v in given.items() if v is not None})
    if min(sizes.messages, sizes.round_trips, sizes.publish_rounds) < 2 or args.payload < 0:
        parser.error("--messages, --round-trips and --publish-rounds must be at least 2; --payload >= 0")
    return args.system, sizes, b"x" * args.payload


def measure(system: str, sizes: Sizes, payload: bytes) -> tuple[dict[str, Any], int]:
    try:
        return summary(system, sizes, payload, RUNNERS[system](sizes, payload)), 0
    except Exception as error:
        traceback.print_exc()
        return {"system": system, "error": f"{type(error).__name__}: {error}"}, 1


def main(argv: list[str] | None = None) -> int:
    system, sizes, payload = parse_args(argv)
    os.environ.update(LOOPBACK_ENV[system])
    try:
        importlib.import_module(MODULES[system])
    except ImportError as error:
        emit({"system": system, "error": f"not installed: {error}"})
        return 2
    started = time.perf_counter()
    with stdout_to_stderr():
        record, code = measure(system, sizes, payload)
    record["elapsed_s"] = round(time.perf_counter() - started, 2)
    emit(record)
    return code


if __name__ == "__main__":
    sys.exit(main())
