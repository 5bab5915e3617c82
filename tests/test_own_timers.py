"""An actor whose timers and socket live in its own inbox: real pykka actors, a manual clock, a socket."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from actors.base import NodeActor, handles
from actors.clock import ManualClock
from actors.messages import TimerFired
from actors.own_timers import OwnTimers
from actors.testkit import Recording, wait_idle

pytestmark = pytest.mark.timeout(30)


@dataclass(frozen=True, slots=True)
class Arm:
    key: str
    deadline: float


@dataclass(frozen=True, slots=True)
class Cancel:
    key: str


@dataclass(frozen=True, slots=True)
class Read:
    payload: bytes


class Ticker(OwnTimers, NodeActor):
    def __init__(self, recording: Recording, *, clock: Any, sock: socket.socket | None = None) -> None:
        super().__init__(clock=clock)
        self.recording = recording
        self.sock = sock

    def on_start(self) -> None:
        if self.sock is not None:
            self.timers.watch(self.sock, lambda: [Read(self.sock.recv(100))])  # type: ignore[union-attr]
        super().on_start()

    @handles(Arm)
    def _arm(self, message: Arm) -> None:
        self.timers.arm(message.key, message.deadline)

    @handles(Cancel)
    def _cancel(self, message: Cancel) -> None:
        self.timers.cancel(message.key)

    @handles(TimerFired, Read)
    def _record(self, message: Any) -> None:
        self.recording.add(message)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=100.0)


@pytest.fixture
def ticker(clock: ManualClock) -> Iterator[tuple[Any, Recording]]:
    recording = Recording()
    ref = Ticker.start(recording, clock=clock)
    yield ref, recording
    ref.stop()


def test_timers_fire_when_the_clock_passes_them_and_rearming_replaces(
    clock: ManualClock, ticker: tuple[Any, Recording]
) -> None:
    ref, recording = ticker
    ref.tell(Arm("late", 105.0))
    ref.tell(Arm("soon", 101.0))
    ref.tell(Arm("soon", 102.0))
    ref.tell(Arm("never", 103.0))
    ref.tell(Cancel("never"))
    wait_idle([ref])
    clock.advance(1.5)
    wait_idle([ref])
    assert recording.messages() == []
    clock.advance(1.0)
    wait_idle([ref])
    assert recording.messages() == [TimerFired("soon", 102.0)]
    clock.advance(10.0)
    wait_idle([ref])
    assert recording.messages() == [TimerFired("soon", 102.0), TimerFired("late", 105.0)]


def test_a_watched_socket_is_read_on_the_actors_own_thread(clock: ManualClock) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.setblocking(False)
    recording = Recording()
    ref = Ticker.start(recording, clock=clock, sock=receiver)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"hello", receiver.getsockname())
        assert recording.wait_for(lambda m: isinstance(m, Read)) == Read(b"hello")
    finally:
        ref.stop()
        receiver.close()
