"""The control endpoint: the shell of `cluster.control.endpoint.ControlCore` on the node's TCP port.

The other actors push what they see to it (`StatusChanged`, `ViewChanged`) rather than being asked,
because actors never `ask` each other (architecture §2); the core answers reads from those copies. Writes go
on to the provider of their state type with the request's reply address, and the provider answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pykka

from actors.app.messages import AppControl
from actors.base import CrashHandler, NodeActor, answer, handles, tell_if_alive
from actors.messages import (
    ApplyFaults,
    AttachProviders,
    AttachRouter,
    ControlRequestReceived,
    DigestWanted,
    ProviderCommand,
    ProviderCommands,
    Reply,
    StatusChanged,
    ViewChanged,
)
from cluster.control.endpoint import (
    Answer,
    AskDigest,
    ControlCore,
    ForwardApp,
    ForwardWrite,
    ForwardWrites,
    NodeIdentity,
    SetFaults,
)
from cluster.control.protocol import failure


class ControlEndpoint(NodeActor):
    def __init__(
        self,
        identity: NodeIdentity,
        *,
        peers: tuple[str, ...] = (),
        dropped: Callable[[], Mapping[str, int]] | None = None,
        on_crash: CrashHandler | None = None,
    ) -> None:
        """`peers`: the other nodes of the layout, which a partition may name. `dropped`: what the node
        refused or lost so far, by reason (read at each `status`)."""
        super().__init__(on_crash=on_crash)
        self.core = ControlCore(identity, dropped=dropped)
        self.core.peers_known(peers)
        self._providers: dict[str, pykka.ActorRef[Any]] = {}
        self._router: pykka.ActorRef[Any] | None = None

    @handles(AttachRouter)
    def _attach_router(self, message: AttachRouter) -> None:
        self._router = message.router

    @handles(AttachProviders)
    def _attach(self, message: AttachProviders) -> None:
        self._providers = dict(message.providers)
        self.core.providers_attached(self._providers)

    @handles(ViewChanged)
    def _view_changed(self, message: ViewChanged) -> None:
        self.core.view_changed(message.provider, message.changes)

    @handles(StatusChanged)
    def _status_changed(self, message: StatusChanged) -> None:
        self.core.status_changed(message.part)

    @handles(ControlRequestReceived)
    def _request(self, message: ControlRequestReceived) -> None:
        reply = Reply(message.conn_id, message.reply_to)
        for effect in self.core.request(message.request):
            match effect:
                case Answer(body):
                    answer(reply, body)
                case ForwardWrite(provider, op, key, value):
                    tell_if_alive(self._providers[provider], ProviderCommand(op, key, value, reply))
                case ForwardWrites(provider, entries):
                    commands = tuple(ProviderCommand("set", key, value) for key, value in entries)
                    tell_if_alive(self._providers[provider], ProviderCommands(commands, reply))
                case AskDigest(provider):
                    tell_if_alive(self._providers[provider], DigestWanted(reply))
                case SetFaults(plan):
                    # The request came through the transport, which is who carries faults out.
                    tell_if_alive(reply.transport, ApplyFaults(plan))
                case ForwardApp(app_request):
                    if self._router is None:
                        answer(reply, failure("this node runs no application actors"))
                    else:
                        tell_if_alive(self._router, AppControl(app_request, reply))
