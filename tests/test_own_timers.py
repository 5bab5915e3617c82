"""An actor whose timers and socket live in its own inbox: real pykka actors, a manual clock, a socket."""

from __future__ import annotations

import inspect
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pykka
import pytest

from actors.base import NodeActor, handles
from actors.clock import ManualClock
from actors.messages import Barrier, TimerFired
from actors.own_timers import OwnTimers, TimedInbox
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


@dataclass(frozen=True, slots=True)
class Hold:
    """Keeps the actor busy until `release` is set, as a burst of work would: `entered` says it is."""

    entered: threading.Event
    release: threading.Event


class Ticker(OwnTimers, NodeActor):
    """Reads its socket dry on each wake-up. A datagram says when it arrived: its payload is the time,
    as a float, standing for the kernel's stamp (`actors.udp_reader`); any other payload arrived now."""

    def __init__(self, recording: Recording, *, clock: Any, sock: socket.socket | None = None) -> None:
        super().__init__(clock=clock)
        self.recording = recording
        self.sock = sock
        self.clock = clock

    def on_start(self) -> None:
        if self.sock is not None:
            self.timers.watch(self.sock, self._read)
        super().on_start()

    def _read(self) -> list[tuple[float, Read]]:
        assert self.sock is not None
        read = []
        while True:
            try:
                payload = self.sock.recv(100)
            except BlockingIOError:
                return read
            try:
                arrived = float(payload)
            except ValueError:
                arrived = self.clock.now()
            read.append((arrived, Read(payload)))

    @handles(Hold)
    def _hold(self, message: Hold) -> None:
        message.entered.set()
        message.release.wait(10)

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


@pytest.fixture
def receiver() -> Iterator[socket.socket]:
    """A bound, non-blocking UDP socket for an actor to watch."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    yield sock
    sock.close()


def test_datagrams_and_due_timers_are_handed_over_in_the_order_they_happened(
    clock: ManualClock, receiver: socket.socket
) -> None:
    """A busy actor reads late. A datagram that arrived before a timer's deadline (an ack) comes before
    that timer, read or not yet; one that arrived after comes after it."""
    recording = Recording()
    ref = Ticker.start(recording, clock=clock, sock=receiver)
    try:
        ref.tell(Arm("probe-timeout", 101.0))
        hold = Hold(threading.Event(), threading.Event())
        ref.tell(hold)
        assert hold.entered.wait(5)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"100.5", receiver.getsockname())
            sender.sendto(b"101.5", receiver.getsockname())
        clock.advance(2.0)  # due while the actor is still busy, the two datagrams still unread
        hold.release.set()
        recording.wait_for(lambda m: m == Read(b"101.5"))
        assert recording.messages() == [Read(b"100.5"), TimerFired("probe-timeout", 101.0), Read(b"101.5")]
    finally:
        ref.stop()


def test_messages_from_other_actors_take_their_turn_by_when_they_were_put(
    clock: ManualClock, receiver: socket.socket
) -> None:
    """A socket that never runs dry must not hold back the actor's other messages (an ask, a stop):
    a message put before a datagram arrived goes first."""
    inbox = TimedInbox(clock)
    read = iter([[(100.5, "datagram")]])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(b"x", receiver.getsockname())
        inbox.watch(receiver, lambda: next(read, []))
        inbox.arm("tick", 100.2)
        clock.advance(0.1)
        inbox.put("asked at 100.1")
        clock.advance(2.0)
        inbox.arm("tock", 101.0)
        got = [inbox.get(), inbox.get(), inbox.get(), inbox.get()]
    inbox.close()
    assert [getattr(g, "message", g) for g in got] == [
        "asked at 100.1",
        TimerFired("tick", 100.2),
        "datagram",
        TimerFired("tock", 101.0),
    ]


def test_what_is_left_after_the_inbox_closed_is_still_handed_out(clock: ManualClock) -> None:
    """pykka's teardown reads what is left once the actor's `on_stop` closed the inbox; a due timer then
    must not make it poll a closed selector."""
    inbox = TimedInbox(clock)
    inbox.arm("late", 100.5)
    inbox.put("left over")
    inbox.close()
    clock.advance(1.0)
    assert not inbox.empty()
    handed = [inbox.get(block=False), inbox.get(block=False)]
    assert [getattr(h, "message", h) for h in handed] == ["left over", TimerFired("late", 100.5)]
    assert inbox.empty()


def test_a_watched_socket_is_read_on_the_actors_own_thread(
    clock: ManualClock, receiver: socket.socket
) -> None:
    recording = Recording()
    ref = Ticker.start(recording, clock=clock, sock=receiver)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"hello", receiver.getsockname())
        assert recording.wait_for(lambda m: isinstance(m, Read)) == Read(b"hello")
    finally:
        ref.stop()


# -- the pykka internals `actors.own_timers` relies on -------------------------------------------------
# TimedInbox replaces pykka's inbox through `_create_actor_inbox`, speaks its inbox protocol and hands
# out envelopes of its own. None of that is pykka's public API, so setup.cfg bounds pykka to the versions
# these tests ran on; an upgrade that changes any of it must fail here, at once, instead of hanging.


def test_pykka_builds_the_inbox_through_create_actor_inbox() -> None:
    assert callable(getattr(pykka.ThreadingActor, "_create_actor_inbox", None))
    recording = Recording()
    ref = Ticker.start(recording, clock=ManualClock())
    try:
        assert isinstance(ref.actor_inbox, TimedInbox)
    finally:
        ref.stop(timeout=5)


def test_pykka_inbox_protocol_is_put_get_empty() -> None:
    from pykka._actor import ActorInbox  # private on purpose: this is the contract under test

    wanted = {name for name in vars(ActorInbox) if not name.startswith("_")}
    assert wanted == {"put", "get", "empty"}
    assert all(callable(getattr(TimedInbox, name)) for name in wanted)


def test_pykka_envelopes_carry_message_and_reply_to() -> None:
    from pykka._envelope import Envelope

    assert set(Envelope.__slots__) == {"message", "reply_to"}
    assert set(inspect.signature(Envelope).parameters) == {"message", "reply_to"}


def test_an_own_timers_actor_answers_asks_tells_and_ticks_and_stops(clock: ManualClock) -> None:
    recording = Recording()
    ref = Ticker.start(recording, clock=clock)
    try:
        ref.tell(Arm("t", 100.5))
        assert ref.ask(Barrier(), timeout=5) is None  # pykka's envelope with a reply: answered
        clock.advance(1.0)
        assert recording.wait_for(lambda m: isinstance(m, TimerFired), timeout=5) == TimerFired("t", 100.5)
    finally:
        ref.stop(timeout=5)
    assert not ref.is_alive()
