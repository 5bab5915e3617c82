"""The codec: msgpack round trips, fuzzing with garbage and truncations, size limits and TCP framing.

The property that matters most: whatever bytes arrive, `decode` returns a valid message or raises
CodecError, never anything else, because a stray exception would crash the receiving actor.
"""

import itertools
import struct
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.wire.codec import MAX_DATAGRAM, MAX_FRAME, CodecError, FrameReader, decode, encode, frame
from cluster.wire.messages import (
    MESSAGE_TYPES,
    Hello,
    NodeInfo,
    OwnerDelta,
    Ping,
    Push,
    SyncableState,
    to_plain,
)

# The strategies derive from the message annotations; they live beside the schema's own tests.
from tests.test_messages import all_messages, example_message, message_classes, plain_values, records


def _decodes_or_refuses(data: bytes, **kwargs: Any) -> None:
    """The codec's promise: a registered message, or CodecError; any other exception fails the test."""
    try:
        msg = decode(data, **kwargs)
    except CodecError:
        return
    assert type(msg) in MESSAGE_TYPES.values()


# --- round trips ---------------------------------------------------------------------------------------


@message_classes
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_round_trip(cls: type, data: st.DataObject) -> None:
    msg = data.draw(records(cls))
    encoded = encode(msg)
    assert isinstance(encoded, bytes)
    assert decode(encoded) == msg


@message_classes
def test_small_messages_fit_in_a_datagram(cls: type) -> None:
    msg = example_message(cls)
    assert decode(encode(msg, max_size=MAX_DATAGRAM), max_size=MAX_DATAGRAM) == msg


def one_delta(state: SyncableState) -> OwnerDelta:
    return OwnerDelta(state.source_node, state.generation, 0, state.version, False, 0, (state,))


def test_encoding_is_deterministic_msgpack_of_the_plain_form() -> None:
    msg = Hello("c", "manager", "0" * 32, 3, 1, "abc", True)
    assert encode(msg) == encode(msg)
    assert msgpack.unpackb(encode(msg)) == to_plain(msg)


def test_bytes_and_str_stay_apart() -> None:
    state = SyncableState("t", "k", [b"\x00\xff", "text"], 1, "n", 1)
    assert decode(encode(Push("n", 1, (one_delta(state),)))).deltas[0].states[0].value == [
        b"\x00\xff",
        "text",
    ]


# --- encode refuses what could not be decoded ----------------------------------------------------------


@pytest.mark.parametrize(
    ("msg", "error"),
    [
        (Ping("1", "a", "b"), "ping.seq: expected int, got str"),  # type: ignore[arg-type]
        (Ping(2**70, "a", "b"), f"ping.seq: expected 0..{2**63 - 1}, got {2**70}"),
        (Ping(1, "a" * 300, "b"), "ping.source: longer than 255 characters"),
        (
            Push("a", 1, (one_delta(SyncableState("t", "k", {"x": {1, 2}}, 1, "a", 1)),)),  # type: ignore[arg-type]
            "push.deltas[0].states[0].value[x]: expected plain value, got set",
        ),
        (Push("a", 1, [one_delta(SyncableState("t", "k", 1, 1, "a", 1))]), None),  # type: ignore[arg-type]
    ],
)
def test_encode_validates(msg: Any, error: str | None) -> None:
    if error is None:  # a list where a tuple belongs is still the same wire form
        assert decode(encode(msg)).deltas == tuple(msg.deltas)
        return
    with pytest.raises(CodecError) as info:
        encode(msg)
    assert str(info.value) == error


def test_encode_survives_a_cyclic_value() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(CodecError, match="nested deeper than 16"):
        encode(Push("a", 1, (one_delta(SyncableState("t", "k", cycle, 1, "a", 1)),)))


def test_encode_refuses_non_messages() -> None:
    with pytest.raises(TypeError):
        encode(NodeInfo("i", "n", "h", 1, "r"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        encode({"t": "ping"})  # type: ignore[arg-type]


def test_encode_size_limit() -> None:
    big = Push("a", 1, (one_delta(SyncableState("t", "k", b"x" * 2000, 1, "a", 1)),))
    assert len(encode(big)) > MAX_DATAGRAM
    with pytest.raises(CodecError, match=r"^push of \d+ bytes exceeds the limit of 1400$"):
        encode(big, max_size=MAX_DATAGRAM)


# --- decode: size and msgpack-level failures -----------------------------------------------------------


def test_decode_checks_size_first() -> None:
    data = encode(Push("a", 1, (one_delta(SyncableState("t", "k", b"x" * 2000, 1, "a", 1)),)))
    with pytest.raises(CodecError, match=rf"^message of {len(data)} bytes exceeds the limit of 1400$"):
        decode(data, max_size=MAX_DATAGRAM)
    with pytest.raises(CodecError, match="exceeds the limit"):
        decode(b"\xc0" * (MAX_FRAME + 1))  # oversized garbage is refused before it is parsed


def _str32(length: int) -> bytes:
    return b"\xdb" + struct.pack(">I", length)


MSGPACK_FAILURES = [
    (b"", "incomplete input"),
    (b"\xc1", "not valid msgpack"),  # the one byte msgpack never uses
    (encode(Ping(1, "a", "b")) + b"\xc0", "extra data"),
    (b"\xa2\xff\xfe", "utf-8"),
    (b"\x81\x01\x02", "not allowed for map key"),
    (msgpack.packb(msgpack.ExtType(5, b"ab")), "max_ext_len"),
    (msgpack.packb(msgpack.Timestamp(1, 0)), "max_ext_len"),
    (b"\x91" * 5000 + b"\xc0", "StackError"),
    (_str32(2**31), "incomplete input"),  # a declared length far beyond the data allocates nothing
    (_str32(70_000) + b"x" * 70_000, "exceeds max_str_len"),
    (b"\xdd" + struct.pack(">I", 2**31), "exceeds max_array_len"),
    (b"\xdf" + struct.pack(">I", 2**31), "exceeds max_map_len"),
    (msgpack.packb([1, 2]), "message: expected map, got list"),
    (
        msgpack.packb({"t": "ping", "seq": 1, "source": "a", "target": 2}),
        "ping.target: expected str, got int",
    ),
    (msgpack.packb({b"t": "ping"}), "message: missing tag 't'"),
    (msgpack.packb({"t": "ping", "seq": 2**64 - 1, "source": "a", "target": "b"}), "ping.seq: expected 0.."),
]


@pytest.mark.parametrize(("data", "reason"), MSGPACK_FAILURES, ids=[reason for _, reason in MSGPACK_FAILURES])
def test_decode_failures(data: bytes, reason: str) -> None:
    with pytest.raises(CodecError) as info:
        decode(data)
    assert reason.lower() in str(info.value).lower()


@pytest.mark.parametrize("bad", ["text", None, 5, [1]])
def test_decode_refuses_non_bytes(bad: Any) -> None:
    with pytest.raises(CodecError, match="expected bytes"):
        decode(bad)


def test_decode_accepts_bytearray_and_memoryview() -> None:
    data = encode(Ping(1, "a", "b"))
    assert decode(bytearray(data)) == decode(memoryview(data)) == Ping(1, "a", "b")


# --- fuzzing -------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_never_raises_anything_else(data: bytes) -> None:
    _decodes_or_refuses(data)
    _decodes_or_refuses(data, max_size=MAX_DATAGRAM)


@settings(max_examples=100, deadline=None)
@given(all_messages)
def test_every_truncation_is_refused(msg: Any) -> None:
    data = encode(msg)
    for end in range(len(data)):
        with pytest.raises(CodecError):
            decode(data[:end])


@settings(max_examples=100, deadline=None)
@given(all_messages, st.data())
def test_corrupted_encodings_decode_or_are_refused(msg: Any, data: st.DataObject) -> None:
    encoded = bytearray(encode(msg))
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(encoded) - 1), st.integers(0, 255)), max_size=4))
    for index, byte in flips:
        encoded[index] = byte
    _decodes_or_refuses(bytes(encoded))


_field_names = sorted({name for cls in MESSAGE_TYPES.values() for name in cls.__dataclass_fields__})


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(sorted(MESSAGE_TYPES)),
    st.dictionaries(st.sampled_from(_field_names) | st.text(max_size=4), plain_values, max_size=6),
)
def test_well_formed_msgpack_with_wrong_content_is_refused(tag: str, fields: dict[str, Any]) -> None:
    """Valid msgpack maps with a real tag and field names, so the fuzz reaches the schema check."""
    _decodes_or_refuses(msgpack.packb({**fields, "t": tag}, use_bin_type=True))


@settings(max_examples=100, deadline=None)
@given(all_messages, st.data())
def test_messages_with_one_field_replaced_are_checked(msg: Any, data: st.DataObject) -> None:
    plain = to_plain(msg)
    name = data.draw(st.sampled_from(sorted(plain)))
    plain[name] = data.draw(plain_values)
    _decodes_or_refuses(msgpack.packb(plain, use_bin_type=True))


# --- framing -------------------------------------------------------------------------------------------


def test_frame_layout() -> None:
    assert frame(b"abc") == b"\x00\x00\x00\x03abc"
    assert frame(b"") == b"\x00\x00\x00\x00"


def test_frame_size_limit() -> None:
    assert frame(b"x" * 10, max_size=10)[4:] == b"x" * 10
    with pytest.raises(CodecError, match="frame of 11 bytes exceeds the limit of 10"):
        frame(b"x" * 11, max_size=10)


def _chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=6), st.lists(st.integers(0, 10_000), max_size=12))
def test_frame_reader_reassembles_any_chunking(payloads: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(frame(p) for p in payloads)
    reader = FrameReader()
    received: list[bytes] = []
    for chunk in _chunked(stream, cuts):
        received += reader.feed(chunk)
    assert received == payloads
    assert reader.pending == 0


def test_frame_reader_byte_by_byte_and_partial_tail() -> None:
    messages = [Ping(1, "a", "b"), Hello("c", "n", "i", 1, 1, "d", False)]
    stream = b"".join(frame(encode(m)) for m in messages)
    reader = FrameReader()
    out = [payload for byte in stream[:-1] for payload in reader.feed(bytes([byte]))]
    assert [decode(p) for p in out] == messages[:1]
    assert reader.pending > 0
    assert [decode(p) for p in reader.feed(stream[-1:])] == messages[1:]
    assert reader.feed(b"") == []


def test_frame_reader_accepts_the_limit_and_refuses_beyond_it() -> None:
    reader = FrameReader(max_size=8)
    assert reader.feed(frame(b"12345678")) == [b"12345678"]
    with pytest.raises(CodecError, match="frame of 9 bytes exceeds the limit of 8"):
        reader.feed(b"\x00\x00\x00\x09")  # refused on the prefix alone, before the payload arrives
    with pytest.raises(CodecError):  # the stream cannot be resynchronised: the reader stays failed
        reader.feed(frame(b"ok"))
    assert reader.pending == 0


def test_frame_reader_hands_back_frames_before_an_oversized_prefix() -> None:
    reader = FrameReader(max_size=4)
    assert reader.feed(frame(b"ab")) == [b"ab"]
    with pytest.raises(CodecError):
        reader.feed(frame(b"cd") + b"\xff\xff\xff\xff")


def test_frame_reader_default_limit() -> None:
    reader = FrameReader()
    assert reader.max_size == MAX_FRAME
    with pytest.raises(CodecError):
        reader.feed(struct.pack(">I", MAX_FRAME + 1))


# --- the hand-written path of AppMessage ----------------------------------------------------------------


def _generic(plain: dict[str, Any]) -> Any:
    from cluster.wire.messages import from_plain

    try:
        return from_plain(plain)
    except CodecError:
        return "refused"


@settings(max_examples=300, deadline=None)
@given(
    to_actor=st.one_of(st.text(max_size=300), st.integers(-(2**63), 2**63 - 1), st.binary(max_size=4)),
    from_actor=st.one_of(st.text(max_size=10), st.none()),
    payload=st.one_of(st.binary(max_size=20), st.text(max_size=4)),
    request=st.one_of(st.integers(-2, 2**64 - 1), st.booleans()),
    reply=st.integers(-1, 3),
)
def test_the_app_message_fast_path_decides_as_the_schema_does(
    to_actor: Any, from_actor: Any, payload: Any, request: Any, reply: Any
) -> None:
    from cluster.wire.codec import _decode_app

    plain = {"t": "app", "to_actor": to_actor, "from_actor": from_actor, "payload": payload}
    plain |= {"request": request, "reply": reply}
    fast = _decode_app(plain)
    if fast is not None:  # whatever the fast path takes, the schema takes, and reads the same
        assert _generic(plain) == fast
    elif _generic(plain) != "refused":  # what it leaves to the generic path is non-ASCII text only
        assert not (str(to_actor).isascii() and str(from_actor).isascii())
    data = msgpack.packb(plain, use_bin_type=True)
    try:
        decoded = decode(data)
    except CodecError:
        assert _generic(plain) == "refused"
    else:
        assert decoded == _generic(plain)
        assert decode(encode(decoded)) == decoded


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["ping", "ping-ack", "nack"]),
    seq=st.one_of(st.integers(-2, 2**64), st.booleans(), st.floats(0, 10)),
    source=st.one_of(st.text(max_size=300), st.integers(0, 3), st.none()),
    target=st.one_of(st.text(max_size=10), st.binary(max_size=3)),
)
def test_the_probe_fast_path_encodes_as_the_schema_does(
    kind: str, seq: Any, source: Any, target: Any
) -> None:
    from cluster.wire.codec import _encode_probe
    from cluster.wire.messages import Nack, Ping, PingAck, to_plain

    message = {"ping": Ping, "ping-ack": PingAck, "nack": Nack}[kind]
    msg = message(seq, source, target) if message is Ping else message(seq, source)
    fast = _encode_probe(msg)
    generic = _generic(to_plain(msg))
    if fast is not None:  # whatever the fast path sends, the schema takes, and in the very same bytes
        assert generic == msg
        assert fast == msgpack.packb(to_plain(msg), use_bin_type=True)
        assert decode(fast) == msg
    elif generic != "refused":  # what it leaves to the generic path is non-ASCII text only
        assert not (str(source).isascii() and str(target).isascii())
    try:
        data = encode(msg)
    except CodecError:
        assert generic == "refused"
    else:
        assert decode(data) == msg


@settings(max_examples=300, deadline=None)
@given(
    tag=st.one_of(st.sampled_from(["ping", "ping-ack", "nack", "alive"]), st.integers(0, 2), st.just([1])),
    seq=st.one_of(st.integers(-2, 2**64 - 1), st.booleans(), st.text(max_size=2)),
    source=st.one_of(st.text(max_size=300), st.integers(0, 3), st.none()),
    target=st.one_of(st.text(max_size=10), st.binary(max_size=3)),
    keys=st.sets(st.sampled_from(["seq", "source", "target", "extra"]), min_size=1),
)
def test_the_probe_fast_path_decodes_as_the_schema_does(
    tag: Any, seq: Any, source: Any, target: Any, keys: set[str]
) -> None:
    from cluster.wire.codec import _decode_probe

    values = {"seq": seq, "source": source, "target": target, "extra": 1}
    plain = {"t": tag} | {key: values[key] for key in keys}
    fast = _decode_probe(plain)
    if fast is not None:  # whatever the fast path takes, the schema takes, and reads the same
        assert _generic(plain) == fast
    elif _generic(plain) != "refused":  # what it leaves to the generic path is non-ASCII text only
        assert not (str(source).isascii() and str(target).isascii())
    data = msgpack.packb(plain, use_bin_type=True)
    try:
        decoded = decode(data)
    except CodecError:
        assert _generic(plain) == "refused"
    else:
        assert decoded == _generic(plain)


# --- the schema's quick check and its explaining walk ---------------------------------------------------


def _both_ways(plain: dict[str, Any]) -> None:
    """`check` (what every message goes through) and `load` (run to name what is wrong) must decide alike:
    the first is trusted to refuse only what the second can explain, and to accept nothing it refuses."""
    from cluster.wire.schema import _check_fields, _explain_fields, _Invalid

    cls = MESSAGE_TYPES.get(plain.get("t"))  # type: ignore[arg-type]
    if cls is None:
        return
    try:
        quick: Any = _check_fields(cls, plain, 1)
    except _Invalid:
        quick = "refused"
    try:
        explained: Any = _explain_fields(cls, plain, "m", ("t",))
    except CodecError:
        explained = "refused"
    assert quick == explained


@settings(max_examples=300, deadline=None)
@given(all_messages, st.data())
def test_the_quick_check_and_the_explaining_walk_agree_on_a_replaced_field(
    msg: Any, data: st.DataObject
) -> None:
    plain = to_plain(msg)
    _both_ways(msgpack.unpackb(msgpack.packb(plain, use_bin_type=True), raw=False))
    names = sorted(k for k in plain if k != "t")
    name = data.draw(st.sampled_from(names) if names else st.just("x"))
    plain[name] = data.draw(plain_values)
    _both_ways(plain)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(MESSAGE_TYPES)),
    st.dictionaries(st.sampled_from(_field_names) | st.text(max_size=4), plain_values, max_size=6),
)
def test_the_quick_check_and_the_explaining_walk_agree_on_any_map(tag: str, fields: dict[str, Any]) -> None:
    _both_ways({**fields, "t": tag})


def _nested(depth: int) -> Any:
    value: Any = 1
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


_EDGE_VALUES = [
    None,
    True,
    0,
    -(2**63),
    2**63 - 1,
    2**63,
    -(2**63) - 1,
    1.5,
    float("nan"),
    float("inf"),
    b"",
    "",
    "é",
    "\ud800",
    "x" * 70_000,
    "é" * 40_000,
    [],
    [1, "a"],
    {},
    {"a": 1},
    {1: 2},
    {"\ud800": 1},
    _nested(15),
    _nested(16),
    _nested(17),
    [[b"x"]],
    {"k": {"k": ["\ud800"]}},
]


def _limits_of(cls: type) -> dict[str, list[Any]]:
    """Per field of `cls`, the values at and just past its own declared limits (an int's range, a
    text's length and forbidden characters), read from its compiled schema."""
    from cluster.wire.schema import _SCHEMAS, _Int, _Str

    limits: dict[str, list[Any]] = {}
    for field in _SCHEMAS[cls]:
        kind = field.kind
        if isinstance(kind, _Int):
            limits[field.name] = [kind.lo - 1, kind.lo, kind.hi, kind.hi + 1]
        elif isinstance(kind, _Str):
            most = kind.limit.max_chars
            limits[field.name] = ["x" * most, "x" * (most + 1), "é" * most, *kind.limit.forbidden]
    return limits


@pytest.mark.parametrize("cls", sorted(MESSAGE_TYPES.values(), key=lambda cls: cls.TAG), ids=lambda c: c.TAG)
def test_the_quick_check_and_the_explaining_walk_agree_on_edge_values(cls: type) -> None:
    """The cases a small fuzz rarely draws: the ends of every range, bad UTF-8, and nesting at the limit."""
    plain = msgpack.unpackb(encode(example_message(cls)), raw=False)
    _both_ways(plain)
    limits = _limits_of(cls)
    for name in cls.__dataclass_fields__:
        for value in _EDGE_VALUES + limits.get(name, []):
            _both_ways({**plain, name: value})
            _both_ways({name: value, "t": cls.TAG})


def test_refused_messages_leave_nothing_behind() -> None:
    """A peer that sends the same bad message forever (an unknown field, say, from a newer version) must
    cost nothing that lasts: a refusal keeps no trace of the messages refused before it."""
    import gc
    import tracemalloc

    bad = msgpack.packb({**to_plain(example_message(Ping)), "extra": "x" * 200}, use_bin_type=True)

    def refuse(times: int) -> None:
        for _ in range(times):
            try:
                decode(bad)
            except CodecError:
                continue
            raise AssertionError("the bad message was taken")

    refuse(200)
    tracemalloc.start()
    try:
        gc.collect()
        before, _ = tracemalloc.get_traced_memory()
        refuse(2000)
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 10_000, f"{after - before} bytes kept by 2,000 refusals"
