"""The actor test kit: a probe that records what it is told, and a way to wait until all is idle.

Part of the product (architecture §5, as in trio): users testing their own providers need the same tools.
Nothing here sleeps to wait: `wait_idle` uses barriers through every inbox, and the probe's waits are
woken by the messages themselves.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pykka
import yaml

from actors.messages import Barrier, EventRaised
from cluster.core.events import CATALOGUE, Event
from cluster.layout.app import AppSpec
from cluster.layout.model import Layout
from cluster.layout.presets import PRESETS


class Recording:
    """What a probe was told, readable from the test thread while the probe keeps recording."""

    def __init__(self) -> None:
        self._received: list[Any] = []
        self._changed = threading.Condition()

    def add(self, message: Any) -> None:
        with self._changed:
            self._received.append(message)
            self._changed.notify_all()

    def messages(self) -> list[Any]:
        with self._changed:
            return list(self._received)

    def wait_for(self, predicate: Callable[[Any], bool], *, timeout: float = 10.0) -> Any:
        """The first recorded message matching `predicate`, waiting for it if need be."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for message in self._received:
                    if predicate(message):
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no matching message within {timeout}s; got {self._received!r}")
                self._changed.wait(remaining)


class Probe(pykka.ThreadingActor):
    """A fake neighbour: records every message it is told."""

    use_daemon_thread = True

    def __init__(self, recording: Recording) -> None:
        super().__init__()
        self._recording = recording

    def on_receive(self, message: Any) -> Any:
        if not isinstance(message, Barrier):
            self._recording.add(message)
        return None


class ProbeHandle:
    """A probe started and held from test code: `handle.ref` to wire in, the methods to inspect."""

    def __init__(self) -> None:
        self.probe = Recording()
        self.ref: pykka.ActorRef[Probe] = Probe.start(self.probe)

    def messages(self) -> list[Any]:
        return self.probe.messages()

    def of_type(self, message_type: type) -> list[Any]:
        return [message for message in self.messages() if isinstance(message, message_type)]

    def events(self, name: str | type[Event] | None = None) -> list[dict[str, Any]]:
        """The records of the events told so far (all of them, or those of one event)."""
        wanted = _event_name(name) if name is not None else None
        records = [dict(m.record) for m in self.of_type(EventRaised)]
        return [r for r in records if wanted is None or r["event"] == wanted]

    def wait_for(self, predicate: Callable[[Any], bool], *, timeout: float = 10.0) -> Any:
        return self.probe.wait_for(predicate, timeout=timeout)

    def wait_event(self, name: str | type[Event], *, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        """The record of the first event `name` (a catalogue class or its name) with these fields."""
        wanted = _event_name(name)

        def matches(message: Any) -> bool:
            return (
                isinstance(message, EventRaised)
                and message.record.get("event") == wanted
                and all(message.record.get(key) == value for key, value in fields.items())
            )

        return dict(self.wait_for(matches, timeout=timeout).record)

    def stop(self) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            self.ref.stop(timeout=5)


def _event_name(name: str | type[Event]) -> str:
    if isinstance(name, str):
        if name not in CATALOGUE:
            raise ValueError(f"no event {name!r} in the catalogue (cluster.core.events)")
        return name
    return name.NAME


def wait_idle(refs: Iterable[pykka.ActorRef[Any]], *, timeout: float = 5.0) -> None:
    """Return once every given actor has processed everything it was told and told nothing new.

    A round of barriers is answered by each actor after all that was in its inbox; if after a whole round
    every inbox is still empty, nothing can be in flight between these actors. Messages from outside
    them (sockets, timers on a real clock) can of course arrive later.
    """
    refs = list(refs)
    deadline = time.monotonic() + timeout
    while True:
        for ref in refs:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("actors did not become idle")
            try:
                ref.ask(Barrier(), timeout=remaining)
            except pykka.ActorDeadError:
                continue
        if all(ref.actor_inbox.empty() for ref in refs if ref.is_alive()):
            return


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Ports free for both TCP and UDP right now, distinct, and outside the kernel's ephemeral range.

    Outgoing connections take their local port from the ephemeral range, so a listening port picked
    there (as binding to port 0 does) can be taken by some node's dial before the node that owns it
    starts or restarts. Below the range only listeners compete, and each pick is checked by binding.
    """
    low, _high = _ephemeral_range()
    rng = random.Random()
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < count:
            port = rng.randrange(_LOWEST_TEST_PORT, low)
            if port in ports:
                continue
            sockets = _bind_both(host, port)
            if sockets:
                held += sockets
                ports.append(port)
    finally:
        for sock in held:
            sock.close()
    return ports


_LOWEST_TEST_PORT = 20000


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _bind_both(host: str, port: int) -> list[socket.socket]:
    bound: list[socket.socket] = []
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        sock = socket.socket(socket.AF_INET, kind)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            for other in bound:
                other.close()
            return []
        bound.append(sock)
    return bound


def layout_with_ports(layout: Layout, ports: list[int] | None = None, **overrides: Any) -> str:
    """The same layout as YAML text with every node on a fresh free port (tests never use fixed ones).

    Nodes are written out one by one and `connect` per node, so the result means exactly what the
    original meant; a node's `metrics_port` moves to a free port too. `overrides` replace top-level keys
    (for instance `cluster` or `timings`).
    """
    with_metrics = [spec.name for spec in layout.nodes if spec.metrics_port is not None]
    fresh = free_ports(len(with_metrics) + (0 if ports else len(layout.nodes)))
    if not ports:
        ports, fresh = fresh[len(with_metrics) :], fresh[: len(with_metrics)]
    metrics_ports = dict(zip(with_metrics, fresh, strict=True))
    nodes: dict[str, Any] = {}
    for spec, port in zip(layout.nodes, ports, strict=True):
        nodes[spec.name] = {"role": spec.role, "host": spec.host, "port": port}
        if spec.name in metrics_ports:
            nodes[spec.name]["metrics_port"] = metrics_ports[spec.name]
    document: dict[str, Any] = {
        "cluster": layout.cluster,
        "preset": layout.preset,
        "nodes": nodes,
        "connect": {spec.name: list(layout.outgoing(spec.name)) for spec in layout.nodes},
    }
    preset = PRESETS[layout.preset]
    # The timings the layout set over its preset: left out, a user's test ran on the preset's defaults.
    timings = {
        field.name: getattr(layout.timings, field.name)
        for field in dataclasses.fields(layout.timings)
        if getattr(layout.timings, field.name) != getattr(preset, field.name)
    }
    if timings:
        document["timings"] = timings
    if layout.keyring is not None:
        document["keyring"] = str(layout.keyring)
    if layout.security != "sealed":
        document["security"] = layout.security
    if layout.app != AppSpec():
        document["app"] = layout.app.document()
    document.update(overrides)
    return yaml.safe_dump(document, sort_keys=False)
