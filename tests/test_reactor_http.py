"""The reactor serves the metrics page on the node's own port (or its metrics port) without the transport
hearing of the scrape, and still announces every connection that speaks the cluster protocol."""

from __future__ import annotations

import queue
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from actors.reactor import ConnAccepted, FramesReceived, Reactor
from actors.testkit import free_ports
from cluster.wire.codec import frame

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def reactor() -> Iterator[tuple[Reactor, queue.Queue[Any], int, int]]:
    port, metrics_port = free_ports(2)
    reactor = Reactor(
        "127.0.0.1",
        port,
        max_frame=1 << 20,
        metrics_port=metrics_port,
        render_metrics=lambda: b"pycluster_up 1\n",
        quiet_limit=0.5,
    )
    seen: queue.Queue[Any] = queue.Queue()
    reactor.start(seen.put)
    try:
        yield reactor, seen, port, metrics_port
    finally:
        reactor.stop()


def get(port: int, request: bytes = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_a_scrape_on_the_node_port_is_answered_and_never_reaches_the_transport(reactor: Any) -> None:
    _, seen, port, _ = reactor
    response = get(port)
    assert response.startswith(b"HTTP/1.1 200 OK") and response.endswith(b"pycluster_up 1\n")
    assert get(port, b"GET /x HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 404")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as peer:
        peer.sendall(frame(b"hello"))
        accepted = seen.get(timeout=5)
        assert isinstance(accepted, ConnAccepted)  # the first thing the transport hears: no scrape before
        assert seen.get(timeout=5) == FramesReceived(accepted.conn_id, (b"hello",))


def test_the_metrics_port_serves_the_page_too(reactor: Any) -> None:
    _, seen, _, metrics_port = reactor
    assert get(metrics_port).endswith(b"pycluster_up 1\n")
    assert seen.empty()


def test_a_connection_that_says_nothing_is_closed_after_the_quiet_limit(reactor: Any) -> None:
    _, seen, port, _ = reactor
    with socket.create_connection(("127.0.0.1", port), timeout=5) as silent:
        assert silent.recv(1) == b""  # closed by the node, within the socket's 5 s timeout
    with socket.create_connection(("127.0.0.1", port), timeout=5) as slow:
        slow.sendall(b"GET /metr")  # a request never finished
        assert slow.recv(1) == b""
    assert seen.empty()
