"""What an application message may be: plain msgpack data, checked and packed at the sender.

A message crosses processes, so it must mean the same on the other side without running anyone's code
there: None, bool, int (64-bit), float, str, bytes, lists (tuples travel as lists) and dicts with str keys,
nested at most `MAX_PLAIN_DEPTH` deep. Anything else (a set, a dataclass, a numpy scalar, a dict with int
keys) is refused where it is sent, with the path to the offending value, rather than turning into a peer's
mystery drop; never pickled. Types are checked exactly, so an `IntEnum` or a `str` subclass is refused
too: its meaning would not survive the trip.

The packed bytes are what travel (`AppMessage.payload`), so the size limit is checked on exactly what the
wire will carry, and the routers and transports in between never walk the value again.
"""

from __future__ import annotations

from typing import Any

import msgpack

from cluster.wire.codec import unpack_bounded
from cluster.wire.messages import INT64_MAX, INT64_MIN, MAX_PLAIN_DEPTH, Plain
from cluster.wire.schema import CodecError

__all__ = [
    "DEFAULT_MAX_MESSAGE",
    "MessageRefused",
    "MessageTooLarge",
    "NotPlainData",
    "pack_message",
    "unpack_message",
]

DEFAULT_MAX_MESSAGE = 1024 * 1024
"""Bytes a packed message may take unless the layout's `app.max_message_size` says otherwise."""

_SCALARS = (type(None), bool, float, str, bytes)
_PLAIN_TYPES = "None, bool, int, float, str, bytes, list, dict with str keys"


class MessageRefused(ValueError):
    """A message that cannot be sent; the text says what is wrong and where in the message."""


class NotPlainData(MessageRefused, TypeError):
    """A value in the message is not plain data (also a TypeError: the caller passed the wrong type)."""

    def __init__(self, path: str, value: object, why: str = "") -> None:
        self.path = path
        self.type_name = type(value).__name__
        reason = why or f"{self.type_name} is not plain data (plain: {_PLAIN_TYPES})"
        super().__init__(f"{path}: {reason}")


class MessageTooLarge(MessageRefused):
    def __init__(self, size: int, limit: int, where: str) -> None:
        self.size, self.limit = size, limit
        super().__init__(f"{where}: {size} bytes packed, over the limit of {limit} (app.max_message_size)")


def _check(value: Any, path: str, depth: int) -> None:
    kind = type(value)
    if kind in _SCALARS:
        return
    if kind is int:
        if not INT64_MIN <= value <= INT64_MAX:
            raise NotPlainData(path, value, f"int {value} does not fit 64 bits")
        return
    if kind is list or kind is tuple:
        if depth >= MAX_PLAIN_DEPTH:
            raise NotPlainData(path, value, f"nested deeper than {MAX_PLAIN_DEPTH}")
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]", depth + 1)
        return
    if kind is dict:
        if depth >= MAX_PLAIN_DEPTH:
            raise NotPlainData(path, value, f"nested deeper than {MAX_PLAIN_DEPTH}")
        for key, item in value.items():
            if type(key) is not str:
                raise NotPlainData(
                    f"{path}[{key!r}]", key, f"a dict key must be str, not {type(key).__name__}"
                )
            _check(item, f"{path}[{key!r}]", depth + 1)
        return
    raise NotPlainData(path, value)


def pack_message(value: Any, *, limit: int = DEFAULT_MAX_MESSAGE, where: str = "message") -> bytes:
    """The msgpack bytes of `value`, or `MessageRefused` naming the offending type and its path."""
    _check(value, where, 0)
    data: bytes = msgpack.packb(value, use_bin_type=True)
    if len(data) > limit:
        raise MessageTooLarge(len(data), limit, where)
    return data


def unpack_message(data: bytes, *, limit: int = DEFAULT_MAX_MESSAGE) -> Plain:
    """The value a peer packed; `CodecError` for bytes that are not a plain message within `limit`.

    A peer's bytes are hostile until proven otherwise: the same bounds as the wire codec apply."""
    if len(data) > limit:
        raise CodecError(f"message of {len(data)} bytes exceeds the limit of {limit}")
    value: Any = unpack_bounded(data, max_size=limit, max_text=limit)
    try:
        _check(value, "message", 0)  # msgpack yields only plain types, but bytes keys and depth need a look
    except NotPlainData as error:
        raise CodecError(str(error)) from None
    plain: Plain = value
    return plain
