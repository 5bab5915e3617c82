"""Membership news and the datagrams it rides on: SWIM's piggybacking, as memberlist does it.

Each piece of news (alive, suspect, dead, leave) waits in a transmit-limited queue and is handed out a
bounded number of times: on every datagram the node sends anyway (a ping, an ack, a ping-req), in the room
the message leaves in the budget, and on a gossip tick to `gossip_nodes` members while there is news
(memberlist's `gossip()`, net.go `sendMsg`). Pure, like the core it serves: the caller says how many
members there are (the retransmit limit grows with the cluster) and whom to gossip to.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cluster.core.broadcast_queue import TransmitLimitedQueue
from cluster.core.effects import Address, SendDatagram, StartTimer
from cluster.layout.presets import Timings
from cluster.wire.codec import encode
from cluster.wire.compound import HEADER_OVERHEAD, PART_OVERHEAD, CodecCache, pack, piggyback_room
from cluster.wire.messages import Alive, NodeInfo, Suspect, WireMessage

__all__ = ["CROWDED_QUEUE", "JOIN_REDUNDANT_AFTER", "Dissemination", "GossipTick"]

JOIN_REDUNDANT_AFTER = 1
"""In a crowded queue, news of a join stops being passed on once another member has sent it to us.

When many join at once (a cluster's start), every node passed on each join it heard by gossip its full
retransmit count, some 16 times at 1,000 members, though by then most members had heard it from others:
that was most of the datagrams of a simulated 1,000-node start, and each datagram full. A join is the one
piece of news whose delay accuses nobody (a member that misses it only does not probe the newcomer until
a push-pull), so it is what gives way first when news is queued faster than datagrams carry it, before
memberlist's last resort of pruning the queue. A push-pull partner holding the member as we do is such a
sender too (`Dissemination.known_to_partner`). Suspicions, deaths and refutations keep the full count,
and so does a new life of a name already held: it outbids the old life, which others may hold suspect.

Only in a crowded queue (`CROWDED_QUEUE`): a lone join into a formed cluster keeps its full count. Cut
short there too, it reached all but one or two of 1,000 simulated members within 2 s, and those only at
the next push-pull, 30 s later; with the full count it reaches all of them within 1.5 s."""

CROWDED_QUEUE = 32
"""Queued updates beyond which the queue counts as crowded: a datagram carries some 20 alive records, so
this is news for more than one full datagram to each of the members gossiped to."""


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

    def queue(self, member: str, message: WireMessage, *, join: bool = False) -> None:
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
        redundant_after = JOIN_REDUNDANT_AFTER if join else None
        self._queue.queue(key, message, self._cache.encode(message), redundant_after=redundant_after)

    def crowded(self) -> bool:
        """More news queued than `CROWDED_QUEUE`: joins then give way to copies (`JOIN_REDUNDANT_AFTER`)."""
        return len(self._queue) > CROWDED_QUEUE

    def heard(self, member: str, message: WireMessage) -> None:
        """Another member sent us news we hold queued about `member` (see `JOIN_REDUNDANT_AFTER`)."""
        if self.crowded():
            self._queue.heard(member, message)

    def known_to_partner(self, members: Iterable[NodeInfo]) -> None:
        """A push-pull partner holds each of `members` alive just as we do: in a crowded queue, a contact
        that already knew each join we hold queued about them (`JOIN_REDUNDANT_AFTER`).

        Demers et al.'s feedback counts whoever we meet and find knowing the rumour, and a push-pull is
        such a meeting with a whole table at once. In a simulated 10,000-node start each node heard some
        150 joins by gossip before its first push-pull with a seed (which already knew all of them), and
        then passed each on until a copy came back: two thirds of the start's wall time was that drain."""
        for member in members:
            if not self.crowded():
                return
            if member.name in self._queue:  # (the queue tells a different view of the member apart)
                self._queue.heard(member.name, Alive(member))

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
