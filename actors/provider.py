"""A state provider actor: the shell of one `cluster.provider.Provider` core (kv, health, ...).

It hears from the gossip scheduler what landed in or left the store for its type and which owners
failed, and from users (through the control endpoint) what they ask of it. Its own writes go to the
scheduler as `WriteState`; every change users can see becomes a `state_changed` event and an update of
the control endpoint's copy of its view, from which `clusterctl state` is answered.
"""

from __future__ import annotations

from typing import Any

import pykka

from actors.base import CrashHandler, NodeActor, answer, handles, tell_if_alive
from actors.messages import (
    EntriesApplied,
    EntriesForgotten,
    LiveMembers,
    OwnerFailed,
    ProviderCommand,
    RaiseEvent,
    ViewChanged,
    WriteState,
)
from cluster.messages import ControlReply
from cluster.provider import CommandError, Provider, ProviderOutput


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

    @property
    def label(self) -> str:
        return f"provider-{self.core.provider_type()}"

    def on_start(self) -> None:
        if self._control is not None:
            tell_if_alive(self._control, ViewChanged(self.core.provider_type(), ()))

    @handles(EntriesApplied)
    def _applied(self, message: EntriesApplied) -> None:
        self._carry_out(self.core.apply_remote_state(message.entries))

    @handles(EntriesForgotten)
    def _forgotten(self, message: EntriesForgotten) -> None:
        self._carry_out(self.core.forget(message.entries))

    @handles(OwnerFailed)
    def _owner_failed(self, message: OwnerFailed) -> None:
        self._carry_out(self.core.on_node_failure(message.owner, message.live))

    @handles(LiveMembers)
    def _live(self, message: LiveMembers) -> None:
        self._carry_out(self.core.on_members(message.live))

    @handles(ProviderCommand)
    def _command(self, message: ProviderCommand) -> None:
        try:
            writes = self.core.command(message.op, message.key, message.value)
        except CommandError as error:
            if message.reply is not None:
                answer(message.reply, ControlReply(ok=False, body={}, error=str(error)))
            return
        if not writes and message.reply is not None:
            answer(message.reply, ControlReply(ok=True, body={"provider": self.core.provider_type()}))
        for i, write in enumerate(writes):
            reply = message.reply if i == len(writes) - 1 else None
            tell_if_alive(
                self._scheduler, WriteState(write.state_type, write.key, write.value, write.tombstone, reply)
            )

    def _carry_out(self, output: ProviderOutput) -> None:
        for write in output.writes:
            tell_if_alive(
                self._scheduler, WriteState(write.state_type, write.key, write.value, write.tombstone)
            )
        for change in output.changes:
            tell_if_alive(
                self._events,
                RaiseEvent(
                    "state_changed",
                    {
                        "provider": change.provider,
                        "key": change.key,
                        "value": change.value,
                        "owner": change.owner,
                        "version": change.version,
                    },
                ),
            )
        if self._control is not None and output.changes:
            shown = tuple((c.key, c.value, c.owner, c.version) for c in output.changes)
            tell_if_alive(self._control, ViewChanged(self.core.provider_type(), shown))
