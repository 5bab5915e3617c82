"""The reactor's UDP side on real loopback sockets: datagrams in, and ICMP "port unreachable" reports."""

from __future__ import annotations

import queue
import select
import socket
from collections.abc import Iterator

import pytest

from actors.reactor import DatagramReceived, PortUnreachable, Reactor
from actors.testkit import free_ports

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def reactor() -> Iterator[tuple[Reactor, queue.Queue[object]]]:
    (port,) = free_ports(1)
    reactor = Reactor("127.0.0.1", port, max_frame=1 << 16, max_datagram=1400)
    seen: queue.Queue[object] = queue.Queue()
    reactor.set_datagram_sink(seen.put)
    reactor.start(seen.put)
    try:
        yield reactor, seen
    finally:
        reactor.stop()


def closed_port() -> int:
    """A UDP port that was bound a moment ago and is free now: nothing listens there."""
    (port,) = free_ports(1)
    return port


def test_a_datagram_to_a_closed_port_is_reported_unreachable(
    reactor: tuple[Reactor, queue.Queue[object]],
) -> None:
    node, seen = reactor
    port = closed_port()
    node.send_datagram(("127.0.0.1", port), b"ping")
    assert seen.get(timeout=5) == PortUnreachable(("127.0.0.1", port))


def test_datagrams_still_flow_after_a_report(reactor: tuple[Reactor, queue.Queue[object]]) -> None:
    """The ICMP report also sets the socket's pending error, which the next send or receive would
    otherwise swallow a datagram for."""
    node, seen = reactor
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(5)
        for _ in range(3):
            node.send_datagram(("127.0.0.1", closed_port()), b"into the void")
            node.send_datagram(peer.getsockname(), b"hello")
            assert peer.recvfrom(100)[0] == b"hello"
            peer.sendto(b"back", node.datagrams.getsockname())
        received = []
        while len(received) < 3:
            event = seen.get(timeout=5)
            if isinstance(event, DatagramReceived):
                received.append(event.payload)
        assert received == [b"back"] * 3


def test_reports_are_read_even_when_a_send_took_the_pending_error(
    reactor: tuple[Reactor, queue.Queue[object]],
) -> None:
    """Sends from another thread clear the socket's error flag, leaving the reactor a wake-up with nothing
    to receive; it must still drain the error queue, or epoll keeps waking it (a busy loop, seen live)."""
    node, seen = reactor
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        for _ in range(5):
            node.send_datagram(("127.0.0.1", closed_port()), b"ping")
            node.send_datagram(peer.getsockname(), b"takes the error flag")
    # The kernel's ICMP rate limit may swallow some reports of a burst; one is enough to go on.
    assert isinstance(seen.get(timeout=5), PortUnreachable)
    poller = select.poll()
    poller.register(node.datagrams.fileno(), select.POLLIN)
    for _ in range(100):
        if not poller.poll(20):
            return
    pytest.fail("the error queue was left full: the reactor would spin")
