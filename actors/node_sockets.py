"""A node's sockets: its TCP listener, its UDP socket and an optional metrics listener, bound as one.

They are bound apart from the reactor that serves them so that the forkserver can bind every node's
sockets before any node runs. A cluster whose nodes all start at once otherwise starts in the order the
scheduler happens to run them: at 101 nodes on 2 cores the last node bound its port a second after the
first, the early nodes' dials met no listener (385 refused in one start, each tried again only after a
backoff of up to 2 s), and their first datagrams met no socket. Bound in advance, a dial waits in the
listener's backlog and a datagram in the receive buffer until the node gets to them.

The backlog is deep enough for every node of a large layout to dial one node at once (the manager and
the proxies of Zeek's shape are dialled by every worker); the kernel caps it at `net.core.somaxconn`.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from dataclasses import dataclass

from actors.udp_reader import enable_unreachable_reports, enlarge_receive_buffer

LISTEN_BACKLOG = 1024
METRICS_BACKLOG = 16


class PortInUse(OSError):
    """The node's port is taken: the one start-up error a user most needs named plainly."""


@dataclass(frozen=True, slots=True)
class NodeSockets:
    listener: socket.socket
    datagrams: socket.socket
    metrics_listener: socket.socket | None = None

    def _held(self) -> tuple[socket.socket, ...]:
        held = (self.listener, self.datagrams, self.metrics_listener)
        return tuple(sock for sock in held if sock is not None)

    def fds(self) -> tuple[int, ...]:
        """The descriptors a forked child must keep open."""
        return tuple(sock.fileno() for sock in self._held())

    def close(self) -> None:
        for sock in self._held():
            sock.close()


def bind_node_sockets(host: str, port: int, metrics_port: int | None = None) -> NodeSockets:
    """Bind and listen, all or nothing: a port in use raises `PortInUse` naming it, and closes what was
    bound before it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with contextlib.ExitStack() as bound:  # closes what was bound if a later bind fails
        listener = bound.enter_context(_bind(socket.socket(family, socket.SOCK_STREAM), host, port, "TCP"))
        listener.listen(LISTEN_BACKLOG)
        datagrams = bound.enter_context(_bind(socket.socket(family, socket.SOCK_DGRAM), host, port, "UDP"))
        enable_unreachable_reports(datagrams)
        enlarge_receive_buffer(datagrams)
        metrics_listener = None
        if metrics_port is not None:
            metrics_socket = socket.socket(family, socket.SOCK_STREAM)
            metrics_listener = bound.enter_context(_bind(metrics_socket, host, metrics_port, "metrics"))
            metrics_listener.listen(METRICS_BACKLOG)
        bound.pop_all()
    return NodeSockets(listener, datagrams, metrics_listener)


def _bind(sock: socket.socket, host: str, port: int, kind: str) -> socket.socket:
    if sock.type == socket.SOCK_STREAM:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise PortInUse(error.errno, f"{kind} port {host}:{port} is already in use") from error
        raise
    sock.setblocking(False)
    return sock
