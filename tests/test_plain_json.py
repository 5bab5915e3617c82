"""What clusterctl prints of plain values: bytes included, which JSON has no type for."""

from __future__ import annotations

import json

import pytest

from cluster.ops import plain_json


def test_bytes_are_shown_tagged_in_base64_and_everything_else_as_json_shows_it() -> None:
    shown = plain_json.dumps({"raw": b"\x00\x01", "list": [1, "a", None], "nested": [bytearray(b"z")]})
    assert json.loads(shown) == {
        "raw": {"$bytes": "AAE="},
        "list": [1, "a", None],
        "nested": [{"$bytes": "eg=="}],
    }


def test_what_is_not_plain_still_fails_with_its_type() -> None:
    with pytest.raises(TypeError, match="set cannot be shown"):
        plain_json.dumps({1, 2})
