"""Reading the node's UDP socket: datagrams, and the ICMP "port unreachable" reports on what we sent.

The socket is bound by the transport (so a port in use fails start-up at once) and written by whoever
sends, but it has exactly one reader: the membership actor, which waits on it in its own inbox
(`actors.own_timers`). Handing datagrams over from the transport's I/O thread cost two thread wake-ups per
probe, a third of an idle node's CPU.

With IP_RECVERR set, Linux queues ICMP errors of an unconnected UDP socket for reading (ip(7)); without
it they are dropped. A report also sets the socket's pending error, which the next read (`recvmsg`) or
`sendto` on it raises once as ConnectionRefusedError and which a `sendto` pays for by not sending: so
senders retry once (`send_datagram`), and a reader that finds no datagram on a wake-up reads the error
queue, because epoll keeps flagging the socket until that queue is empty.

Each datagram is read with the time the kernel received it (SO_TIMESTAMP, socket(7)), not the time a
starved thread got round to reading it: the inbox hands over a datagram that arrived before a timer's
deadline ahead of that timer (`actors.own_timers`), so an ack that came in time is never judged late
because its receiver was slow to read it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import struct
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from actors.clock import Clock, ManualClock
from actors.metrics import Traffic
from cluster.core.effects import Address
from cluster.core.faults import NetworkFaults
from cluster.wire.seal import DATAGRAM, SEALED_MARK, Opener, Unsealed

log = logging.getLogger(__name__)

# Linux's IP_RECVERR / IPV6_RECVERR: the socket module does not export them.
_RECVERR = {socket.AF_INET: (socket.IPPROTO_IP, 11), socket.AF_INET6: (socket.IPPROTO_IPV6, 25)}
_EXTENDED_ERR = struct.Struct("=IBBBBII")  # struct sock_extended_err: ee_errno, origin, type, code, ...
# SO_TIMESTAMP, Linux only: the socket module lacks it there, where it is 29 (asm-generic/socket.h), and its
# control message carries a struct timeval (two native longs) of the wall-clock receive time.
_SO_TIMESTAMP = 29 if sys.platform.startswith("linux") else None
_TIMEVAL = struct.Struct("@ll")
_TIMESTAMP_SPACE = socket.CMSG_SPACE(_TIMEVAL.size)


@dataclass(frozen=True, slots=True)
class DatagramReceived:
    """`arrived_at`: when the kernel received it, on the reader's clock (the read time where the kernel
    gives no stamp, or the clock is a test's manual one)."""

    address: Address
    payload: bytes
    arrived_at: float


@dataclass(frozen=True, slots=True)
class PortUnreachable:
    """A datagram we sent to `address` drew ICMP "port unreachable": nothing is bound there. `arrived_at`
    is when the report was read."""

    address: Address
    arrived_at: float


RECEIVE_BUFFER = 4 * 1024 * 1024
"""Bytes the kernel may queue for the reader (capped by net.core.rmem_max): a burst of state updates
arrives faster than a Python thread drains it, and what overflows is lost until anti-entropy repairs it."""


def enlarge_receive_buffer(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)


def enable_arrival_stamps(sock: socket.socket) -> None:
    """Without them (not Linux, or refused) a datagram counts as arriving when it is read."""
    if _SO_TIMESTAMP is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMP, 1)


def enable_unreachable_reports(sock: socket.socket) -> None:
    """Not Linux: no reports, and crashed members just take Lifeguard's full time."""
    with contextlib.suppress(OSError, KeyError):
        sock.setsockopt(*_RECVERR[sock.family], 1)


def send_datagram(sock: socket.socket, address: Address, data: bytes) -> bool:
    """A UDP send never blocks a non-blocking socket: a full buffer drops the datagram, as the network may.
    Safe from any thread. Returns whether it was sent."""
    for _attempt in range(2):
        try:
            sock.sendto(data, address)
            return True
        except ConnectionRefusedError:
            # An earlier datagram's ICMP report, surfacing here as the socket's pending error: this one
            # was not sent, and the error is now cleared. Once more.
            continue
        except OSError as error:
            log.debug("sendto %s: %s", address, error)
            return False
    return False


class UdpReader:
    def __init__(
        self,
        sock: socket.socket,
        max_datagram: int,
        traffic: Traffic | None = None,
        faults: Callable[[], NetworkFaults] | None = None,
        *,
        clock: Clock,
        opener: Opener | None = None,
        dropped: Counter[str] | None = None,
    ) -> None:
        """`faults`: the injected faults in force (the reactor's), for datagrams from blocked peers.
        `clock`: the reading actor's, which its timers' deadlines are on: arrival times are given on it.
        `opener`: a sealed cluster's; what does not open is counted in `dropped` by reason and dropped."""
        self.sock = sock
        self._max_datagram = max_datagram
        self._opener = opener
        self.dropped: Counter[str] = dropped if dropped is not None else Counter()
        self._traffic = traffic if traffic is not None else Traffic()
        self._faults = faults
        self._clock = clock
        # A manual clock does not move with the kernel's: its datagrams arrive when they are read.
        self._stamped = not isinstance(clock, ManualClock)
        if self._stamped:
            enable_arrival_stamps(sock)

    def read(self) -> list[DatagramReceived | PortUnreachable]:
        """Everything waiting now, without blocking."""
        events: list[DatagramReceived | PortUnreachable] = []
        size = 0
        now = self._clock.now()
        wall = time.time()
        while True:
            try:
                data, ancillary, _flags, address = self.sock.recvmsg(self._max_datagram + 1, _TIMESTAMP_SPACE)
            except (BlockingIOError, InterruptedError):
                break
            except ConnectionRefusedError:
                continue  # the pending-error flag of a report; the report itself is in the error queue
            except OSError as error:
                log.debug("recvmsg: %s", error)
                break
            source = Address(str(address[0]), int(address[1]))
            if self._faults is not None and not self._faults().admits_from(source):
                continue
            arrived = _arrival(ancillary, now, wall) if self._stamped else now
            size += len(data)
            if self._opener is not None:
                try:
                    data = self._opener.open(DATAGRAM, data)
                except Unsealed as refused:
                    self.dropped[f"datagram unsealed: {refused.reason}"] += 1
                    continue
            elif data[:1] == SEALED_MARK:  # sealed by a node that has a key, and this one runs without
                self.dropped["datagram unsealed: no-key"] += 1
                continue
            events.append(DatagramReceived(source, data, arrived))
        if not events:
            events += self._read_errors(now)
        else:
            self._traffic.udp_received.count += len(events)
            self._traffic.udp_received.bytes += size
        return events

    def _read_errors(self, now: float) -> list[PortUnreachable]:
        reports: list[PortUnreachable] = []
        while True:
            try:
                _data, ancillary, _flags, address = self.sock.recvmsg(1, 512, socket.MSG_ERRQUEUE)
            except (BlockingIOError, InterruptedError):
                return reports
            except OSError as error:
                log.debug("error queue: %s", error)
                return reports
            for level, kind, payload in ancillary:
                if (level, kind) not in _RECVERR.values() or len(payload) < _EXTENDED_ERR.size:
                    continue
                if _EXTENDED_ERR.unpack_from(payload)[0] == errno.ECONNREFUSED:
                    reports.append(PortUnreachable(Address(str(address[0]), int(address[1])), now))


def _arrival(ancillary: list[tuple[int, int, bytes]], now: float, wall: float) -> float:
    """The kernel's receive stamp (wall-clock) as a time on the reader's clock, read at `now` / `wall`:
    `now` less the datagram's age, never later than `now`. A step of the wall clock between the two
    misplaces it by the step; it only orders the datagram among the timers."""
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMP and len(payload) >= _TIMEVAL.size:
            seconds, micros = _TIMEVAL.unpack_from(payload)
            age: float = wall - (seconds + micros / 1e6)
            return now - max(0.0, age)
    return now
