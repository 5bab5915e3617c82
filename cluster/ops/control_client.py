"""The control client: one request, one reply, over a node's TCP port.

A control connection sends no hello: its first frame is a `control-request`, which the node answers and
then closes (the node's own hello comes first and is skipped). This is what `clusterctl status` uses to
ask live nodes what they see.
"""

from __future__ import annotations

import socket
from typing import Any

from cluster.wire.codec import CodecError, FrameReader, decode, encode, frame
from cluster.wire.messages import ControlReply, ControlRequest, Hello


class ControlError(Exception):
    """The node could not be asked: not listening, timed out, or answered something unreadable."""


class ControlRefused(ControlError):
    """The node answered, and refused the request (its reason is the message)."""


def request(
    host: str, port: int, command: str, args: dict[str, Any] | None = None, *, timeout: float = 2.0
) -> ControlReply:
    payload = frame(encode(ControlRequest(command=command, args=args or {})))
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(payload)
            reply = _read_reply(sock, FrameReader(), f"{host}:{port}")
    except OSError as error:
        raise ControlError(f"{host}:{port}: {error.strerror or error}") from error
    except CodecError as error:
        raise ControlError(f"{host}:{port}: unreadable reply: {error}") from error
    return reply


def _read_reply(sock: socket.socket, reader: FrameReader, where: str) -> ControlReply:
    """The node greets every connection with its hello before it answers; the hello is skipped."""
    while True:
        data = sock.recv(65536)
        if not data:
            raise ControlError(f"{where} closed the connection without a reply")
        for payload in reader.feed(data):
            message = decode(payload)
            if isinstance(message, ControlReply):
                return message
            if not isinstance(message, Hello):
                raise ControlError(f"{where}: expected a control reply, got {type(message).__name__}")
