"""Membership news and the datagrams it rides on: SWIM's piggybacking, as memberlist does it.

Each piece of news (alive, suspect, dead, leave) waits in a transmit-limited queue and is handed out a
bounded number of times: on every datagram the node sends anyway (a ping, an ack, a ping-req), in the room
the message leaves in the budget, and on a gossip tick to `gossip_nodes` members while there is news
(memberlist's `gossip()`, net.go `sendMsg`). Pure, like the core it serves: the caller says how many
members there are (the retransmit limit grows with the cluster) and whom to gossip to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cluster.core.broadcast_queue import TransmitLimitedQueue
from cluster.core.effects import Address, SendDatagram, StartTimer
from cluster.layout.presets import Timings
from cluster.wire.codec import encode
from cluster.wire.compound import HEADER_OVERHEAD, PART_OVERHEAD, CodecCache, pack, piggyback_room
from cluster.wire.messages import Suspect, WireMessage

__all__ = ["Dissemination", "GossipTick"]


@dataclass(frozen=True, slots=True)
class GossipTick:
    """Timer key: send queued news to a few random members (armed only while there is news)."""


class Dissemination:
    def __init__(self, timings: Timings, cache: CodecCache | None = None) -> None:
        self.timings = timings
        self._cache = cache if cache is not None else CodecCache()
        self._queue = TransmitLimitedQueue()
        self._armed = False
        self._accusations: dict[str, set[str]] = {}  # member -> keys of the accusations queued about it

    def __len__(self) -> int:
        """News still to be sent."""
        return len(self._queue)

    def queue(self, member: str, message: WireMessage) -> None:
        """Queue news about `member`. Accusations are kept one per accuser: Lifeguard needs independent
        confirmations to travel, and when a lost TCP peering makes several peers accuse at once, one
        queue slot per member let each accuser's re-gossip of another's accusation replace its own.
        Alive, dead and leave news ends every accusation queued about the member."""
        if isinstance(message, Suspect):
            key = f"{member}\x00suspect\x00{message.by}"
            self._accusations.setdefault(member, set()).add(key)
        else:
            # Every key queued under `member` + NUL is an accusation; they are tracked rather than looked
            # for, since the queue holds thousands of updates while a large cluster forms.
            for accusation in self._accusations.pop(member, ()):
                self._queue.discard(accusation)
            key = member
        self._queue.queue(key, message, self._cache.encode(message))

    def datagram(
        self, address: Address, message: WireMessage, n_members: int, extra: Sequence[bytes] = ()
    ) -> SendDatagram:
        """`message` to `address`, then `extra` (already encoded), then as much queued news as fits."""
        first = encode(message)
        budget = self.timings.udp_buffer_size
        piggyback = list(extra)
        room = piggyback_room(first, budget) - sum(len(part) + PART_OVERHEAD for part in piggyback)
        if room > 0:
            piggyback += self._take(room, n_members)
        payload, _left_over = pack(first, piggyback, budget)
        return SendDatagram(address, payload)

    def gossip(self, targets: Sequence[Address], n_members: int) -> list[SendDatagram]:
        """The gossip tick: one datagram of queued news to each target, while there is news."""
        self._armed = False
        datagrams: list[SendDatagram] = []
        for address in targets:
            parts = self._take(self.timings.udp_buffer_size - HEADER_OVERHEAD, n_members)
            if not parts:
                break
            payload, _ = pack(parts[0], parts[1:], self.timings.udp_buffer_size)
            datagrams.append(SendDatagram(address, payload))
        return datagrams

    def arm(self, now: float) -> list[StartTimer]:
        """The gossip tick, if news is waiting and it is not armed already."""
        if not len(self._queue) or self._armed:
            return []
        self._armed = True
        return [StartTimer(GossipTick(), now + self.timings.gossip_interval)]

    def _take(self, room: int, n_members: int) -> list[bytes]:
        return self._queue.take(room, PART_OVERHEAD, max(n_members, 1), self.timings.retransmit_mult)
