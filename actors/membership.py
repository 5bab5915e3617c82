"""The membership actor: the shell of `cluster.membership.swim.Membership` (SWIM with Lifeguard).

Datagrams reach it undecoded, straight from the transport's I/O thread (the core unpacks compound
datagrams itself); its probes and gossip leave through the transport's UDP socket. Both skip a hop through
the transport actor: at one probe a second, thread hand-offs are most of an idle node's CPU. For the same
reason its timers live in its own inbox (`actors.own_timers`), not in the timer service. The membership
push-pull travels over the handshaken TCP peering with that member when there is one. A transport
`peer_down` is passed on as a hint to probe at once, never as a verdict.

What the rest of the node hears (the status snapshot, the reachable members, the events) is handed on once
per burst, when the inbox is empty, not after every datagram: a joining cluster of N brings each node
some N joins at once, and republishing the N-member table after each of them was quadratic, the largest
part of a 101-node start (with one thread hand-off per event besides). On a starved machine a burst is
often one datagram long, so the view (snapshot and reachable members) is also handed on at most once per
gossip interval: at once when it has been quiet, and otherwise at the end of that interval, with every
change made meanwhile. At a 101-node start that was still a hundred rebuilds of the 100-member view per
node, each told to four actors that then redid their own (12 % of a starting worker's CPU); news travels
one hop per gossip interval anyway, so nobody hears the view later than the next hop would bring it.
The events are not held back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pykka

from actors.base import handles, tell_if_alive
from actors.clock import Clock
from actors.effects import CoreShell, Neighbours, carry_out
from actors.messages import (
    AddressUnreachable,
    DatagramMessage,
    LeaveCluster,
    MembersChanged,
    MessageReceived,
    PeerIsDown,
    PeerIsUp,
    RaiseEvent,
    RaiseEvents,
    StartMembership,
    StateDatagram,
    SubscribeMembers,
    TimerFired,
)
from actors.own_timers import OwnTimers
from actors.udp_reader import DatagramReceived, UdpReader
from cluster.control.protocol import MemberRow, MembershipStatus
from cluster.core import effects as fx
from cluster.core.effects import Address
from cluster.core.events import Event
from cluster.membership.swim import Membership
from cluster.state.gossip import STATE_DATAGRAM_MARKER
from cluster.wire.messages import MemberSync


@dataclass(frozen=True, slots=True)
class PublishTick:
    """Own timer key: hand on the view changed since it was last handed on (see the module docstring)."""


class MembershipActor(OwnTimers, CoreShell[Membership]):
    def __init__(
        self,
        core: Membership,
        neighbours: Neighbours,
        *,
        clock: Clock,
        send_datagram: Callable[[Address, bytes], None],
        udp: UdpReader | None = None,
        state_sink: pykka.ActorRef[Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """`send_datagram` is the transport's UDP socket, thread-safe (see Reactor.send_datagram): probes
        and acks go out without a hop through the transport actor. `udp` reads that socket in this actor's
        own inbox; without it (tests) datagrams come as `DatagramMessage`s. Datagrams of the state protocol
        (first byte 0xC1) share the socket and are passed on to `state_sink`, the gossip scheduler."""
        super().__init__(core, neighbours, clock=clock, **kwargs)
        self._send_datagram = send_datagram
        self._udp = udp
        self._clock = clock
        self._published: tuple[object, int] | None = None
        self._state_sink = state_sink
        self._member_subscribers: list[pykka.ActorRef[Any]] = []
        self._reachable: tuple[tuple[str, Address], ...] = ()
        self._generations: tuple[tuple[str, int], ...] = ()
        self._events: list[Event] = []  # raised during this burst, handed on at its end
        self._next_publish = -float("inf")  # when the view may be handed on again
        self._publish_due = False  # a PublishTick is armed

    def snapshot(self) -> MembershipStatus:
        rows = tuple(
            MemberRow(
                member=m.name,
                id=m.info.node_id,
                state=m.state.value,
                incarnation=m.incarnation,
                address=f"{m.info.host}:{m.info.port}",
                role=m.info.role,
            )
            for m in self.core.members()
        )
        return MembershipStatus(health_score=self.core.health_score, members=rows)

    def on_start(self) -> None:
        if self._udp is not None:
            self.timers.watch(self._udp.sock, self._read_udp)
        super().on_start()

    def _read_udp(self) -> list[tuple[float, DatagramMessage | AddressUnreachable]]:
        assert self._udp is not None
        messages: list[tuple[float, DatagramMessage | AddressUnreachable]] = []
        for event in self._udp.read():
            if not isinstance(event, DatagramReceived):
                messages.append((event.arrived_at, AddressUnreachable(event.address)))
            elif not self._pass_on(event.address, event.payload):
                messages.append((event.arrived_at, DatagramMessage(event.address, event.payload)))
        return messages

    def _pass_on(self, address: Address, payload: bytes) -> bool:
        """Hand a state datagram to the gossip scheduler; True if it was one."""
        if not payload or payload[0] != STATE_DATAGRAM_MARKER:
            return False
        if self._state_sink is not None:
            tell_if_alive(self._state_sink, StateDatagram(address, payload))
        return True

    @handles(SubscribeMembers)
    def _subscribe_members(self, message: SubscribeMembers) -> None:
        self._member_subscribers.append(message.subscriber)
        message.subscriber.tell(MembersChanged(self._reachable, self._generations))

    @handles(StartMembership)
    def _start(self, message: StartMembership) -> None:
        self.apply(self.core.start(self._clock.now()))

    @handles(TimerFired)
    def _timer(self, message: TimerFired) -> None:
        if type(message.key) is PublishTick:
            self._publish_due = False
            self._publish_view()
            return
        self.apply(self.core.timer(message.key, self._clock.now()))

    @handles(DatagramMessage)
    def _datagram(self, message: DatagramMessage) -> None:
        if self._pass_on(message.address, message.payload):
            return
        effects, _dropped = self.core.datagram(message.address, message.payload, self._clock.now())
        self.apply(effects)

    @handles(AddressUnreachable)
    def _unreachable(self, message: AddressUnreachable) -> None:
        self.apply(self.core.port_unreachable(message.address, self._clock.now()))

    @handles(MessageReceived)
    def _stream(self, message: MessageReceived) -> None:
        if isinstance(message.message, MemberSync):
            self.apply(self.core.stream(message.peer, message.message, self._clock.now()))

    @handles(PeerIsUp)
    def _peer_up(self, message: PeerIsUp) -> None:
        self.apply(self.core.peer_up_hint(message.name, self._clock.now()))

    @handles(PeerIsDown)
    def _peer_down(self, message: PeerIsDown) -> None:
        self.apply(self.core.peer_down_hint(message.name, self._clock.now()))

    @handles(LeaveCluster)
    def _leave(self, message: LeaveCluster) -> None:
        """Told by the node as it stops, before the transport stops: the leave datagrams still go out."""
        self.apply(self.core.leave(self._clock.now()))

    def on_stop(self) -> None:
        self._hand_on_events()  # what the leave raised, with a stop already queued behind it
        super().on_stop()

    def apply(self, effects: Iterable[Any]) -> None:
        generic: list[fx.Effect] = []
        for effect in self.set_own_timers(effects):
            match effect:
                case fx.SendDatagram(address, payload):
                    self._send_datagram(address, payload)
                case fx.Emit(event):
                    self._events.append(event)
                case _:
                    generic.append(effect)
        carry_out(generic, self.neighbours, self.actor_ref)

    def _burst_over(self) -> None:
        self._hand_on_events()
        # Probes and acks change nothing most of the time; rebuilding the member list for the control
        # endpoint on each of them was the bulk of an idle node's CPU.
        if self._publish_due or self.core.version == self._published:
            return
        if self._clock.now() < self._next_publish:
            self._publish_due = True
            self.timers.arm(PublishTick(), self._next_publish)
            return
        self._publish_view()

    def _hand_on_events(self) -> None:
        if self._events:
            events, self._events = self._events, []
            self.neighbours.events.tell(
                RaiseEvent(events[0]) if len(events) == 1 else RaiseEvents(tuple(events))
            )

    def _publish_view(self) -> None:
        version = self.core.version
        if version == self._published:
            return
        self._published = version
        self._next_publish = self._clock.now() + self.core.timings.gossip_interval
        self.publish()
        self._publish_members()

    def _publish_members(self) -> None:
        reachable, generations = self.core.reachable_generations()
        if reachable == self._reachable and generations == self._generations:
            return
        self._reachable, self._generations = reachable, generations
        for subscriber in self._member_subscribers:
            tell_if_alive(subscriber, MembersChanged(reachable, generations))
