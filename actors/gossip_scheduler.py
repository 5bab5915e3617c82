"""The gossip scheduler actor: the shell of `cluster.state.gossip.StateGossip` (replicated state).

It owns the node's state store. Providers ask it to write their own entries (`WriteState`) and hear of
every entry of their type that lands in the store (`Applied`), leaves it (`Forgotten`), whose owner fails
(`OwnerFailed`) and who is alive (`LiveChanged`): the core's own effects, passed on as they are (frozen
dataclasses, split by state type). They never see the store itself. State datagrams reach it from the
membership actor, which reads the shared UDP socket; it sends through the reactor's thread-safe
`send_datagram`, as membership does, and over TCP peerings through the transport.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pykka

from actors.base import answer, handles, tell_if_alive
from actors.clock import Clock
from actors.effects import CoreShell, Neighbours, carry_out
from actors.messages import (
    AttachProviders,
    MembersChanged,
    MessageReceived,
    PeerIsDown,
    PeerIsUp,
    StateDatagram,
    TimerFired,
    WriteState,
    WriteStates,
)
from actors.own_timers import OwnTimers
from cluster.control.protocol import Accepted, StateStatus, StateWritten, failure, success
from cluster.core import effects as fx
from cluster.core.effects import Address
from cluster.state.gossip import (
    Applied,
    EntryTooLarge,
    Forgotten,
    LiveChanged,
    OwnerFailed,
    StateGossip,
)

log = logging.getLogger(__name__)

REASONS_SHOWN = 5
"""How many refusals of a `state-set-many` its answer quotes (all are counted)."""

PROVIDER_BATCH = 512
"""Entries held for the providers at most while input keeps coming: a burst does not keep them waiting."""


class GossipSchedulerActor(OwnTimers, CoreShell[StateGossip]):
    """Its timers (sync, retransmission, collection) live in its own inbox, as membership's do: an idle
    node's only periodic state work is one sync tick, and it should wake one thread, not three."""

    def __init__(
        self,
        core: StateGossip,
        neighbours: Neighbours,
        *,
        clock: Clock,
        providers: Mapping[str, pykka.ActorRef[Any]],
        send_datagram: Callable[[Address, bytes], None],
        **kwargs: Any,
    ) -> None:
        """`providers`: state type -> its provider actor."""
        super().__init__(core, neighbours, clock=clock, **kwargs)
        self._clock = clock
        self._providers = dict(providers)
        self._send_datagram = send_datagram
        self._published: object = None
        # What the providers are to hear, held while the inbox still has input: one tell per burst.
        self._for_providers: list[tuple[pykka.ActorRef[Any], object]] = []
        self._held_entries = 0

    def snapshot(self) -> StateStatus:
        return StateStatus(
            generation=self.core.store.generation,
            owners=dict(sorted(self.core.store.owners().items())),
            entries=len(self.core.store),
            sent_datagrams=self.core.stats["sent_datagrams"],
            sent_bytes=self.core.stats["sent_bytes"],
            received_rejected=self.core.stats["received_rejected"],
            oversized=self.core.stats["oversized"],
        )

    def on_start(self) -> None:
        super().on_start()
        self.apply(self.core.start(self._clock.now()))

    @handles(AttachProviders)
    def _attach(self, message: AttachProviders) -> None:
        self._providers = dict(message.providers)

    @handles(MembersChanged)
    def _members(self, message: MembersChanged) -> None:
        now = self._clock.now()
        self.apply(self.core.members(dict(message.members), now, generations=dict(message.generations)))

    @handles(WriteStates)
    def _write_many(self, message: WriteStates) -> None:
        if message.reply is None:
            for write in message.writes:
                self._write(write)
            return
        refused = list(message.refused)
        written = 0
        for write in message.writes:
            problem = self._write_one(write)
            if problem is None:
                written += 1
            else:
                refused.append(problem)
        answer(message.reply, success(Accepted(written, len(refused), tuple(refused[:REASONS_SHOWN]))))

    @handles(WriteState)
    def _write(self, message: WriteState) -> None:
        problem = self._write_one(message)
        if problem is None:
            return
        if message.reply is not None:
            answer(message.reply, failure(problem))
        else:
            log.warning("write refused: %s", problem)

    def _write_one(self, message: WriteState) -> str | None:
        """Stamp and spread one write (answering its own `reply`); why it was refused, or None."""
        try:
            effects = self.core.write(
                message.state_type,
                message.key,
                message.value,
                self._clock.now(),
                tombstone=message.tombstone,
            )
        except EntryTooLarge as error:
            return str(error)
        if message.reply is not None:
            written = self.core.store.get(self.core.local, message.state_type, message.key)
            assert written is not None  # just stamped
            answer(message.reply, success(StateWritten.of(written)))
        self.apply(effects)
        return None

    @handles(StateDatagram)
    def _datagram(self, message: StateDatagram) -> None:
        self.apply(self.core.datagram(message.address, message.payload, self._clock.now()))

    @handles(MessageReceived)
    def _stream(self, message: MessageReceived) -> None:
        self.apply(self.core.stream(message.peer, message.message, self._clock.now()))

    @handles(PeerIsUp)
    def _peer_up(self, message: PeerIsUp) -> None:
        self.core.peer_up(message.name)

    @handles(PeerIsDown)
    def _peer_down(self, message: PeerIsDown) -> None:
        self.core.peer_down(message.name)

    @handles(TimerFired)
    def _timer(self, message: TimerFired) -> None:
        self.apply(self.core.timer(message.key, self._clock.now()))

    def _burst_over(self) -> None:
        """Under a burst, the pushes, the providers' news and the status wait until the inbox is empty
        (the providers at most `PROVIDER_BATCH` entries): per datagram they were a third of a replica's
        CPU, mostly thread hand-offs and snapshots nobody read before the next one."""
        self.apply(self.core.burst_over())
        self._tell_providers()
        version = self.core.store.digest()
        if version != self._published:
            self._published = version
            self.publish()

    def apply(self, effects: Iterable[Any]) -> None:
        generic: list[fx.Effect] = []
        # Datagrams leave first; the providers (whose threads would compete with the sends) hear after.
        for_providers = self._for_providers
        for effect in self.set_own_timers(effects):
            match effect:
                case fx.SendDatagram(address, payload):
                    self._send_datagram(address, payload)
                case Applied(state_type) | Forgotten(state_type):
                    if (provider := self._providers.get(state_type)) is not None:
                        for_providers.append((provider, effect))
                        self._held_entries += len(effect.entries)
                case OwnerFailed() | LiveChanged():
                    for_providers += [(provider, effect) for provider in self._providers.values()]
                case _:
                    generic.append(effect)
        carry_out(generic, self.neighbours, self.actor_ref)
        if self._held_entries >= PROVIDER_BATCH:
            self._tell_providers()

    def _tell_providers(self) -> None:
        """One `Applied` or `Forgotten` per state type and run, in the order the store made them."""
        held, self._for_providers, self._held_entries = self._for_providers, [], 0
        merged: list[tuple[pykka.ActorRef[Any], object]] = []
        for provider, message in held:
            last = merged[-1] if merged else None
            if last is not None and last[0] is provider and _same_run(last[1], message):
                assert isinstance(message, Applied | Forgotten)
                entries = last[1].entries + message.entries  # type: ignore[attr-defined]
                merged[-1] = (provider, type(message)(message.state_type, entries))
            else:
                merged.append((provider, message))
        for provider, message in merged:
            tell_if_alive(provider, message)

    def on_stop(self) -> None:
        self._tell_providers()
        super().on_stop()


def _same_run(earlier: object, later: object) -> bool:
    """Two provider messages that can go as one: `Applied` (or `Forgotten`) of one state type in a row."""
    return (
        isinstance(earlier, Applied | Forgotten)
        and type(earlier) is type(later)
        and earlier.state_type == later.state_type
    )
