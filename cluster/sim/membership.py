"""Many membership cores in one thread, in virtual time, over a network that loses, delays and partitions.

The same `Membership` core that runs in a live node runs here, fed by a discrete-event loop: datagrams
and timers are events on one heap ordered by virtual time, and every random choice (loss, delay, each
core's own) comes from one seeded generator, so a run is exactly repeatable. A slow node has its handling
of every datagram postponed by a fixed lag while its timers fire on time: a starved process reads its
socket late and takes late acks for missing ones (Lifeguard's scenario).

Nodes start as a launcher starts them: `start_spread` seconds from the first fork to the last, in layout
order with random gaps (a real launcher takes 0.1 to 0.5 s for a layout; 0 starts them all at once).

At scale the cost is the protocol's own: N nodes each learn N members, most by push-pull (which passes none
of them on: see `Membership._met`), and pass those heard by gossip on a bounded number of times. The cores
share one `CodecCache`, so identical bytes are decoded once for the whole cluster and every node holds the
same message objects;
`record` limits the events kept (a 10,000-node start raises 10^8 `member_joined`).
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from cluster.core.effects import Address
from cluster.core.events import Event
from cluster.core.virtual_time import TimerDue, VirtualTime
from cluster.layout.presets import Timings
from cluster.membership.swim import Membership
from cluster.sim.collector import young_collections_only
from cluster.sim.effects import SimulatedNodes
from cluster.wire.compound import CodecCache
from cluster.wire.messages import NodeInfo, WireMessage


@dataclass(frozen=True, slots=True)
class SimEvent:
    time: float
    node: str
    event: str
    fields: dict[str, Any]


@dataclass(slots=True)
class NetworkConditions:
    loss: float = 0.0  # probability that a datagram is lost
    delay: float = 0.001  # one-way base delay, seconds
    jitter: float = 0.001  # added uniformly in [0, jitter]
    partitions: list[frozenset[str]] = field(default_factory=list)  # groups that cannot reach each other
    # A datagram to a crashed node draws "port unreachable", as from a live host's kernel (off: memberlist's
    # view, where a crash and a silent node look alike).
    closed_ports_reply: bool = False

    def reachable(self, a: str, b: str) -> bool:
        if not self.partitions:
            return True
        group_a = next((g for g in self.partitions if a in g), None)
        group_b = next((g for g in self.partitions if b in g), None)
        return group_a is group_b


class Simulation(SimulatedNodes):
    def __init__(
        self,
        names: Iterable[str],
        timings: Timings,
        *,
        seed: int = 0,
        conditions: NetworkConditions | None = None,
        start_spread: float = 0.0,
        record: Collection[str] | None = None,
    ) -> None:
        """`start_spread`: seconds over which `start_all` starts the nodes (see the module's docstring);
        `record`: the names of the events kept in `events` (None: every event)."""
        if start_spread < 0:
            raise ValueError(f"start_spread must be >= 0, got {start_spread}")
        self.rng = random.Random(seed)
        self.start_spread = start_spread
        self.record = None if record is None else frozenset(record)
        self.codec_cache = CodecCache(capacity=1 << 16)
        self.started: dict[str, float] = {}  # node -> when it (last) started
        self.timings = timings
        self.conditions = conditions or NetworkConditions()
        self.time = VirtualTime()
        self.events: list[SimEvent] = []
        self.slow: dict[str, float] = {}  # node -> handling lag in seconds
        self.datagrams_sent = 0
        self.bytes_sent = 0
        self._names = list(names)
        self._addresses: dict[str, Address] = {
            name: Address("sim", i + 1) for i, name in enumerate(self._names)
        }
        self._by_address = {address: name for name, address in self._addresses.items()}
        self.nodes: dict[str, Membership] = {}
        self._lives: dict[str, int] = {}

    @property
    def now(self) -> float:
        return self.time.now

    # -- control --------------------------------------------------------------------------------

    def start(self, name: str) -> None:
        life = self._lives.get(name, 0) + 1
        self._lives[name] = life
        host, port = self._addresses[name]
        info = NodeInfo(node_id=f"{name}#{life}", name=name, host=host, port=port, role="worker")
        core = Membership(
            info,
            self._addresses,
            self.timings,
            random.Random(self.rng.getrandbits(64)),
            self.now,
            codec_cache=self.codec_cache,
            events=self.record,
            admitted=self._addresses,
        )
        self.nodes[name] = core
        self.started[name] = self.now
        self._carry_out(name, core.start(self.now))

    def start_all(self, names: Collection[str] | None = None) -> None:
        """Every node (or those of `names`, which a late joiner can then join): at once, or over
        `start_spread` seconds from now, in layout order (each start is then an event of the run:
        `run_for` carries them out)."""
        chosen = self._names if names is None else [name for name in self._names if name in names]
        if not self.start_spread or not chosen:
            for name in chosen:
                self.start(name)
            return
        offsets = sorted(self.rng.uniform(0, self.start_spread) for _ in chosen)
        offsets[0] = 0.0  # the first fork starts the clock
        for name, offset in zip(chosen, offsets, strict=True):
            self.time.at(self.now + offset, name, _Start())

    def crash(self, name: str) -> None:
        """Gone without a word, like kill -9: its timers and inbound datagrams vanish."""
        self.nodes.pop(name, None)
        self.time.forget(name)

    def leave(self, name: str) -> None:
        core = self.nodes[name]
        self._carry_out(name, core.leave(self.now))
        self.crash(name)

    def run_until(self, until: float) -> None:
        with young_collections_only():
            self._run_until(until)

    def _run_until(self, until: float) -> None:
        nodes, lives = self.nodes, self._lives
        for name, item in self.time.until(until):
            kind = type(item)  # compared exactly: the loop runs once per datagram and timer of the run
            if kind is _Start:
                self.start(name)
                continue
            core = nodes.get(name)
            if core is None or (kind is not TimerDue and item.life != lives[name]):
                continue  # crashed, or addressed to a previous life
            if kind is TimerDue:
                self._carry_out(name, core.timer(item.key, self.now))
            elif kind is _Stream:
                self._carry_out(name, core.stream(item.source, item.message, self.now))
            elif kind is _Unreachable:
                self._carry_out(name, core.port_unreachable(item.address, self.now))
            elif item.lagged or not self.slow.get(name):
                self._carry_out(name, core.datagram(item.source, item.payload, self.now)[0])
            else:
                # A starved node reads its socket late while its timers still fire: acks look missing.
                late = _Datagram(item.source, item.payload, item.life, lagged=True)
                self.time.at(self.now + self.slow[name], name, late)

    def run_for(self, seconds: float) -> None:
        self.run_until(self.now + seconds)

    # -- queries --------------------------------------------------------------------------------

    def view(self, observer: str) -> dict[str, str]:
        return {member.name: member.state.value for member in self.nodes[observer].members()}

    def events_named(self, event: str, member: str | None = None) -> list[SimEvent]:
        return [
            e
            for e in self.events
            if e.event == event and (member is None or e.fields.get("member") == member)
        ]

    # -- plumbing -------------------------------------------------------------------------------

    def _emit(self, name: str, event: Event) -> None:
        # Only the events in `record` come here: the cores are asked for no others.
        self.events.append(SimEvent(self.now, name, event.NAME, event.fields))

    def _deliver_stream(self, sender: str, receiver: str, message: WireMessage) -> None:
        if receiver == sender or receiver not in self.nodes:
            return
        if not self.conditions.reachable(sender, receiver):
            return
        arrival = self.now + 2 * self.conditions.delay + self.rng.uniform(0, self.conditions.jitter)
        self.time.at(arrival, receiver, _Stream(sender, message, self._lives[receiver]))

    def _deliver(self, sender: str, address: Address, payload: bytes) -> None:
        self.datagrams_sent += 1
        self.bytes_sent += len(payload)
        receiver = self._by_address.get(address)
        if receiver is None or receiver == sender:
            return
        if not self.conditions.reachable(sender, receiver) or self.rng.random() < self.conditions.loss:
            return
        arrival = self.now + self.conditions.delay + self.rng.uniform(0, self.conditions.jitter)
        if receiver not in self.nodes:
            # nobody listens at that port
            if self.conditions.closed_ports_reply:
                report = _Unreachable(address, self._lives[sender])
                self.time.at(2 * arrival - self.now, sender, report)
            return
        datagram = _Datagram(self._addresses[sender], payload, self._lives[receiver])
        self.time.at(arrival, receiver, datagram)


@dataclass(frozen=True, slots=True)
class _Start:
    """A node's process is forked: its core starts."""


@dataclass(frozen=True, slots=True)
class _Stream:
    """A TCP exchange: not lost to datagram loss, but cut by partitions and crashes."""

    source: str
    message: WireMessage
    life: int


@dataclass(frozen=True, slots=True)
class _Datagram:
    source: Address
    payload: bytes
    life: int
    lagged: bool = False


@dataclass(frozen=True, slots=True)
class _Unreachable:
    """The ICMP report on a datagram sent to a closed port, back to the sender's life that sent it."""

    address: Address
    life: int
