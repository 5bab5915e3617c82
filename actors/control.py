"""The control endpoint: answers `clusterctl` requests that arrive on the node's TCP port.

It answers from snapshots that the other actors push to it (`StatusChanged`) rather than asking them,
because actors never `ask` each other (DESIGN.md §2); the answer is therefore as fresh as the last change.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from actors.base import CrashHandler, NodeActor, handles
from actors.messages import AnswerControl, ControlRequestReceived, StatusChanged
from cluster.messages import ControlReply


class ControlEndpoint(NodeActor):
    def __init__(self, identity: Mapping[str, Any], *, on_crash: CrashHandler | None = None) -> None:
        super().__init__(on_crash=on_crash)
        self._identity = dict(identity)
        self._components: dict[str, Mapping[str, Any]] = {}

    @handles(StatusChanged)
    def _status_changed(self, message: StatusChanged) -> None:
        self._components[message.component] = message.snapshot

    @handles(ControlRequestReceived)
    def _request(self, message: ControlRequestReceived) -> None:
        command = message.request.command
        if command == "status":
            reply = ControlReply(ok=True, body=self.status())
        else:
            reply = ControlReply(ok=False, body={}, error=f"unknown control command {command!r}")
        message.reply_to.tell(AnswerControl(message.conn_id, reply))

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {**self._identity, "pid": os.getpid()}
        for component, snapshot in self._components.items():
            body[component] = _plain(snapshot)
        return body


def _plain(value: Any) -> Any:
    """Snapshots may hold tuples; the wire wants lists and str-keyed maps."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
