"""Compound datagrams: packing within the budget byte for byte, unpacking part by part, hostile input.

The promise that matters most: whatever bytes arrive, `unpack` returns a result (dropping bad parts) or raises
CodecError, never anything else; and `pack` never returns a datagram over its budget.
"""

from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.core.broadcast_queue import TransmitLimitedQueue
from cluster.wire.codec import MAX_DATAGRAM, decode, encode
from cluster.wire.compound import HEADER_OVERHEAD, PART_OVERHEAD, UnpackResult, pack, piggyback_room, unpack
from cluster.wire.messages import (
    MESSAGE_TYPES,
    Alive,
    CodecError,
    Compound,
    Dead,
    NodeInfo,
    Ping,
    PingAck,
    Suspect,
    from_plain,
)
from tests.test_messages import records

PING = encode(Ping(7, "manager", "worker-1"))
ACK = encode(PingAck(7, "worker-1"))
SUSPECT = encode(Suspect("worker-2", 3, "manager"))
DEAD = encode(Dead("worker-3", 1, "proxy-1"))
ALIVE = encode(Alive(NodeInfo("id-1", "worker-1", "127.0.0.1", 9001, "worker", 2)))


def _size(first: bytes, *parts: bytes) -> int:
    """The exact size of the compound of these parts, as the encoder makes it."""
    return len(encode(Compound((first, *parts))))


# --- pack ----------------------------------------------------------------------------------------------


def test_with_nothing_to_piggyback_the_message_goes_bare() -> None:
    assert pack(PING, [], MAX_DATAGRAM) == (PING, [])


def test_when_no_extra_part_fits_the_message_goes_bare() -> None:
    budget = min(_size(PING, SUSPECT), _size(PING, DEAD)) - 1
    assert pack(PING, [SUSPECT, DEAD], budget) == (PING, [SUSPECT, DEAD])


def test_parts_that_fit_ride_along_in_order() -> None:
    datagram, left = pack(PING, [SUSPECT, DEAD, ALIVE], MAX_DATAGRAM)
    assert left == []
    assert datagram == encode(Compound((PING, SUSPECT, DEAD, ALIVE)))
    assert unpack(datagram, max_size=MAX_DATAGRAM) == UnpackResult(
        (decode(PING), decode(SUSPECT), decode(DEAD), decode(ALIVE)), (), (PING, SUSPECT, DEAD, ALIVE)
    )


def test_the_budget_is_exact() -> None:
    exact = _size(PING, SUSPECT, DEAD)
    assert pack(PING, [SUSPECT, DEAD], exact) == (encode(Compound((PING, SUSPECT, DEAD))), [])
    datagram, left = pack(PING, [SUSPECT, DEAD], exact - 1)
    assert (datagram, left) == (encode(Compound((PING, SUSPECT))), [DEAD])
    assert len(datagram) <= exact - 1


def test_a_part_that_does_not_fit_is_skipped_and_later_ones_still_go() -> None:
    budget = _size(PING, SUSPECT, DEAD)
    assert len(ALIVE) > len(DEAD)
    datagram, left = pack(PING, [SUSPECT, ALIVE, DEAD], budget)
    assert datagram == encode(Compound((PING, SUSPECT, DEAD)))
    assert left == [ALIVE]


def test_a_first_message_over_the_budget_is_refused() -> None:
    with pytest.raises(CodecError, match="exceeds the datagram budget"):
        pack(PING, [], len(PING) - 1)
    assert pack(PING, [SUSPECT], len(PING)) == (PING, [SUSPECT])


@pytest.mark.parametrize("count", [14, 15, 16, 17])
def test_the_array_header_grows_at_sixteen_parts(count: int) -> None:
    """msgpack's fixarray holds 15 items; the 16th part costs two more header bytes."""
    parts = [SUSPECT] * count
    exact = _size(PING, *parts)
    assert pack(PING, parts, exact) == (encode(Compound((PING, *parts))), [])
    datagram, left = pack(PING, parts, exact - 1)
    assert len(datagram) <= exact - 1
    assert len(left) == 1


@pytest.mark.parametrize("size", [253, 254, 255, 256, 257, 1000])
def test_the_part_header_grows_past_255_bytes(size: int) -> None:
    """msgpack's bin8 holds 255 bytes; a longer part takes a 3-byte bin16 header."""
    part = b"p" * size
    exact = _size(PING, part)
    assert pack(PING, [part], exact) == (encode(Compound((PING, part))), [])
    assert pack(PING, [part], exact - 1) == (PING, [part])


def test_the_worst_case_overheads_hold() -> None:
    """HEADER_OVERHEAD and PART_OVERHEAD bound the framing of parts up to 65,535 bytes (and as many)."""
    for parts in ([b"x"], [b"x" * 300] * 3, [b"x"] * 20, [b"x" * 65_535]):
        framing = _size(*parts) - sum(len(part) for part in parts)
        assert framing <= HEADER_OVERHEAD + PART_OVERHEAD * len(parts)
    assert piggyback_room(PING, 10) == 0
    assert piggyback_room(PING, MAX_DATAGRAM) == MAX_DATAGRAM - HEADER_OVERHEAD - PART_OVERHEAD - len(PING)


# --- unpack --------------------------------------------------------------------------------------------


def test_a_bare_message_unpacks_to_itself() -> None:
    result = unpack(PING, max_size=MAX_DATAGRAM)
    assert result == UnpackResult((Ping(7, "manager", "worker-1"),), (), (PING,))
    assert result.dropped == 0


def test_an_empty_compound_carries_nothing() -> None:
    assert unpack(encode(Compound(())), max_size=MAX_DATAGRAM) == UnpackResult(())


def test_a_bad_part_is_dropped_and_the_good_ones_are_kept() -> None:
    bad_schema = msgpack.packb({"t": "ping", "seq": "x", "source": "a", "target": "b"})
    datagram = encode(Compound((PING, b"\xc1", SUSPECT, bad_schema, b"")))
    result = unpack(datagram, max_size=MAX_DATAGRAM)
    assert result.messages == (decode(PING), decode(SUSPECT))
    assert result.dropped == 3
    assert result.errors[0].startswith("part 1: not valid msgpack")
    assert result.errors[1] == "part 3: ping.seq: expected int, got str"
    assert result.errors[2].startswith("part 4: ")


def test_a_nested_compound_is_refused() -> None:
    inner = encode(Compound((SUSPECT, DEAD)))
    result = unpack(encode(Compound((PING, inner))), max_size=MAX_DATAGRAM)
    assert result.messages == (decode(PING),)
    assert result.errors == ("part 1: nested compound refused",)


def test_a_datagram_over_the_size_limit_is_refused_whole() -> None:
    """A part is never larger than its datagram, so the codec's size check on the datagram bounds them all."""
    datagram = encode(Compound((PING, SUSPECT)))
    assert unpack(datagram, max_size=len(datagram)).dropped == 0
    with pytest.raises(CodecError, match="exceeds the limit"):
        unpack(datagram, max_size=len(datagram) - 1)


@pytest.mark.parametrize("garbage", [b"", b"\xc1", b"\x92\x01\x02", PING[:-1], b"\x81\xa1t\xa8compound"])
def test_a_datagram_that_is_not_a_message_is_a_codec_error(garbage: bytes) -> None:
    with pytest.raises(CodecError):
        unpack(garbage, max_size=MAX_DATAGRAM)


def test_parts_must_be_bytes() -> None:
    with pytest.raises(CodecError, match=r"compound\.parts\[1\]: expected bytes, got str"):
        from_plain({"t": "compound", "parts": [b"ok", "text"]})
    with pytest.raises(CodecError, match=r"compound\.parts: expected array, got bytes"):
        from_plain({"t": "compound", "parts": b"raw"})


# --- properties ----------------------------------------------------------------------------------------

single_messages = st.one_of([records(cls) for cls in MESSAGE_TYPES.values() if cls is not Compound])
"""Any message but a compound, every field drawn from its annotation (see tests/test_messages.py)."""


@settings(max_examples=150, deadline=None)
@given(single_messages, st.lists(single_messages, max_size=24), st.data())
def test_pack_fits_the_budget_and_unpack_returns_exactly_the_packed_parts(
    first: Any, extra: list[Any], data: st.DataObject
) -> None:
    first_bytes = encode(first)
    extra_bytes = [encode(msg) for msg in extra]
    budget = data.draw(st.integers(len(first_bytes), len(first_bytes) + 600), label="budget")
    datagram, left = pack(first_bytes, extra_bytes, budget)
    assert len(datagram) <= budget

    result = unpack(datagram, max_size=budget)
    assert result.dropped == 0
    outer = decode(datagram, max_size=budget)
    if isinstance(outer, Compound):
        sent = list(outer.parts)
        assert len(sent) >= 2  # a lone message is never wrapped
    else:
        sent = [datagram]
    assert sent[0] == first_bytes
    assert result.messages == tuple(decode(part) for part in sent)
    assert [encode(msg) for msg in result.messages] == sent
    assert _is_subsequence(sent[1:], extra_bytes) and _is_subsequence(left, extra_bytes)
    assert sorted(sent[1:] + left) == sorted(extra_bytes)


def _is_subsequence(part: list[bytes], whole: list[bytes]) -> bool:
    rest = iter(whole)
    return all(any(item == other for other in rest) for item in part)


_parts = st.lists(st.binary(min_size=1, max_size=400), max_size=30)


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=200), _parts, st.data())
def test_pack_matches_a_greedy_model_on_the_real_encoder(
    first: bytes, extra: list[bytes], data: st.DataObject
) -> None:
    """Each part in turn goes if the compound, measured by encoding it, still fits; otherwise it is left."""
    budget = data.draw(st.integers(len(first), len(first) + 2000), label="budget")
    chosen: list[bytes] = []
    left: list[bytes] = []
    for part in extra:
        (chosen if _size(first, *chosen, part) <= budget else left).append(part)
    expected = encode(Compound((first, *chosen))) if chosen else first
    assert pack(first, extra, budget) == (expected, left)
    assert len(expected) <= budget


@settings(max_examples=100, deadline=None)
@given(
    single_messages,
    st.lists(st.tuples(st.sampled_from("abcdefgh"), single_messages), max_size=30),
    st.integers(100, MAX_DATAGRAM),
    st.integers(1, 200),
)
def test_what_the_queue_hands_out_within_piggyback_room_always_packs(
    first: Any, updates: list[tuple[str, Any]], budget: int, n_members: int
) -> None:
    """The composition the membership core uses: queue.take within piggyback_room, then pack; nothing is left
    over (so no transmit is counted for a part that did not go) and the datagram fits."""
    first_bytes = encode(first)
    if len(first_bytes) > budget:
        return
    queue = TransmitLimitedQueue()
    for key, msg in updates:
        queue.queue(key, msg, encode(msg))
    extra = queue.take(piggyback_room(first_bytes, budget), PART_OVERHEAD, n_members, 4)
    datagram, left = pack(first_bytes, extra, budget)
    assert left == []
    assert len(datagram) <= budget
    assert len(unpack(datagram, max_size=budget).messages) == 1 + len(extra)


def _unpacks_or_refuses(data: bytes, max_size: int = MAX_DATAGRAM) -> None:
    try:
        result = unpack(data, max_size=max_size)
    except CodecError:
        return
    assert isinstance(result, UnpackResult)
    assert all(type(msg) in MESSAGE_TYPES.values() and type(msg) is not Compound for msg in result.messages)
    assert result.dropped == len(result.errors)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_datagrams_unpack_or_are_refused(garbage: bytes) -> None:
    _unpacks_or_refuses(garbage)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=10))
def test_compounds_of_garbage_parts_drop_them_one_by_one(parts: list[bytes]) -> None:
    result = unpack(encode(Compound(tuple(parts))), max_size=MAX_DATAGRAM)
    assert result.dropped + len(result.messages) == len(parts)


@settings(max_examples=150, deadline=None)
@given(st.lists(single_messages, min_size=2, max_size=8), st.data())
def test_truncated_or_corrupted_compounds_unpack_or_are_refused(msgs: list[Any], data: st.DataObject) -> None:
    datagram = encode(Compound(tuple(encode(msg) for msg in msgs)))
    end = data.draw(st.integers(0, len(datagram)), label="cut")
    _unpacks_or_refuses(datagram[:end])
    corrupted = bytearray(datagram)
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(datagram) - 1), st.integers(0, 255)), max_size=4))
    for index, byte in flips:
        corrupted[index] = byte
    _unpacks_or_refuses(bytes(corrupted))
