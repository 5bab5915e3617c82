"""Reading the node's UDP socket on real loopback sockets: datagrams, and ICMP "port unreachable" reports."""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator

import pytest

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
    reader = UdpReader(node, 1400)
    peer.sendto(b"one", node.getsockname())
    peer.sendto(b"two", node.getsockname())
    events = read_when_ready(reader)
    while len(events) < 2:
        events += read_when_ready(reader)
    assert events == [
        DatagramReceived(peer.getsockname(), b"one"),
        DatagramReceived(peer.getsockname(), b"two"),
    ]


def test_a_datagram_to_a_closed_port_is_reported_unreachable(node: socket.socket) -> None:
    reader = UdpReader(node, 1400)
    port = closed_port()
    send_datagram(node, ("127.0.0.1", port), b"ping")
    assert read_when_ready(reader) == [PortUnreachable(("127.0.0.1", port))]
    assert reader.read() == []


def test_a_send_that_takes_the_error_flag_is_retried_and_the_report_still_read(
    node: socket.socket, peer: socket.socket
) -> None:
    """The report sets the socket's pending error, which the next send raises instead of sending; that
    leaves the reader a wake-up with no datagram, on which it must read the error queue, or epoll would
    keep waking it (a busy loop, seen live at 99 % CPU)."""
    reader = UdpReader(node, 1400)
    port = closed_port()
    send_datagram(node, ("127.0.0.1", port), b"into the void")
    send_datagram(node, peer.getsockname(), b"hello")
    assert peer.recvfrom(100)[0] == b"hello"
    assert read_when_ready(reader) == [PortUnreachable(("127.0.0.1", port))]
    ready, _, _ = select.select([node], [], [], 0)
    assert not ready, "the error queue was left full"
