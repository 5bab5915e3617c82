"""A node's sockets bound in advance (as the forkserver binds them before any node runs): what peers send
before the node runs waits for it, and a forked child keeps its own sockets and nothing else."""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from actors.node_sockets import PortInUse, bind_node_sockets
from actors.reactor import ConnAccepted, FramesReceived, Reactor
from actors.testkit import free_ports
from cluster.wire.codec import frame

pytestmark = pytest.mark.timeout(30)


def test_a_dial_and_a_datagram_sent_before_the_node_runs_wait_for_it() -> None:
    port = free_ports(1)[0]
    sockets = bind_node_sockets("127.0.0.1", port)
    early = socket.create_connection(("127.0.0.1", port), timeout=5)  # nobody accepts yet: the backlog
    early.sendall(frame(b"hello"))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(b"ping", ("127.0.0.1", port))
    reactor = Reactor("127.0.0.1", port, max_frame=1024, sockets=sockets)
    seen: queue.Queue[Any] = queue.Queue()
    reactor.start(seen.put)
    try:
        assert isinstance(seen.get(timeout=5), ConnAccepted)
        received = seen.get(timeout=5)
        assert isinstance(received, FramesReceived) and received.payloads == (b"hello",)
        sockets.datagrams.settimeout(5)
        assert sockets.datagrams.recv(64) == b"ping"
    finally:
        reactor.stop()
        early.close()
        sockets.close()


def test_a_taken_port_is_named_and_nothing_stays_bound() -> None:
    tcp_port, udp_port = free_ports(2)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", udp_port))
        with pytest.raises(PortInUse, match=f"UDP port 127.0.0.1:{udp_port} is already in use"):
            bind_node_sockets("127.0.0.1", udp_port)
    # the TCP listener bound before the UDP socket failed was closed with it
    bind_node_sockets("127.0.0.1", udp_port).close()
    sockets = bind_node_sockets("127.0.0.1", tcp_port)
    try:
        with pytest.raises(PortInUse, match=f"TCP port 127.0.0.1:{tcp_port} is already in use"):
            bind_node_sockets("127.0.0.1", tcp_port)
    finally:
        sockets.close()


def test_a_forked_node_keeps_its_own_sockets_and_closes_every_other_descriptor() -> None:
    script = textwrap.dedent(
        """
        import os, sys
        from actors.forkserver import _close_descriptors_but
        from actors.node_sockets import bind_node_sockets
        from actors.testkit import free_ports
        own = bind_node_sockets("127.0.0.1", free_ports(1)[0])
        others = [os.open(os.devnull, os.O_RDONLY) for _ in range(3)]
        _close_descriptors_but(own.fds())
        def is_open(fd):
            try:
                os.fstat(fd)
                return True
            except OSError:
                return False
        print(all(is_open(fd) for fd in own.fds()), any(is_open(fd) for fd in others))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=20, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False"]
