"""What the simulators share: a core's effects carried out in virtual time.

Timers go to the `VirtualTime` loop; sends go to the simulator's own network model (loss, delay,
partitions), which each simulator defines; events are the simulator's to record or ignore.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cluster.core.effects import Address, CancelTimer, Emit, Send, SendDatagram, StartTimer
from cluster.core.events import Event
from cluster.core.virtual_time import VirtualTime
from cluster.wire.messages import WireMessage


class SimulatedNodes:
    time: VirtualTime

    def _carry_out(self, name: str, effects: Iterable[Any]) -> None:
        for effect in effects:
            match effect:
                case SendDatagram(address, payload):
                    self._deliver(name, address, payload)
                case Send(peer, message):
                    self._deliver_stream(name, peer, message)
                case CancelTimer(key):
                    self.time.cancel(name, key)
                case StartTimer(key, deadline):
                    self.time.arm(name, key, deadline)
                case Emit(event):
                    self._emit(name, event)

    def _deliver(self, sender: str, address: Address, payload: bytes) -> None:
        raise NotImplementedError

    def _deliver_stream(self, sender: str, receiver: str, message: WireMessage) -> None:
        raise NotImplementedError

    def _emit(self, name: str, event: Event) -> None:
        """An event a core raised; not recorded unless the simulator says so."""
