"""The reactor's bound on what waits for a connected peer: a peer that stops reading makes this node drop
new application messages (reported), not hold them without bound."""

from __future__ import annotations

import queue
import socket
from typing import Any

import pytest

from actors.reactor import ConnEstablished, Reactor, SendsDropped
from actors.testkit import free_ports

pytestmark = pytest.mark.timeout(30)


def test_a_peer_that_does_not_read_gets_its_new_messages_dropped_and_reported() -> None:
    sink = socket.socket()
    sink.bind(("127.0.0.1", 0))
    sink.listen(1)  # accepts (the kernel does) but never reads
    reactor = Reactor("127.0.0.1", free_ports(1)[0], max_frame=4 * 1024 * 1024)
    seen: queue.Queue[Any] = queue.Queue()
    reactor.start(seen.put)
    try:
        reactor.dial(1, "127.0.0.1", sink.getsockname()[1])
        assert isinstance(seen.get(timeout=5), ConnEstablished)
        chunk = b"x" * (1024 * 1024)
        dropped = None
        for _ in range(64):  # the kernel's buffers fill within a few MB; then ours passes the bound
            reactor.send_bounded(1, chunk, limit=4096, count=10, tag=("worker-2", "router"))
            try:
                dropped = seen.get(timeout=0.2)
                break
            except queue.Empty:
                continue
        assert dropped == SendsDropped(1, 10, ("worker-2", "router"))
        reactor.send(1, b"y")  # what is not bounded (hello, gossip) still queues
    finally:
        reactor.stop()
        sink.close()
