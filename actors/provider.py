"""A state provider actor: the shell of one `cluster.state.provider.Provider` core (kv, health, ...).

It hears from the gossip scheduler what landed in or left the store for its type and which owners
failed, and from users (through the control endpoint) what they ask of it. Its own writes go to the
scheduler as `WriteState`; every change users can see becomes a `state_changed` event and an update of
the control endpoint's copy of its view, from which `clusterctl state` is answered.
"""

from __future__ import annotations

import logging
from typing import Any

import pykka

from actors.base import CrashHandler, NodeActor, answer, handles, tell_if_alive
from actors.messages import (
    DigestWanted,
    ProviderCommand,
    ProviderCommands,
    RaiseEvent,
    RaiseEvents,
    SubscribeViews,
    ViewChanged,
    WriteState,
    WriteStates,
)
from cluster.control.protocol import NothingWritten, StateDigest, failure, success
from cluster.state.gossip import Applied, Forgotten, LiveChanged, OwnerFailed
from cluster.state.provider import CommandError, Provider, ProviderOutput

log = logging.getLogger(__name__)


class ProviderActor(NodeActor):
    def __init__(
        self,
        core: Provider,
        *,
        scheduler: pykka.ActorRef[Any],
        events: pykka.ActorRef[Any],
        control: pykka.ActorRef[Any] | None = None,
        on_crash: CrashHandler | None = None,
    ) -> None:
        super().__init__(on_crash=on_crash)
        self.core = core
        self._scheduler = scheduler
        self._events = events
        self._control = control
        self._view_subscribers: list[pykka.ActorRef[Any]] = []

    @property
    def label(self) -> str:
        return f"provider-{self.core.provider_type()}"

    def on_start(self) -> None:
        if self._control is not None:
            tell_if_alive(self._control, ViewChanged(self.core.provider_type(), ()))

    @handles(SubscribeViews)
    def _subscribe_views(self, message: SubscribeViews) -> None:
        self._view_subscribers.append(message.subscriber)
        whole = tuple(
            (key, value, owner, version) for key, (value, owner, version) in self.core.views().items()
        )
        tell_if_alive(message.subscriber, ViewChanged(self.core.provider_type(), whole))

    @handles(Applied)
    def _applied(self, message: Applied) -> None:
        self._carry_out(self.core.apply_remote_state(message.entries))

    @handles(Forgotten)
    def _forgotten(self, message: Forgotten) -> None:
        self._carry_out(self.core.forget(message.entries))

    @handles(OwnerFailed)
    def _owner_failed(self, message: OwnerFailed) -> None:
        self._carry_out(self.core.on_node_failure(message.owner, message.live))

    @handles(LiveChanged)
    def _live(self, message: LiveChanged) -> None:
        self._carry_out(self.core.on_members(message.live))

    @handles(ProviderCommand)
    def _command(self, message: ProviderCommand) -> None:
        self._write(self._writes_for(message))

    @handles(DigestWanted)
    def _digest(self, message: DigestWanted) -> None:
        """The seed's `get_state_digest` and `get_sync_state` with the provider's holdings, for `clusterctl
        state digest`: equal answers mean equal entries; computed when asked (never on every change)."""
        entries, contents = self.core.holdings()
        digest = StateDigest(
            self.core.provider_type(),
            self.core.get_state_digest(),
            len(self.core.get_sync_state()),
            entries,
            contents,
        )
        answer(message.reply, success(digest))

    @handles(ProviderCommands)
    def _commands(self, message: ProviderCommands) -> None:
        if message.reply is None:
            self._write([write for command in message.commands for write in self._writes_for(command)])
            return
        refused: list[str] = []
        writes = [write for command in message.commands for write in self._writes_for(command, refused)]
        tell_if_alive(self._scheduler, WriteStates(tuple(writes), message.reply, tuple(refused)))

    def _writes_for(self, message: ProviderCommand, refused: list[str] | None = None) -> list[WriteState]:
        """The writes a command makes; a refusal is answered, or added to `refused` (a batch's), or
        logged when nobody waits for it."""
        try:
            writes = self.core.command(message.op, message.key, message.value)
        except CommandError as error:
            if message.reply is not None:
                answer(message.reply, failure(str(error)))
            elif refused is not None:
                refused.append(str(error))
            else:  # an application actor's write: nobody waits for an answer, so the log says it
                log.warning("refused a write of %s: %s", self.core.provider_type(), error)
            return []
        if not writes and message.reply is not None:
            answer(message.reply, success(NothingWritten(self.core.provider_type())))
        last = len(writes) - 1
        return [
            WriteState(w.state_type, w.key, w.value, w.tombstone, message.reply if i == last else None)
            for i, w in enumerate(writes)
        ]

    def _write(self, writes: list[WriteState]) -> None:
        if len(writes) == 1:
            tell_if_alive(self._scheduler, writes[0])
        elif writes:
            tell_if_alive(self._scheduler, WriteStates(tuple(writes)))

    def _carry_out(self, output: ProviderOutput) -> None:
        self._write([WriteState(w.state_type, w.key, w.value, w.tombstone) for w in output.writes])
        if output.changes:
            changes = tuple(output.changes)
            tell_if_alive(self._events, RaiseEvent(changes[0]) if len(changes) == 1 else RaiseEvents(changes))
        if output.changes and (self._control is not None or self._view_subscribers):
            shown = ViewChanged(
                self.core.provider_type(), tuple((c.key, c.value, c.owner, c.version) for c in output.changes)
            )
            for subscriber in (self._control, *self._view_subscribers):
                if subscriber is not None:
                    tell_if_alive(subscriber, shown)
