"""The control client: one request, one reply, over a node's TCP port.

A control connection sends no hello: its first frame is a `control-request`, which the node answers and
then closes. This is what `clusterctl status` uses to ask live nodes what they see. In a sealed cluster
the request and the reply are sealed with the cluster's keyring like every other frame.
"""

from __future__ import annotations

import socket
from typing import Any

from cluster.wire.codec import MAX_FRAME, CodecError, FrameReader, decode, encode, frame
from cluster.wire.messages import ControlReply, ControlRequest, Hello
from cluster.wire.seal import FRAME, OVERHEAD, Sealing, Unsealed


class ControlError(Exception):
    """The node could not be asked: not listening, timed out, or answered something unreadable."""


class ControlRefused(ControlError):
    """The node answered, and refused the request (its reason is the message)."""


def request(
    host: str,
    port: int,
    command: str,
    args: dict[str, Any] | None = None,
    *,
    timeout: float = 2.0,
    sealing: Sealing | None = None,
) -> ControlReply:
    encoded = encode(ControlRequest(command=command, args=args or {}))
    if sealing is not None:
        encoded = sealing.sealer.seal(FRAME, encoded)
    payload = frame(encoded, max_size=MAX_FRAME + OVERHEAD)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(payload)
            reply = _read_reply(sock, FrameReader(MAX_FRAME + OVERHEAD), f"{host}:{port}", sealing)
    except OSError as error:
        raise ControlError(f"{host}:{port}: {error.strerror or error}") from error
    except CodecError as error:
        raise ControlError(f"{host}:{port}: unreadable reply: {error}") from error
    return reply


def _told_in_the_clear(payload: bytes) -> ControlReply | None:
    try:
        message = decode(payload)
    except CodecError:
        return None
    return message if isinstance(message, ControlReply) and not message.ok else None


def _read_reply(
    sock: socket.socket, reader: FrameReader, where: str, sealing: Sealing | None
) -> ControlReply:
    """The reply (a hello, which an older node greeted every connection with, is skipped)."""
    while True:
        data = sock.recv(65536)
        if not data:
            raise ControlError(f"{where} closed the connection without a reply")
        for payload in reader.feed(data):
            if sealing is not None:
                try:
                    payload = sealing.frames.open(FRAME, payload)
                except Unsealed as refused:
                    told = _told_in_the_clear(payload)
                    if told is not None:
                        return told  # a sealed node that could not open our request says so in the clear
                    raise ControlError(
                        f"{where}: the reply does not open with this keyring ({refused})"
                    ) from None
            message = decode(payload)
            if isinstance(message, ControlReply):
                return message
            if not isinstance(message, Hello):
                raise ControlError(f"{where}: expected a control reply, got {type(message).__name__}")
