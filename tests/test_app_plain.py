"""Application messages are plain data, refused at the sender with the path to what is wrong."""

from __future__ import annotations

import contextlib
import enum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cluster.app.plain import MessageTooLarge, NotPlainData, pack_message, unpack_message
from cluster.wire.schema import CodecError

plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


@given(plain)
def test_plain_data_round_trips(value: Any) -> None:
    assert unpack_message(pack_message(value)) == value


class Colour(enum.IntEnum):
    RED = 1


@pytest.mark.parametrize(
    ("value", "path", "type_name"),
    [
        ({"words": {"a", "b"}}, "message['words']", "set"),
        ([1, 2, object()], "message[2]", "object"),
        ({"n": [{"deep": Colour.RED}]}, "message['n'][0]['deep']", "Colour"),
        ({1: "one"}, "message[1]", "int"),
        (2**64, "message", "int"),
    ],
)
def test_anything_else_is_refused_naming_the_type_and_where(value: Any, path: str, type_name: str) -> None:
    with pytest.raises(NotPlainData) as refused:
        pack_message(value)
    assert refused.value.path == path
    assert type_name in str(refused.value)
    assert isinstance(refused.value, TypeError)


def test_a_message_over_the_limit_is_refused_with_its_size() -> None:
    with pytest.raises(MessageTooLarge) as refused:
        pack_message(b"x" * 2000, limit=1024)
    assert "2003 bytes" in str(refused.value) and "1024" in str(refused.value)


def test_tuples_travel_as_lists() -> None:
    assert unpack_message(pack_message((1, (2, 3)))) == [1, [2, 3]]


@given(st.binary(max_size=64))
def test_garbage_is_a_codec_error_never_anything_else(data: bytes) -> None:
    with contextlib.suppress(CodecError):
        unpack_message(data)


def test_bytes_keys_and_oversized_input_from_a_peer_are_refused() -> None:
    import msgpack

    with pytest.raises(CodecError):
        unpack_message(msgpack.packb({b"k": 1}, use_bin_type=True))
    with pytest.raises(CodecError):
        unpack_message(b"\xc4" + b"x" * 2000, limit=1024)
