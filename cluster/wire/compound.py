"""Compound datagrams: one message plus piggybacked updates in one UDP datagram (architecture §3, §4).

A ping or an ack is small; the rest of the datagram budget (1,400 bytes unless configured) carries queued
membership updates, each one already encoded. memberlist does this in net.go's `sendMsg`: the room left for
piggybacking is the buffer size minus the message and a compound header, `getBroadcasts(compoundOverhead,
room)` fills it, and when nothing was added the message goes out as it is, not wrapped. Its compound format
(util.go `makeCompoundMessage` / `decodeCompoundMessage`) is a type byte, a part count, a length per part and
the parts; the decoder reports how many parts were truncated and the receiver handles the complete ones.

Here the compound is an ordinary wire message, `Compound(parts)`, so it goes through the one codec and its
schema check; msgpack's `bin` framing carries each part's length. The receiver decodes each part on its
own: one bad part is dropped and counted, the good ones are kept, so a peer that sends one malformed update
does not cost the ping it rode on. A compound inside a compound is refused: memberlist's `handleCompound`
(net.go) hands every part back to `handleCommand`, which would recurse into one, but no sender here builds
one, so refusing it keeps the work a datagram can ask for to one level.

Sizes are exact, not estimated: `pack` counts msgpack's framing byte for byte and never returns a datagram
over its budget. `piggyback_room` and `PART_OVERHEAD` give the transmit-limited queue a conservative
budget, so what `TransmitLimitedQueue.take` hands out always fits in what `pack` builds:

    extra = queue.take(piggyback_room(ping, budget), PART_OVERHEAD, n_members, retransmit_mult)
    datagram, left_over = pack(ping, extra, budget)   # left_over == [] for parts up to 65,535 bytes
"""

from dataclasses import dataclass

import msgpack

from cluster.wire.codec import CodecError, decode, decode_plain, encode, unpack_bounded
from cluster.wire.messages import Alive, Compound, Dead, Leave, Suspect, WireMessage
from cluster.wire.schema import tag_of

__all__ = [
    "HEADER_OVERHEAD",
    "PART_OVERHEAD",
    "CodecCache",
    "UnpackResult",
    "pack",
    "piggyback_room",
    "unpack",
]

_FIXARRAY_MAX = 15
_UINT8_MAX = 255
_UINT16_MAX = 65535

_FRAME = len(encode(Compound(()))) - 1
"""A compound's bytes besides its array: the map, tag and field name (measured on the real encoder, minus the
one-byte header of the empty array)."""

_COMPOUND_TAG = tag_of(Compound(()))

HEADER_OVERHEAD = _FRAME + 3
"""Bytes a compound adds around its parts, at most: the map, tag and field name, and an array header of up to
3 bytes (msgpack array16, for up to 65,535 parts)."""
PART_OVERHEAD = 3
"""Bytes each part adds to a compound, at most: a msgpack bin8 header is 2 bytes (parts up to 255 bytes), a
bin16 header 3 bytes (up to 65,535), so 3 covers every part that fits in a UDP datagram."""


def _array_header(count: int) -> int:
    """Bytes of the msgpack header of an array of `count` items (fixarray, array16, array32)."""
    return 1 if count <= _FIXARRAY_MAX else 3 if count <= _UINT16_MAX else 5


def _bin_header(size: int) -> int:
    """Bytes of the msgpack header of a bin of `size` bytes (bin8, bin16, bin32)."""
    return 2 if size <= _UINT8_MAX else 3 if size <= _UINT16_MAX else 5


def piggyback_room(first: bytes, budget: int) -> int:
    """The bytes left for piggybacked parts, each charged `PART_OVERHEAD` more, once `first` is in.

    Conservative by the few bytes msgpack's smaller headers would save, so that everything a queue hands out
    within this room (charging `PART_OVERHEAD` a part) is taken by `pack`; never negative."""
    return max(0, budget - HEADER_OVERHEAD - PART_OVERHEAD - len(first))


def pack(first: bytes, extra: list[bytes], budget: int) -> tuple[bytes, list[bytes]]:
    """A datagram carrying `first` and as many of `extra` as fit in `budget` bytes, and the parts left out.

    The parts are tried in order; one that does not fit is left out and later, smaller ones are still tried
    (as memberlist's GetBroadcasts skips what does not fit). Those that go keep their order. When none of
    `extra` fits, or there is none, the datagram is `first` itself, unwrapped, as memberlist sends a lone
    message. `first` and each part must each be the encoding of one message, not of a compound: the receiver
    refuses nested compounds. CodecError if `first` alone is over the budget.
    """
    if len(first) > budget:
        raise CodecError(f"message of {len(first)} bytes exceeds the datagram budget of {budget}")
    chosen = [first]
    left_out: list[bytes] = []
    parts_size = _bin_header(len(first)) + len(first)
    for part in extra:
        part_size = _bin_header(len(part)) + len(part)
        if _FRAME + _array_header(len(chosen) + 1) + parts_size + part_size <= budget:
            chosen.append(part)
            parts_size += part_size
        else:
            left_out.append(part)
    if len(chosen) == 1:
        return first, left_out
    # The plain form `encode(Compound(...))` gives, packed without its schema check: the parts are bytes
    # by construction and the size was counted above (a test holds the two equal).
    datagram: bytes = msgpack.packb({"t": _COMPOUND_TAG, "parts": chosen}, use_bin_type=True)
    return datagram, left_out


def _decode_outer(datagram: bytes, max_size: int) -> WireMessage:
    """`decode`, with a compound (a map of the tag and a list of bytes, the bulk of the traffic) read
    without the schema's walk: what the schema would make of it, checked by hand."""
    if len(datagram) > max_size:
        return decode(datagram, max_size=max_size)  # refused, with decode's reason
    plain = unpack_bounded(datagram, max_size=max_size)
    if type(plain) is dict and len(plain) == 2 and plain.get("t") == _COMPOUND_TAG:
        parts = plain.get("parts")
        if type(parts) is list and all(type(part) is bytes for part in parts):
            return Compound(tuple(parts))
    return decode_plain(plain)


_NEWS = frozenset({Alive, Suspect, Dead, Leave})
"""The messages a node passes on as it received them (`CodecCache`): hashable and exactly typed."""


@dataclass(frozen=True, slots=True)
class UnpackResult:
    """The messages a datagram carried, in order, and why each dropped part was refused.

    `errors` is there for the receiver's rate-limited log line; `dropped` is what it counts."""

    messages: tuple[WireMessage, ...]
    errors: tuple[str, ...] = ()
    parts: tuple[bytes, ...] = ()  # the encoding of each message, as received (to pass on unchanged)

    @property
    def dropped(self) -> int:
        return len(self.errors)


class CodecCache:
    """Messages already decoded, by their bytes, and bytes already encoded, by their message.

    A piggybacked update reaches each member many times (retransmit_mult * log10(n) sends, from many
    senders, in identical bytes), and decoding it again each time was most of what a datagram cost; a
    member learnt by push-pull is news that is encoded again by everyone who learns it. Messages are
    frozen values, so one decoded copy can be handed to every receipt, and the first bytes seen for a
    part stand for every later copy. A part that does not decode is not kept (it is refused each time).
    `encode` is for messages whose fields are exactly typed (no float field that an int could equal):
    the membership news (alive, suspect, dead, leave), whose equal values have equal bytes.

    Bounded: when full it is emptied and fills again, which keeps it cheap and its memory fixed. A core
    holds its own; the simulator gives one to all of its cores, so that identical bytes are decoded once
    for the whole simulated cluster. Used by one thread at a time, like the core that holds it.

    The membership news decoded also stands for its own encoding: a node passes on what it learns, and
    encoding again the alive news of each member it heard of was a tenth of a datagram's cost at a
    101-node start. The bytes passed on are then those received, which decoded (so they are valid) to a
    message equal to the one passed on."""

    __slots__ = ("_decoded", "_encoded", "capacity")

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._decoded: dict[bytes, tuple[WireMessage, bytes]] = {}
        self._encoded: dict[WireMessage, bytes] = {}

    def __len__(self) -> int:
        return len(self._decoded) + len(self._encoded)

    def decode(self, part: bytes, max_size: int) -> tuple[WireMessage, bytes]:
        """The message in `part`, and the bytes that stand for it (`part` itself the first time)."""
        held = self._decoded.get(part)
        if held is None:
            message = decode(part, max_size=max_size)
            held = (message, part)
            if len(self._decoded) >= self.capacity:
                self._decoded.clear()
            self._decoded[part] = held
            if type(message) in _NEWS:
                self._remember(message, part)
        return held

    def encode(self, message: WireMessage) -> bytes:
        data = self._encoded.get(message)
        if data is None:
            data = encode(message)
            self._remember(message, data)
        return data

    def _remember(self, message: WireMessage, data: bytes) -> None:
        if len(self._encoded) >= self.capacity:
            self._encoded.clear()
        self._encoded.setdefault(message, data)


def unpack(datagram: bytes, *, max_size: int, cache: CodecCache | None = None) -> UnpackResult:
    """The messages in one datagram: a bare message alone, or each part of a compound.

    A datagram that is not a valid message at all raises CodecError, like `decode`. Inside a valid compound,
    a part that does not decode, or is itself a compound, is dropped and its reason kept in `errors`; the
    other parts are returned. No other exception escapes, whatever the bytes. With a `cache`, parts seen
    before are not decoded again.
    """
    outer = decode(datagram, max_size=max_size) if cache is None else _decode_outer(datagram, max_size)
    if not isinstance(outer, Compound):
        return UnpackResult((outer,), (), (datagram,))
    messages: list[WireMessage] = []
    errors: list[str] = []
    parts: list[bytes] = []
    held = None if cache is None else cache._decoded
    for index, part in enumerate(outer.parts):
        try:
            if held is not None and (known := held.get(part)) is not None:
                message, part = known
            elif cache is not None:
                message, part = cache.decode(part, max_size)
            else:
                message = decode(part, max_size=max_size)
        except CodecError as exc:
            errors.append(f"part {index}: {exc}")
            continue
        if isinstance(message, Compound):
            errors.append(f"part {index}: nested compound refused")
            continue
        messages.append(message)
        parts.append(part)
    return UnpackResult(tuple(messages), tuple(errors), tuple(parts))
