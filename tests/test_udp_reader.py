"""Reading the node's UDP socket on real loopback sockets: datagrams, and ICMP "port unreachable" reports."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator

import pytest

from actors.clock import ManualClock, MonotonicClock
from actors.testkit import free_ports
from actors.udp_reader import (
    DatagramReceived,
    PortUnreachable,
    UdpReader,
    enable_unreachable_reports,
    send_datagram,
)

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def node() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    enable_unreachable_reports(sock)
    yield sock
    sock.close()


@pytest.fixture
def peer() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()


def closed_port() -> int:
    """A UDP port that was bound a moment ago and is free now: nothing listens there."""
    (port,) = free_ports(1)
    return port


def read_when_ready(reader: UdpReader) -> list[DatagramReceived | PortUnreachable]:
    """What one wake-up of the owning actor would read (it waits on readability, as here)."""
    ready, _, _ = select.select([reader.sock], [], [], 5)
    assert ready, "nothing arrived"
    return reader.read()


def test_datagrams_are_read_with_their_sender(node: socket.socket, peer: socket.socket) -> None:
    reader = UdpReader(node, 1400, clock=MonotonicClock())
    peer.sendto(b"one", node.getsockname())
    peer.sendto(b"two", node.getsockname())
    events = read_when_ready(reader)
    while len(events) < 2:
        events += read_when_ready(reader)
    assert [(e.address, e.payload) for e in events if isinstance(e, DatagramReceived)] == [
        (peer.getsockname(), b"one"),
        (peer.getsockname(), b"two"),
    ]


def test_a_datagram_is_read_with_the_time_it_arrived_not_the_time_it_was_read(
    node: socket.socket, peer: socket.socket
) -> None:
    """The kernel's stamp, on the reader's clock: a starved reader must not make an ack look late. The
    first stamps after a socket enables them may be taken at the read instead (the kernel turns stamping
    on lazily), so a few datagrams are tried."""
    clock = MonotonicClock()
    reader = UdpReader(node, 1400, clock=clock)
    ages = []
    for attempt in range(5):
        peer.sendto(b"ack %d" % attempt, node.getsockname())
        time.sleep(0.05)  # the datagram waits unread, as behind a busy actor
        (event,) = read_when_ready(reader)
        assert isinstance(event, DatagramReceived) and event.arrived_at <= clock.now()
        ages.append(clock.now() - event.arrived_at)
        if ages[-1] >= 0.04:
            break
    assert max(ages) >= 0.04, f"arrivals not stamped: ages {ages}"


def test_with_a_manual_clock_a_datagram_arrives_when_it_is_read(
    node: socket.socket, peer: socket.socket
) -> None:
    """The kernel's stamps are real time, which a test's manual clock does not follow."""
    clock = ManualClock(start=500.0)
    reader = UdpReader(node, 1400, clock=clock)
    peer.sendto(b"ack", node.getsockname())
    (event,) = read_when_ready(reader)
    assert isinstance(event, DatagramReceived) and event.arrived_at == 500.0


def test_a_datagram_to_a_closed_port_is_reported_unreachable(node: socket.socket) -> None:
    reader = UdpReader(node, 1400, clock=MonotonicClock())
    port = closed_port()
    send_datagram(node, ("127.0.0.1", port), b"ping")
    assert [e.address for e in read_when_ready(reader)] == [("127.0.0.1", port)]
    assert reader.read() == []


def test_a_send_that_takes_the_error_flag_is_retried_and_the_report_still_read(
    node: socket.socket, peer: socket.socket
) -> None:
    """The report sets the socket's pending error, which the next send raises instead of sending; that
    leaves the reader a wake-up with no datagram, on which it must read the error queue, or epoll would
    keep waking it (a busy loop, seen live at 99 % CPU)."""
    reader = UdpReader(node, 1400, clock=MonotonicClock())
    port = closed_port()
    send_datagram(node, ("127.0.0.1", port), b"into the void")
    send_datagram(node, peer.getsockname(), b"hello")
    assert peer.recvfrom(100)[0] == b"hello"
    (report,) = read_when_ready(reader)
    assert isinstance(report, PortUnreachable) and report.address == ("127.0.0.1", port)
    ready, _, _ = select.select([node], [], [], 0)
    assert not ready, "the error queue was left full"
