"""The transmit-limited queue: membership updates waiting to ride on pings and acks (architecture §3, §5).

SWIM spreads an update by piggybacking it on the probes a node sends anyway. Each update is sent a bounded
number of times, `retransmit_mult * ceil(log10(n + 1))`: enough for an epidemic to reach every member with
high probability, few enough that the queue drains and old news stops costing bytes.

Modelled on HashiCorp memberlist's `TransmitLimitedQueue` (queue.go), keeping its rules:

- An update is queued under the name of what it is about (memberlist's `NamedBroadcast.Name`); queueing
  another update under the same name removes the queued one (`QueueBroadcast` finishes and deletes the old
  broadcast), and the new one starts again at zero transmits. Which update is newer is decided by the
  membership core before it queues (incarnation and state precedence); the queue only keeps the latest call.
- `GetBroadcasts(overhead, limit)` visits the least-transmitted tier first, charges `overhead + len(message)`
  per message against `limit`, skips a message that does not fit and goes on looking for one that does, and
  counts every message it hands out; once a message's count reaches the limit it is removed (and `Finished`).
- The limit is memberlist's `retransmitLimit` (util.go), computed from the member count at the time of each
  call, so a queue built while the cluster was small keeps sending long enough once it has grown.
- `Prune(maxRetain)` keeps the `maxRetain` messages nearest the front of the send order and drops the rest
  (it removes the btree's maximum: the most transmitted, oldest among equals).

Where this differs, on purpose: within a tier memberlist prefers longer messages (to fill the datagram) and
then the newest id; here the order is fewest transmits, then newest, with the queueing sequence number as the
tie-breaker, so the order is total and the same in a test, a live node and the simulator. There is no lock
and no clock: the owning actor is the only caller (architecture §2).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

from cluster.wire.messages import WireMessage

__all__ = ["QueuedUpdate", "TransmitLimitedQueue", "retransmit_limit"]


def retransmit_limit(retransmit_mult: int, n_members: int) -> int:
    """How many times one gossiped update is sent before it is dropped from the queue.

    memberlist ``util.go`` ``retransmitLimit``: retransmit_mult * ceil(log10(n + 1)). Epidemic spread reaches
    everyone in about log(n) rounds, so a multiple of that makes loss of the update unlikely while keeping
    the queue short. n = 0 gives 0 (nobody to tell), n = 1..9 gives one multiple, n = 10..99 two, and so on.
    """
    if n_members < 0:
        raise ValueError(f"n_members must be >= 0, got {n_members}")
    return retransmit_mult * math.ceil(math.log10(n_members + 1))


@dataclass(frozen=True, slots=True)
class QueuedUpdate:
    """One update waiting in the queue: what it is about, the message, its bytes and how often it went out.

    `seq` is the queue's own counter at queueing time: a larger one is newer."""

    key: str
    message: WireMessage
    encoded: bytes
    transmits: int
    seq: int

    def send_order(self) -> tuple[int, int]:
        """Fewest transmits first, then newest: fresh news spreads before old news is repeated."""
        return (self.transmits, -self.seq)


class TransmitLimitedQueue:
    """Updates to piggyback, each sent a bounded number of times; at most one queued update per key.

    Pure and deterministic: no clock, threads or randomness, so two queues fed the same calls hand out the
    same bytes in the same order.

    `take` is called on every datagram a node sends, and at scale the queue holds thousands of updates (the
    members each node of a 10,000-node start hears of by gossip before its first push-pull), so it
    never sorts the queue: the updates wait in a heap in send order, and a take pops them in that order
    until even the smallest update queued no longer fits what is left, putting back what it skipped. That
    is the scan of the whole queue the rules describe, stopped where nothing more could be taken. Heap
    entries of replaced, discarded or re-counted updates are left behind and dropped when they surface.
    """

    __slots__ = ("_heap", "_items", "_seq", "_sizes")

    def __init__(self) -> None:
        self._items: dict[str, _Held] = {}
        self._heap: list[tuple[int, int, str]] = []  # (transmits, -seq, key), live or stale
        self._sizes: dict[int, int] = {}  # encoded size -> how many queued updates have it
        self._seq = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def queue(
        self, key: str, message: WireMessage, encoded: bytes, *, redundant_after: int | None = None
    ) -> None:
        """Queue `message` (already encoded as `encoded`) about `key`, replacing any update queued about it.

        The replacement starts at zero transmits, as a fresh broadcast does in memberlist's QueueBroadcast:
        what the cluster must hear now is the new state, however often the old one was already sent.
        `redundant_after`: the update leaves the queue once others have sent it to us that many times (see
        `heard`); None keeps it for its full count of transmits whatever others send."""
        if type(encoded) is not bytes or not encoded:
            raise ValueError("encoded must be the message's non-empty bytes")
        if redundant_after is not None and redundant_after < 1:
            raise ValueError(f"redundant_after must be >= 1 or None, got {redundant_after}")
        self._seq += 1
        self._drop(key)
        held = _Held(key, message, encoded, self._seq, redundant_after)
        self._items[key] = held
        self._sizes[held.size] = self._sizes.get(held.size, 0) + 1
        self._push(held)

    def take(
        self,
        budget_bytes: int,
        overhead_per_part: int,
        n_members: int,
        retransmit_mult: int,
        *,
        limit: int | None = None,
    ) -> list[bytes]:
        """The encoded updates to piggyback on one datagram, in send order, within `budget_bytes`.

        Each one costs `overhead_per_part + len(encoded)` (the framing it gets inside a compound datagram),
        and the costs together never exceed `budget_bytes`. An update too large for what is left is skipped,
        not a stopping point, so smaller ones behind it still go (memberlist's GetBroadcasts). Every update
        handed out counts one transmit; one that has now been sent `retransmit_limit(retransmit_mult,
        n_members)` times (above) leaves the queue. `n_members` is the current cluster
        size, this node included (as memberlist's NumNodes); with n_members = 0 the limit is 0 and an update
        is sent once. `limit` overrides that count, for a sender that knows how many copies it wants.
        """
        if budget_bytes < 0 or overhead_per_part < 0 or retransmit_mult < 0:
            got = f"{budget_bytes}, {overhead_per_part}, {retransmit_mult}"
            raise ValueError(f"budget, overhead and retransmit_mult must be >= 0, got {got}")
        if not self._items:
            return []
        if limit is None:
            limit = retransmit_limit(retransmit_mult, n_members)
        items = self._items
        heap = self._heap
        smallest = min(self._sizes)
        taken: list[_Held] = []
        skipped: list[tuple[int, int, str]] = []
        fits = budget_bytes - overhead_per_part  # the largest update that still fits
        while heap and fits >= smallest:
            entry = heapq.heappop(heap)
            held = items.get(entry[2])
            if held is None or held.seq != -entry[1] or held.transmits != entry[0]:
                continue  # replaced, discarded or re-counted since
            if held.size > fits:
                skipped.append(entry)
                continue
            fits -= overhead_per_part + held.size
            taken.append(held)
        for entry in skipped:
            heapq.heappush(heap, entry)
        # Counted only now: an update goes at most once per datagram.
        for held in taken:
            held.transmits += 1
            if held.transmits >= limit:
                self._drop(held.key)
            else:
                self._push(held)
        return [held.encoded for held in taken]

    def heard(self, key: str, message: WireMessage) -> bool:
        """Another member sent us `message`, the very update queued about `key`: whether that made it leave.

        Rumour mongering with loss of interest (Demers et al., "Epidemic Algorithms for Replicated Database
        Maintenance", PODC 1987, §1.4: a site stops spreading a rumour after k contacts that already knew
        it). Here the contact is seen from the other side: an update that keeps being sent to us is one
        that is spreading without us, whoever sends it (a queue does not know where news came from).
        Only updates queued with `redundant_after` are affected."""
        held = self._items.get(key)
        if held is None or held.redundant_after is None or held.message != message:
            return False
        held.redundant_after -= 1
        if held.redundant_after:
            return False
        self._drop(key)
        return True

    def discard(self, key: str) -> None:
        """Drop the update queued about `key`, if any."""
        self._drop(key)

    def discard_under(self, prefix: str) -> None:
        """Drop every update whose key starts with `prefix`: news that a later update makes moot (an alive
        or dead message about a member ends every accusation queued about it)."""
        for key in [key for key in self._items if key.startswith(prefix)]:
            self._drop(key)

    def prune(self, max_items: int) -> None:
        """Keep at most `max_items` updates: those nearest the front of the send order (fewest transmits,
        then newest), as memberlist's Prune drops from the far end. Bounds the queue when updates arrive
        faster than pings can carry them."""
        if max_items < 0:
            raise ValueError(f"max_items must be >= 0, got {max_items}")
        if len(self._items) <= max_items:
            return
        for item in self._ordered()[max_items:]:
            self._drop(item.key)

    def pending(self) -> tuple[QueuedUpdate, ...]:
        """Every queued update, in send order."""
        return tuple(self._ordered())

    def pending_keys(self) -> tuple[str, ...]:
        """The keys of the queued updates, in send order."""
        return tuple(item.key for item in self._ordered())

    def _ordered(self) -> list[QueuedUpdate]:
        frozen = [QueuedUpdate(h.key, h.message, h.encoded, h.transmits, h.seq) for h in self._items.values()]
        return sorted(frozen, key=QueuedUpdate.send_order)

    def _drop(self, key: str) -> None:
        held = self._items.pop(key, None)
        if held is None:
            return
        left = self._sizes[held.size] - 1
        if left:
            self._sizes[held.size] = left
        else:
            del self._sizes[held.size]
        if not self._items:
            self._heap.clear()

    def _push(self, held: _Held) -> None:
        heapq.heappush(self._heap, (held.transmits, -held.seq, held.key))
        if len(self._heap) > 4 * len(self._items) + 1024:
            # Stale entries outnumber the live ones: drop them at once.
            self._heap = [(h.transmits, -h.seq, h.key) for h in self._items.values()]
            heapq.heapify(self._heap)


class _Held:
    """A queued update as the queue keeps it: `QueuedUpdate`'s fields, its transmits counted in place."""

    __slots__ = ("encoded", "key", "message", "redundant_after", "seq", "size", "transmits")

    def __init__(
        self, key: str, message: WireMessage, encoded: bytes, seq: int, redundant_after: int | None = None
    ) -> None:
        self.redundant_after = redundant_after  # counted down by `heard`
        self.key = key
        self.message = message
        self.encoded = encoded
        self.size = len(encoded)
        self.seq = seq
        self.transmits = 0
