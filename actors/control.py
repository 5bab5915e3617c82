"""The control endpoint: answers `clusterctl` requests that arrive on the node's TCP port.

It answers from snapshots that the other actors push to it (`StatusChanged`) rather than asking them,
because actors never `ask` each other (DESIGN.md §2); the answer is therefore as fresh as the last change.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from actors.base import CrashHandler, NodeActor, handles, tell_if_alive
from actors.messages import (
    AnswerControl,
    AttachProviders,
    ControlRequestReceived,
    ProviderCommand,
    ProviderCommands,
    Reply,
    StatusChanged,
    ViewChanged,
)
from cluster.wire.messages import ControlReply


class ControlEndpoint(NodeActor):
    def __init__(self, identity: Mapping[str, Any], *, on_crash: CrashHandler | None = None) -> None:
        super().__init__(on_crash=on_crash)
        self._identity = dict(identity)
        self._components: dict[str, Mapping[str, Any]] = {}
        self._views: dict[str, dict[str, tuple[Any, str, int]]] = {}
        self._providers: dict[str, Any] = {}

    @handles(AttachProviders)
    def _attach(self, message: AttachProviders) -> None:
        self._providers = dict(message.providers)

    @handles(ViewChanged)
    def _view_changed(self, message: ViewChanged) -> None:
        view = self._views.setdefault(message.provider, {})
        for key, value, owner, version in message.changes:
            if value is None:
                view.pop(key, None)
            else:
                view[key] = (value, owner, version)

    @handles(StatusChanged)
    def _status_changed(self, message: StatusChanged) -> None:
        self._components[message.component] = message.snapshot

    @handles(ControlRequestReceived)
    def _request(self, message: ControlRequestReceived) -> None:
        command = message.request.command
        args = message.request.args
        if command == "status":
            reply = ControlReply(ok=True, body=self.status())
        elif command in ("state-list", "state-get"):
            reply = self._read_state(args, key=args.get("key") if command == "state-get" else None)
        elif command == "state-set-many":
            reply = self._write_many(args)
        elif command in ("state-set", "state-del"):
            provider = self._providers.get(str(args.get("provider", "")))
            if provider is not None:
                op = "set" if command == "state-set" else "del"
                answer = Reply(message.conn_id, message.reply_to)
                tell_if_alive(
                    provider, ProviderCommand(op, str(args.get("key", "")), args.get("value"), answer)
                )
                return
            reply = self._no_provider(args)
        else:
            reply = ControlReply(ok=False, body={}, error=f"unknown control command {command!r}")
        tell_if_alive(message.reply_to, AnswerControl(message.conn_id, reply))

    def _write_many(self, args: Mapping[str, Any]) -> ControlReply:
        """A batch of `set`s in one request (for load generators): accepted here, written as they reach
        the provider; the reply does not wait for them."""
        provider = self._providers.get(str(args.get("provider", "")))
        entries = args.get("entries")
        if provider is None:
            return self._no_provider(args)
        if not isinstance(entries, list) or not all(isinstance(e, list) and len(e) == 2 for e in entries):
            problem = "state-set-many: entries must be [[key, value], ...]"
            return ControlReply(ok=False, body={}, error=problem)
        commands = tuple(ProviderCommand("set", str(key), value) for key, value in entries)
        tell_if_alive(provider, ProviderCommands(commands))
        return ControlReply(ok=True, body={"accepted": len(entries)})

    def _read_state(self, args: Mapping[str, Any], *, key: Any) -> ControlReply:
        provider = str(args.get("provider", ""))
        view = self._views.get(provider)
        if view is None:
            return self._no_provider(args)
        shown = {
            k: {"value": value, "owner": owner, "version": version}
            for k, (value, owner, version) in sorted(view.items())
            if key is None or k == key
        }
        return ControlReply(ok=True, body={"provider": provider, "entries": _plain(shown)})

    def _no_provider(self, args: Mapping[str, Any]) -> ControlReply:
        known = ", ".join(sorted(self._views)) or "none"
        return ControlReply(ok=False, body={}, error=f"no provider {args.get('provider')!r} (known: {known})")

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
