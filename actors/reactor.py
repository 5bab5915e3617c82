"""The transport's I/O thread: one selector over the node's TCP listener and its streams.

The transport actor must never block on a socket, and pykka gives it no way to wait on file descriptors,
so TCP work happens here. The node's UDP socket is held here too (bound with the listener by
`actors.node_sockets`, so a port in use fails start-up before any actor runs), but read by the membership
actor itself (`actors.udp_reader`) and written from any thread.
Commands arrive through a queue plus a wakeup pipe; what happens on the sockets goes back to the actor as
messages (`deliver`). Frame boundaries are found here, so an oversized length prefix closes the connection
before its body is ever buffered.

The node's metrics page is served here too (`actors.http_page`): on the node's port, an accepted
connection is announced to the transport only once its first byte shows it is not an HTTP request, and a
scrape is answered and closed without the transport ever hearing of it; on a `metrics_port`, every
connection is a scrape. Connections that say nothing, or never finish their request, are closed after
`quiet_limit` seconds.

Until the transport says who a connection is (`identified`: a valid hello, or a control request), it is
held to `identify_limit` seconds, to frames of `PRE_IDENTIFIED_FRAME` bytes, and at most `max_unidentified`
such connections are held at once, the oldest closed beyond. Anyone who can reach the port gets that
far, so without these bounds 40 half-sent 4 MiB frames held 180 MB of one node's memory and 500 idle
connections stayed open for good. At the descriptor limit, accepting pauses (`ACCEPT_PAUSE`) instead of
failing in a loop.
"""

from __future__ import annotations

import collections
import errno
import heapq
import itertools
import logging
import os
import random
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from actors import http_page
from actors.metrics import Traffic
from actors.node_sockets import NodeSockets, bind_node_sockets
from actors.udp_reader import send_datagram
from actors.wake_pipe import WakePipe
from cluster.core.effects import Address
from cluster.core.faults import NetworkFaults
from cluster.wire.codec import CodecError, FrameReader
from cluster.wire.seal import DATAGRAM, OVERHEAD, Sealer

log = logging.getLogger(__name__)

RECV_SIZE = 65536
MAX_UNIDENTIFIED = 64
"""Accepted connections held while they are not known to be peers (no byte yet, an HTTP request, or no
valid hello yet): beyond this many, the oldest is closed, so that silent connections cannot pile up. A
node raises it by the number of nodes that may dial it at once (`Reactor(max_unidentified=...)`)."""

PRE_IDENTIFIED_FRAME = 1024 * 1024
"""The largest frame taken from a connection that has not said who it is: a hello is a few hundred bytes
and a control request is bounded by this, where an identified peer's frames may reach `max_frame`."""

ACCEPT_PAUSE = 0.1
"""How long accepting waits after it failed for want of descriptors (EMFILE, ENFILE)."""


# -- what the reactor tells the transport actor ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnAccepted:
    conn_id: int
    address: Address


@dataclass(frozen=True, slots=True)
class ConnEstablished:
    conn_id: int


@dataclass(frozen=True, slots=True)
class ConnClosed:
    conn_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class SendsDropped:
    """`count` messages (one `send_bounded`) were not queued on `conn_id`: its outgoing buffer was over the
    bound given. `tag` is what the sender passed, so the report finds its way back."""

    conn_id: int
    count: int
    tag: Any


@dataclass(frozen=True, slots=True)
class FramesReceived:
    """The frames one read completed, in order: one hand-off for however many there are."""

    conn_id: int
    payloads: tuple[bytes, ...]


def _not_started(event: Any) -> None:
    raise RuntimeError(f"reactor event {event!r} before start")


def _no_metrics() -> bytes:
    raise http_page.NotServed()


@dataclass(slots=True)
class _Stream:
    sock: socket.socket
    reader: FrameReader
    connecting: bool = False
    closing: bool = False
    outgoing: bytearray = field(default_factory=bytearray)
    address: Address | None = None
    announced: bool = True  # the transport knows this connection (and hears when it closes)
    http: bytearray | None = None  # the request head so far, on a connection that is a scrape


class Reactor:
    """Owns every socket of one node; everything but `start`/`stop` is called from other threads."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        max_frame: int,
        metrics_port: int | None = None,
        traffic: Traffic | None = None,
        render_metrics: Callable[[], bytes] | None = None,
        quiet_limit: float = 5.0,
        identify_limit: float | None = None,
        max_unidentified: int = MAX_UNIDENTIFIED,
        sockets: NodeSockets | None = None,
        sealer: Sealer | None = None,
    ) -> None:
        """`render_metrics` makes the metrics page; without it, scrapes are answered 404. `sockets` are
        the node's sockets bound in advance (by the forkserver); without them they are bound here."""
        self._deliver: Callable[[Any], object] = _not_started
        # A sealed cluster's frames are `OVERHEAD` longer than what they carry; every datagram sent is
        # sealed here, in the sending thread, on its way out (`cluster.wire.seal`).
        self._sealer = sealer
        overhead = OVERHEAD if sealer is not None else 0
        self._max_frame = max_frame + overhead
        self._stranger_frame = min(max_frame, PRE_IDENTIFIED_FRAME) + overhead
        self._traffic = traffic if traffic is not None else Traffic()  # counted whether or not shown
        self._render = render_metrics
        self._quiet_limit = quiet_limit
        self._identify_limit = identify_limit if identify_limit is not None else quiet_limit
        self._max_unidentified = max_unidentified
        self._unidentified: dict[int, float] = {}  # conn_id -> when it was accepted, oldest first
        # Listeners taken off the selector for want of descriptors: listener -> (tag, when to resume)
        self._paused: dict[socket.socket, tuple[str, float]] = {}
        self._accept_failures = 0
        # Injected faults (cluster.core.faults): an immutable value, read by every sending thread.
        self.faults = NetworkFaults()
        self._fault_rng = random.Random(int.from_bytes(os.urandom(8), "big"))
        self._later: list[tuple[float, int, Any, Any]] = []  # (due, seq, conn_id or address, data)
        self._later_seq = itertools.count()
        self._last_due: dict[int, float] = {}  # per connection: delayed bytes leave in order
        self._selector = selectors.DefaultSelector()
        self._commands: collections.deque[tuple[Any, ...]] = collections.deque()
        self._wake = WakePipe()
        self._streams: dict[int, _Stream] = {}
        self._accept_ids = itertools.count(-1, -1)  # negative: the peering core numbers dials positively
        self._thread: threading.Thread | None = None
        self._running = False
        self._woken = False
        if sockets is None:
            sockets = bind_node_sockets(host, port, metrics_port)
        self.listener = sockets.listener
        self.datagrams = sockets.datagrams
        self.metrics_listener = sockets.metrics_listener
        self._selector.register(self._wake, selectors.EVENT_READ, "wake")
        self._selector.register(self.listener, selectors.EVENT_READ, "listen")
        if self.metrics_listener is not None:
            self._selector.register(self.metrics_listener, selectors.EVENT_READ, "listen-http")

    # -- commands (any thread) ------------------------------------------------------------------

    def start(self, deliver: Callable[[Any], object]) -> None:
        """Binding happens in the constructor, so a port in use fails start-up before any actor runs."""
        self._deliver = deliver
        self._running = True
        self._thread = threading.Thread(target=self._run, name="transport-reactor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._command("stop")
        if self._thread is not None:
            self._thread.join(timeout=5)

    def dial(self, conn_id: int, host: str, port: int) -> None:
        self._command("dial", conn_id, host, port)

    def send(self, conn_id: int, data: bytes) -> None:
        self._command("send", conn_id, data)

    def identified(self, conn_id: int) -> None:
        """The transport knows who is on `conn_id` (a valid hello, or a control request): the bounds on
        connections not yet identified no longer apply to it."""
        self._command("identified", conn_id)

    def send_bounded(self, conn_id: int, data: bytes, *, limit: int, count: int, tag: Any) -> None:
        """Queue `data` (`count` messages) unless more than `limit` bytes already wait on the stream: a
        slow or stuck peer must not make this node hold without bound what its actors keep sending. What
        is refused is reported as `SendsDropped`; nothing else on the stream is affected."""
        self._command("send-bounded", conn_id, data, limit, count, tag)

    def close(self, conn_id: int) -> None:
        self._command("close", conn_id)

    def set_faults(self, faults: NetworkFaults) -> None:
        """From now on, drop and hold what is sent (and drop what arrives from blocked addresses) as
        `faults` say. TCP partitions are the transport's: it closes those connections itself."""
        self.faults = faults

    def send_datagram(self, address: Address, data: bytes) -> None:
        """Sent from the caller's thread: waking the reactor for it would cost more than the send. Sealed
        here, once an injected loss has spared it."""
        faults = self.faults
        wait = faults.datagram_fate(address, self._fault_rng) if faults.active else 0.0
        if wait is None:
            self._traffic.sending().dropped += 1
            return
        if self._sealer is not None:
            data = self._sealer.seal(DATAGRAM, data)
        if wait > 0:
            self._command("later", time.monotonic() + wait, address, data)
            return
        self._sendto(address, data)

    def _sendto(self, address: Address, data: bytes) -> None:
        """Send one datagram now and count it in the calling thread's tally."""
        if send_datagram(self.datagrams, address, data):
            tally = self._traffic.sending()
            tally.count += 1
            tally.bytes += len(data)

    def _command(self, *command: Any) -> None:
        self._commands.append(command)
        if not self._woken:
            # One wake-up per burst of commands: the loop clears the flag before it runs them (and
            # after it drained the pipe), so a command queued after that point wakes it again.
            self._woken = True
            self._wake.wake()

    # -- the loop (reactor thread) --------------------------------------------------------------

    def _run(self) -> None:
        try:
            while self._running:
                # A clock is needed only for connections not yet known to be peers (closed when quiet)
                # and for traffic held back by an injected delay.
                timeout = 1.0 if self._unidentified or self._paused else None
                if self._later:
                    timeout = max(0.0, min(timeout or 1.0, self._later[0][0] - time.monotonic()))
                for key, mask in self._selector.select(timeout):
                    self._on_ready(key, mask)
                self._run_commands()
                if self._unidentified:
                    self._close_quiet(time.monotonic())
                if self._paused:
                    self._resume_accepting(time.monotonic())
                if self._later:
                    self._send_due(time.monotonic())
        finally:
            self._shutdown()

    def _on_ready(self, key: selectors.SelectorKey, mask: int) -> None:
        tag = key.data
        if tag == "wake":
            # Drained before the flag is cleared: a producer that saw the flag still set has queued its
            # command already, and the commands run after this.
            self._wake.drain()
            self._woken = False
        elif tag == "listen":
            self._accept(self.listener, http=False)
        elif tag == "listen-http":
            assert self.metrics_listener is not None
            self._accept(self.metrics_listener, http=True)
        else:
            conn_id: int = tag
            if mask & selectors.EVENT_WRITE:
                self._on_writable(conn_id)
            if mask & selectors.EVENT_READ and conn_id in self._streams:
                self._on_readable(conn_id)

    def _run_commands(self) -> None:
        while self._commands:
            name, *args = self._commands.popleft()
            if name == "stop":
                self._running = False
            elif name == "dial":
                self._dial(*args)
            elif name == "send":
                self._queue(*args)
            elif name == "send-bounded":
                self._queue_bounded(*args)
            elif name == "close":
                self._close_when_flushed(*args)
            elif name == "identified":
                self._identified(*args)
            elif name == "later":
                due, address, data = args
                heapq.heappush(self._later, (due, next(self._later_seq), address, data))

    def _accept(self, listener: socket.socket, *, http: bool) -> None:
        while True:
            try:
                sock, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                if error.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self._pause_accepting(listener, "listen-http" if http else "listen", error)
                else:
                    log.warning("accept failed: %s", error)
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn_id = next(self._accept_ids)
            self._traffic.tcp_accepts += 1
            # Announced to the transport at its first byte, which tells a peer from a scrape: every
            # client of the cluster protocol speaks first (a dialling peer's hello, a control request).
            self._streams[conn_id] = _Stream(
                sock,
                FrameReader(max_size=self._stranger_frame),
                address=Address(str(address[0]), int(address[1])),
                announced=False,
                http=bytearray() if http else None,
            )
            self._selector.register(sock, selectors.EVENT_READ, conn_id)
            self._hold_unannounced(conn_id)

    def _dial(self, conn_id: int, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code = sock.connect_ex((host, port))
        self._traffic.tcp_connects += 1
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            sock.close()
            self._deliver(ConnClosed(conn_id, f"connect to {host}:{port}: {os.strerror(code)}"))
            return
        self._streams[conn_id] = _Stream(sock, FrameReader(max_size=self._max_frame), connecting=True)
        self._selector.register(sock, selectors.EVENT_WRITE, conn_id)

    def _on_writable(self, conn_id: int) -> None:
        stream = self._streams[conn_id]
        if stream.connecting:
            code = stream.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code != 0:
                self._drop(conn_id, f"connect: {os.strerror(code)}")
                return
            stream.connecting = False
            self._deliver(ConnEstablished(conn_id))
        self._flush(conn_id)

    def _on_readable(self, conn_id: int) -> None:
        stream = self._streams[conn_id]
        try:
            data = stream.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:
            self._drop(conn_id, f"recv: {error.strerror or error}")
            return
        if not data:
            self._drop(conn_id, "closed by peer")
            return
        self._traffic.tcp_received.bytes += len(data)
        if not stream.announced and stream.http is None:
            if data[:1] == b"G":  # "GET ...": as a length prefix, over a gigabyte
                stream.http = bytearray()
            else:
                stream.announced = True
                assert stream.address is not None
                self._deliver(ConnAccepted(conn_id, stream.address))
        if stream.http is not None:
            self._read_http(conn_id, stream, data)
            return
        try:
            frames = stream.reader.feed(data)
        except CodecError as error:
            self._drop(conn_id, f"bad frame: {error}")
            return
        if frames:
            self._deliver(FramesReceived(conn_id, tuple(frames)))

    def _queue(self, conn_id: int, data: bytes, *, held: bool = False) -> None:
        stream = self._streams.get(conn_id)
        if stream is None or stream.closing:
            return
        delay = self.faults.delay
        if delay > 0 and not held:
            due = max(time.monotonic() + delay, self._last_due.get(conn_id, 0.0))
            self._last_due[conn_id] = due
            heapq.heappush(self._later, (due, next(self._later_seq), conn_id, data))
            return
        stream.outgoing += data
        if not stream.connecting:
            self._flush(conn_id)

    def _queue_bounded(self, conn_id: int, data: bytes, limit: int, count: int, tag: Any) -> None:
        stream = self._streams.get(conn_id)
        if stream is not None and len(stream.outgoing) > limit:
            self._deliver(SendsDropped(conn_id, count, tag))
            return
        self._queue(conn_id, data)

    def _flush(self, conn_id: int) -> None:
        stream = self._streams.get(conn_id)
        if stream is None:
            return
        while stream.outgoing:
            try:
                sent = stream.sock.send(stream.outgoing)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as error:
                self._drop(conn_id, f"send: {error.strerror or error}")
                return
            del stream.outgoing[:sent]
            self._traffic.tcp_sent.bytes += sent
        if not stream.outgoing and stream.closing:
            self._drop(conn_id, "closed by this node")
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if stream.outgoing else 0)
        self._selector.modify(stream.sock, events, conn_id)

    def _close_when_flushed(self, conn_id: int, *, held: bool = False) -> None:
        stream = self._streams.get(conn_id)
        if stream is None:
            return
        due = self._last_due.get(conn_id, 0.0)
        if not held and due > time.monotonic():
            # Bytes an injected delay holds back go first: the close waits in line behind them.
            heapq.heappush(self._later, (due, next(self._later_seq), conn_id, None))
            return
        stream.closing = True
        if stream.connecting or not stream.outgoing:
            self._drop(conn_id, "closed by this node")

    def _drop(self, conn_id: int, reason: str) -> None:
        stream = self._streams.pop(conn_id, None)
        if stream is None:
            return
        self._selector.unregister(stream.sock)
        stream.sock.close()
        self._unidentified.pop(conn_id, None)
        self._last_due.pop(conn_id, None)
        if stream.announced:
            self._deliver(ConnClosed(conn_id, reason))

    def _send_due(self, now: float) -> None:
        """What an injected delay held back and is due now: datagrams go out, stream bytes join their
        connection's queue (in the order they were sent)."""
        while self._later and self._later[0][0] <= now:
            _due, _seq, target, data = heapq.heappop(self._later)
            if isinstance(target, int) and data is None:
                self._close_when_flushed(target, held=True)
            elif isinstance(target, int):
                self._queue(target, data, held=True)
            else:
                self._sendto(target, data)

    # -- connections the transport does not know of: not yet spoken, or scrapes ---------------

    def _hold_unannounced(self, conn_id: int) -> None:
        self._unidentified[conn_id] = time.monotonic()
        while len(self._unidentified) > self._max_unidentified:
            self._drop(next(iter(self._unidentified)), "too many connections not yet identified")

    def _identified(self, conn_id: int) -> None:
        if self._unidentified.pop(conn_id, None) is None:
            return
        stream = self._streams.get(conn_id)
        if stream is not None:
            stream.reader.max_size = self._max_frame

    def _close_quiet(self, now: float) -> None:
        """Close what did not say who it is in time: a silent connection or an unfinished scrape after
        `quiet_limit`, one that spoke but never identified itself after `identify_limit`."""
        for conn_id, accepted in list(self._unidentified.items()):
            waited = now - accepted
            if waited < min(self._quiet_limit, self._identify_limit):
                break  # oldest first: the rest are younger
            stream = self._streams.get(conn_id)
            spoke = stream is not None and stream.announced
            if spoke and waited >= self._identify_limit:
                self._drop(conn_id, "did not identify itself in time")
            elif not spoke and waited >= self._quiet_limit:
                self._drop(conn_id, "said nothing in time")

    def _pause_accepting(self, listener: socket.socket, tag: str, error: OSError) -> None:
        """Out of descriptors: the pending connection stays in the backlog, and the listener, still
        readable, made the loop spin at 94 % CPU writing a log line per turn (2 million in two minutes).
        The oldest connection not yet identified is closed to make room for a peer, and accepting waits
        `ACCEPT_PAUSE`."""
        self._accept_failures += 1
        if self._accept_failures == 1 or self._accept_failures % 100 == 0:
            log.warning("accept failed (%d times so far): %s; pausing", self._accept_failures, error)
        if self._unidentified:
            self._drop(next(iter(self._unidentified)), "descriptors ran out")
        if listener not in self._paused:
            self._selector.unregister(listener)
        self._paused[listener] = (tag, time.monotonic() + ACCEPT_PAUSE)

    def _resume_accepting(self, now: float) -> None:
        for listener, (tag, until) in list(self._paused.items()):
            if now >= until:
                del self._paused[listener]
                self._selector.register(listener, selectors.EVENT_READ, tag)

    def _read_http(self, conn_id: int, stream: _Stream, data: bytes) -> None:
        assert stream.http is not None
        if stream.closing:
            return  # answered; whatever else the client sends is ignored
        stream.http += data
        if not http_page.request_complete(stream.http):
            return
        try:
            response = http_page.answer(stream.http, self._render or _no_metrics)
        except Exception:  # a page that fails to render must not take the node's I/O thread with it
            log.exception("rendering the metrics page failed")
            response = http_page.server_error()
        self._traffic.http_requests += 1
        stream.outgoing += response
        stream.closing = True
        self._flush(conn_id)

    def _shutdown(self) -> None:
        for conn_id in list(self._streams):
            stream = self._streams.pop(conn_id)
            stream.sock.close()
        self._selector.close()
        self.listener.close()
        if self.metrics_listener is not None:
            self.metrics_listener.close()
        self.datagrams.close()
        self._wake.close()
