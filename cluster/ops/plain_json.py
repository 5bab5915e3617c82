"""Plain values as JSON, for what clusterctl prints.

A replicated value or an event may hold bytes (msgpack carries them; JSON has no such type), and
`json.dumps` raised on them, so `clusterctl state list` of a cluster holding one ended in a traceback.
Bytes are shown as `{"$bytes": "<base64>"}`: a tagged object cannot be mistaken for a string a user wrote,
and base64 is what Consul's and etcd's JSON APIs use for raw values.
"""

from __future__ import annotations

import base64
import json
from typing import Any

__all__ = ["dumps"]


def dumps(value: Any) -> str:
    return json.dumps(value, default=_jsonable)


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    raise TypeError(f"{type(value).__name__} cannot be shown as JSON")
