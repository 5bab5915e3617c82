"""Many gossip scheduler cores in one thread, in virtual time, over a network that loses and delays.

The `StateGossip` core that runs in a live node's gossip scheduler runs here, fed by the same
discrete-event loop as membership's `cluster.sim.membership` (`cluster.core.virtual_time`): datagrams and
timers are events on one heap, and every random choice comes from one seeded generator, so a run is exactly
repeatable. Membership is taken as settled (everyone alive), so what is measured is the state protocol
alone.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from cluster.core.effects import Address
from cluster.core.virtual_time import TimerDue, VirtualTime
from cluster.layout.presets import Timings
from cluster.sim.effects import SimulatedNodes
from cluster.state.gossip import StateGossip
from cluster.wire.messages import Plain, WireMessage


@dataclass(frozen=True, slots=True)
class _Datagram:
    source: Address
    payload: bytes
    life: int


@dataclass(frozen=True, slots=True)
class _Stream:
    source: str
    message: WireMessage
    life: int


class StateSimulation(SimulatedNodes):
    def __init__(
        self,
        names: Iterable[str],
        timings: Timings,
        *,
        seed: int = 0,
        loss: float = 0.0,
        delay: float = 0.001,
        jitter: float = 0.001,
    ) -> None:
        self.rng = random.Random(seed)
        self.timings = timings
        self.loss = loss
        self.delay = delay
        self.jitter = jitter
        self.time = VirtualTime()
        self.datagrams_sent = 0
        self.bytes_sent = 0
        self._names = list(names)
        self._addresses = {name: Address("sim", i + 1) for i, name in enumerate(self._names)}
        self._by_address = {address: name for name, address in self._addresses.items()}
        self.nodes: dict[str, StateGossip] = {}
        self._lives: dict[str, int] = {}

    @property
    def now(self) -> float:
        return self.time.now

    # -- control --------------------------------------------------------------------------------

    def start_all(self) -> None:
        for name in self._names:
            self.start(name)

    def start(self, name: str) -> None:
        life = self._lives.get(name, 0) + 1
        self._lives[name] = life
        core = StateGossip(name, life, self.timings, random.Random(self.rng.getrandbits(64)), self.now)
        self.nodes[name] = core
        others = {n: a for n, a in self._addresses.items() if n != name}
        self._carry_out(name, core.start(self.now) + core.members(others, self.now))

    def crash(self, name: str) -> None:
        self.nodes.pop(name, None)
        self.time.forget(name)

    def write(self, name: str, key: str, value: Plain, *, tombstone: bool = False) -> None:
        core = self.nodes[name]
        self._carry_out(name, core.write("kv", key, value, self.now, tombstone=tombstone))

    def run_until(self, until: float) -> None:
        for name, item in self.time.until(until):
            core = self.nodes.get(name)
            if core is None or (isinstance(item, _Datagram | _Stream) and item.life != self._lives[name]):
                continue
            if isinstance(item, TimerDue):
                self._carry_out(name, core.timer(item.key, self.now))
            elif isinstance(item, _Stream):
                self._carry_out(name, core.stream(item.source, item.message, self.now))
            else:
                self._carry_out(name, core.datagram(item.source, item.payload, self.now))

    def run_for(self, seconds: float) -> None:
        self.run_until(self.now + seconds)

    # -- queries --------------------------------------------------------------------------------

    def view(self, name: str) -> dict[tuple[str, str], object]:
        """What `name` holds: (owner, key) -> value of every live entry."""
        return {(e.source_node, e.key): e.value for e in self.nodes[name].store.entries() if not e.tombstone}

    def converged(self) -> bool:
        views = [self.view(name) for name in self.nodes]
        return all(view == views[0] for view in views[1:])

    # -- plumbing -------------------------------------------------------------------------------

    def _deliver(self, sender: str, address: Address, payload: bytes) -> None:
        self.datagrams_sent += 1
        self.bytes_sent += len(payload)
        receiver = self._by_address.get(address)
        if receiver is None or receiver not in self.nodes or self.rng.random() < self.loss:
            return
        arrival = self.now + self.delay + self.rng.uniform(0, self.jitter)
        self.time.at(arrival, receiver, _Datagram(self._addresses[sender], payload, self._lives[receiver]))

    def _deliver_stream(self, sender: str, receiver: str, message: WireMessage) -> None:
        if receiver not in self.nodes:
            return
        arrival = self.now + 2 * self.delay + self.rng.uniform(0, self.jitter)
        self.time.at(arrival, receiver, _Stream(sender, message, self._lives[receiver]))
