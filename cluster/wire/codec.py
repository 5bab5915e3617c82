"""The msgpack codec and TCP framing (architecture §4).

Bytes from the network are hostile until proven otherwise. `decode` checks the size before reading anything,
bounds what msgpack may allocate, and then hands the plain value to the schema in `cluster.wire.messages`;
every way of failing ends as `CodecError`, the one error a transport counts and drops. `encode` runs the same
schema over what it is about to send, so a bad field is caught at the sender, with its path, and never
becomes a peer's mystery drop.
"""

from __future__ import annotations

import dataclasses
import struct

import msgpack

from cluster.wire.messages import (
    INT64_MAX,
    MAX_NAME_CHARS,
    MAX_TEXT_BYTES,
    AppMessage,
    CodecError,
    Nack,
    Ping,
    PingAck,
    WireMessage,
    from_plain,
    tag_of,
    to_plain,
)

__all__ = [
    "MAX_DATAGRAM",
    "MAX_FRAME",
    "CodecError",
    "FrameReader",
    "decode",
    "encode",
    "encoded_size",
    "frame",
    "unpack_bounded",
]

MAX_DATAGRAM = 1400
"""Largest UDP payload we send: fits an Ethernet MTU with room for IP/UDP headers, so nothing fragments."""
MAX_FRAME = 4 * 1024 * 1024
"""Largest TCP frame (and decoded message): bounds the memory one peer can make us hold."""

_HEADER = struct.Struct(">I")


def _check_size(size: int, max_size: int, what: str) -> None:
    if size > max_size:
        raise CodecError(f"{what} of {size} bytes exceeds the limit of {max_size}")


_APP_TAG = tag_of(AppMessage)
_NAME_LIMIT = MAX_NAME_CHARS


def _app_fields_ok(
    to_actor: object, from_actor: object, payload: object, request: object, reply: object
) -> bool:
    """The schema of `AppMessage`, checked by hand: the one message sent by the ten thousand a second.
    True only when the generic schema would accept the same fields (a test holds the two together);
    anything else takes the generic path, which says what is wrong."""
    return (
        type(to_actor) is str
        and type(from_actor) is str
        and type(payload) is bytes
        and type(request) is int
        and type(reply) is int
        and len(to_actor) <= _NAME_LIMIT
        and len(from_actor) <= _NAME_LIMIT
        and to_actor.isascii()  # the generic path checks what other text encodes to
        and from_actor.isascii()
        and 0 <= request <= INT64_MAX
        and 0 <= reply <= INT64_MAX
    )


def _encode_app(msg: AppMessage, max_size: int) -> bytes | None:
    if not _app_fields_ok(msg.to_actor, msg.from_actor, msg.payload, msg.request, msg.reply):
        return None
    plain = {
        "t": _APP_TAG,
        "to_actor": msg.to_actor,
        "from_actor": msg.from_actor,
        "payload": msg.payload,
        "request": msg.request,
        "reply": msg.reply,
    }
    data: bytes = msgpack.packb(plain, use_bin_type=True)
    _check_size(len(data), max_size, _APP_TAG)
    return data


def _decode_app(plain: object) -> AppMessage | None:
    if type(plain) is not dict or plain.get("t") != _APP_TAG or len(plain) != 6:
        return None
    try:
        to_actor, from_actor = plain["to_actor"], plain["from_actor"]
        payload, request, reply = plain["payload"], plain["request"], plain["reply"]
    except KeyError:
        return None
    if not _app_fields_ok(to_actor, from_actor, payload, request, reply):
        return None
    return AppMessage(to_actor, from_actor, payload, request, reply)


_PROBE_TAGS: dict[type, str] = {cls: tag_of(cls) for cls in (Ping, PingAck, Nack)}
_PROBE_CLASSES: dict[str, type[Ping | PingAck | Nack]] = {tag: cls for cls, tag in _PROBE_TAGS.items()}


def _probe_name_ok(name: object) -> bool:
    return type(name) is str and len(name) <= _NAME_LIMIT and name.isascii()


def _encode_probe(msg: Ping | PingAck | Nack) -> bytes | None:
    """A probe, an ack or a nack, checked by hand: two of them go out per member and probe period, and
    the generic path (dump, then load to check) was a fifth of a formed simulated cluster's cost. The
    bytes are those the generic path gives (a test holds the two equal); None leaves anything the checks
    here do not pass to the generic path, which says what is wrong."""
    seq, source = msg.seq, msg.source
    if type(seq) is not int or not 0 <= seq <= INT64_MAX or not _probe_name_ok(source):
        return None
    if type(msg) is Ping:
        if not _probe_name_ok(msg.target):
            return None
        plain = {"t": _PROBE_TAGS[Ping], "seq": seq, "source": source, "target": msg.target}
    else:
        plain = {"t": _PROBE_TAGS[type(msg)], "seq": seq, "source": source}
    data: bytes = msgpack.packb(plain, use_bin_type=True)
    return data


def encode(msg: WireMessage, *, max_size: int = MAX_FRAME) -> bytes:
    """The bytes of `msg`. CodecError if a field breaks the schema or the result is over `max_size`;
    TypeError if `msg` is not a wire message at all (a programming error, not a bad value)."""
    if type(msg) is AppMessage:
        fast = _encode_app(msg, max_size)
        if fast is not None:
            return fast
    elif type(msg) in _PROBE_TAGS:
        fast = _encode_probe(msg)  # type: ignore[arg-type]
        if fast is not None and len(fast) <= max_size:
            return fast
    tag = tag_of(msg)
    plain = to_plain(msg)
    from_plain(plain)
    data: bytes = msgpack.packb(plain, use_bin_type=True)
    _check_size(len(data), max_size, tag)
    return data


def encoded_size(item: object) -> int:
    """Bytes that `item` (a message, a record or a plain value nested in one) takes inside an encoded
    message: what a sender fitting a delta to a datagram's budget counts."""
    plain = to_plain(item) if dataclasses.is_dataclass(item) else item
    return len(msgpack.packb(plain, use_bin_type=True))


def _unpack(data: bytes, max_size: int) -> object:
    return unpack_bounded(data, max_size=max_size)


def unpack_bounded(data: bytes, *, max_size: int, max_text: int = MAX_TEXT_BYTES) -> object:
    """msgpack from a peer, with what it may allocate bounded by `max_size` (and each text by
    `max_text`); every way bad input fails is a `CodecError`."""
    try:
        return msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            use_list=True,
            max_str_len=max_text,
            max_bin_len=max_size,
            max_array_len=max_size,
            max_map_len=max_size // 2,
            max_ext_len=0,
        )
    # msgpack reports bad input with a spread of types (ValueError and subclasses, StackError, FormatError,
    # UnicodeDecodeError, TypeError): none of them may escape to the caller.
    except Exception as exc:
        reason = str(exc) or type(exc).__name__
        raise CodecError(f"not valid msgpack: {reason}") from exc


def decode(data: bytes, *, max_size: int = MAX_FRAME) -> WireMessage:
    """The message in `data` (one datagram or one frame's payload), or CodecError saying why not."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CodecError(f"expected bytes, got {type(data).__name__}")
    _check_size(len(data), max_size, "message")
    return decode_plain(_unpack(data, max_size))


def _decode_probe(plain: object) -> Ping | PingAck | Nack | None:
    """`_encode_probe`'s counterpart: what the schema would make of a probe, an ack or a nack, or None
    to leave the plain value to the schema (a test holds the two together)."""
    if type(plain) is not dict or type(tag := plain.get("t")) is not str:
        return None
    cls = _PROBE_CLASSES.get(tag)
    if cls is None or len(plain) != (4 if cls is Ping else 3):
        return None
    seq, source = plain.get("seq"), plain.get("source")
    if type(seq) is not int or not 0 <= seq <= INT64_MAX or not _probe_name_ok(source):
        return None
    if cls is Ping:
        target = plain.get("target")
        return Ping(seq, source, target) if _probe_name_ok(target) else None  # type: ignore[arg-type]
    return cls(seq, source)  # type: ignore[arg-type,call-arg]


def decode_plain(plain: object) -> WireMessage:
    """The message in `plain`, msgpack already unpacked (by `unpack_bounded`), or CodecError."""
    fast = _decode_app(plain)
    if fast is not None:
        return fast
    probe = _decode_probe(plain)
    if probe is not None:
        return probe
    message: WireMessage = from_plain(plain)
    return message


def frame(payload: bytes, *, max_size: int = MAX_FRAME) -> bytes:
    """`payload` behind a 4-byte big-endian length, ready for a TCP stream."""
    _check_size(len(payload), max_size, "frame")
    return _HEADER.pack(len(payload)) + payload


class FrameReader:
    """Splits a TCP byte stream into frame payloads, however the stream was chunked.

    A length prefix over `max_size` raises CodecError before any of that frame is buffered; the stream
    cannot be resynchronised after that, so the reader stays failed and the caller closes the connection.
    """

    __slots__ = ("_buffer", "_failed", "max_size")

    def __init__(self, max_size: int = MAX_FRAME) -> None:
        self.max_size = max_size
        self._buffer = bytearray()
        self._failed = ""

    @property
    def pending(self) -> int:
        """Bytes held for a frame not yet complete."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add `data` and return the payloads of every frame it completed, in order."""
        if self._failed:
            raise CodecError(self._failed)
        self._buffer += data
        payloads: list[bytes] = []
        start = 0
        while len(self._buffer) - start >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer, start)
            if size > self.max_size:
                self._failed = f"frame of {size} bytes exceeds the limit of {self.max_size}"
                self._buffer.clear()
                raise CodecError(self._failed)
            end = start + _HEADER.size + size
            if len(self._buffer) < end:
                break
            payloads.append(bytes(self._buffer[start + _HEADER.size : end]))
            start = end
        del self._buffer[:start]
        return payloads
