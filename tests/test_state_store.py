"""The replicated state store: tables for each rule, and properties over random exchanges.

The properties drive several owners and replicas through random writes, deletes, restarts, tombstone
collection, budget-cut anti-entropy and infection-style forwarding with drops, duplicates and reordering;
then a few reliable anti-entropy rounds must leave every replica with exactly each owner's live entries.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.state.store import (
    FIRST_GENERATION_LIMIT,
    GENERATION_STEP_LIMIT,
    MAX_HELD_RANGES,
    StateStore,
    StoreError,
)
from cluster.wire.messages import OwnerDelta, SyncableState

pytestmark = pytest.mark.timeout(120)

BIG = 1 << 20


def live(store: StateStore) -> dict[tuple[str, str, str], object]:
    return {(e.source_node, e.state_type, e.key): e.value for e in store.entries() if not e.tombstone}


def sync(receiver: StateStore, sender: StateStore, now: float, budget: int = BIG) -> None:
    deltas, _cut = sender.delta_for(receiver.digest(), budget)
    receiver.apply(deltas, now)


# -- tables ---------------------------------------------------------------------------------------------


def test_a_write_is_pushed_with_the_range_it_continues() -> None:
    a = StateStore("a", 1)
    first = a.write("kv", "x", 1, 5, 0.0)
    second = a.write("kv", "y", 2, 9, 0.0)
    assert (first.after, first.through, second.after, second.through) == (0, 5, 5, 9)
    with pytest.raises(StoreError, match="not above"):
        a.write("kv", "z", 3, 9, 0.0)


def test_a_forwarded_write_above_a_gap_is_held_until_the_gap_is_filled() -> None:
    a, b = StateStore("a", 1), StateStore("b", 1)
    first = a.write("kv", "x", 1, 5, 0.0)
    second = a.write("kv", "y", 2, 9, 0.0)
    report = b.apply([second], 0.0)
    assert report.applied == 1 and b.owners()["a"] == (1, 0)  # holds y, cannot vouch for (0, 9]
    assert b.gapped("a")
    b.apply([first], 0.0)
    # (0, 5] now, and (5, 9] was held: the watermark moves past both at once, with no second copy
    assert b.owners()["a"] == (1, 9) and not b.gapped("a") and live(b) == live(a)


def test_held_ranges_join_in_any_order_and_stop_at_a_hole() -> None:
    a, b = StateStore("a", 1), StateStore("b", 1)
    writes = [a.write("kv", f"k{v}", v, v, 0.0) for v in range(1, 6)]
    b.apply([writes[4], writes[2]], 0.0)  # (4, 5] and (2, 3]
    b.apply([writes[0]], 0.0)  # (0, 1]: reaches nothing held
    assert b.owners()["a"] == (1, 1) and b.gapped("a")
    b.apply([writes[1]], 0.0)  # (1, 2] reaches (2, 3]; (3, 4] is still missing
    assert b.owners()["a"] == (1, 3) and b.gapped("a")
    b.apply([writes[3]], 0.0)
    assert b.owners()["a"] == (1, 5) and not b.gapped("a")


def test_held_ranges_are_bounded() -> None:
    b = StateStore("b", 1)
    top = 1 + 3 * MAX_HELD_RANGES
    for version in range(top, 1, -1):  # all but the first write, newest first: each one above a gap
        b.apply([delta("a", 1, version, f"k{version}", after=version - 1)], 0.0)
    assert b.owners()["a"] == (1, 0) and b.gapped("a")
    b.apply([delta("a", 1, 1, "first")], 0.0)
    # only the lowest ranges were kept: the watermark climbs through them; the rest is anti-entropy's
    assert b.owners()["a"] == (1, 1 + MAX_HELD_RANGES) and not b.gapped("a")


def test_a_budget_cut_delta_vouches_only_for_what_it_carries() -> None:
    a, b = StateStore("a", 1), StateStore("b", 1)
    for version in range(1, 30):
        a.write("kv", f"k{version}", "v" * 40, version, 0.0)
    deltas, cut = a.delta_for(b.digest(), 400)
    assert cut and len(deltas) == 1 and deltas[0].through < 29
    b.apply(deltas, 0.0)
    assert b.owners()["a"] == (1, deltas[0].through)
    for _ in range(20):
        sync(b, a, 0.0, budget=400)
    assert live(b) == live(a)


def test_a_higher_generation_replaces_the_former_life() -> None:
    old, b = StateStore("a", 1), StateStore("b", 1)
    old.write("kv", "x", "old", 50, 0.0)
    old.write("kv", "gone", "old", 51, 0.0)
    sync(b, old, 0.0)
    new = StateStore("a", 2)
    new.write("kv", "x", "new", 1, 0.0)  # a fresh clock, far behind the old life's
    sync(b, new, 0.0)
    assert live(b) == {("a", "kv", "x"): "new"}
    sync(b, old, 0.0)  # the former life's gossip still in flight
    assert live(b) == {("a", "kv", "x"): "new"}


@pytest.mark.parametrize(
    ("known", "generation", "accepted"),
    [
        (None, FIRST_GENERATION_LIMIT, True),
        (None, FIRST_GENERATION_LIMIT + 1, False),
        (3, 3 + GENERATION_STEP_LIMIT, True),
        (3, 4 + GENERATION_STEP_LIMIT, False),
    ],
)
def test_implausible_generations_are_refused(known: int | None, generation: int, accepted: bool) -> None:
    b = StateStore("b", 1)
    if known is not None:
        b.apply([delta("a", known, 1, "x")], 0.0)
    report = b.apply([delta("a", generation, 1, "y")], 0.0)
    assert (report.rejected == 0) is accepted
    if not accepted:
        assert "implausible generation" in report.reasons[0]


def delta(owner: str, generation: int, version: int, key: str, after: int = 0) -> OwnerDelta:
    entry = SyncableState("kv", key, 1, version, owner, generation)
    return OwnerDelta(owner, generation, after, version, False, 0, (entry,))


def test_entries_that_lie_about_their_owner_or_range_are_rejected() -> None:
    b = StateStore("b", 1)
    forged = SyncableState("kv", "x", 1, 3, "mallory", 1)
    report = b.apply([OwnerDelta("a", 1, 0, 3, False, 0, (forged,))], 0.0)
    assert report.rejected == 1 and live(b) == {}
    outside = SyncableState("kv", "x", 1, 9, "a", 1)
    report = b.apply([OwnerDelta("a", 1, 0, 3, False, 0, (outside,))], 0.0)
    assert report.rejected == 1 and live(b) == {}
    report = b.apply([delta("b", 1, 4, "mine")], 0.0)
    assert report.rejected == 1 and "written only here" in report.reasons[0]


def test_a_peer_below_a_collected_tombstone_gets_a_snapshot_and_the_delete_holds() -> None:
    a, b, c = StateStore("a", 1), StateStore("b", 1), StateStore("c", 1)
    a.write("kv", "x", "alive", 1, 0.0)
    a.write("kv", "y", "stays", 2, 0.0)
    sync(c, a, 0.0)  # c has x, then misses the delete
    a.write("kv", "x", None, 3, 0.0, tombstone=True)
    sync(b, a, 0.0)
    assert b.collect_tombstones(100.0, grace=10.0) and a.collect_tombstones(100.0, grace=10.0)
    deltas, _ = b.delta_for(c.digest(), BIG)
    assert deltas[0].snapshot
    report = c.apply(deltas, 100.0)
    assert [e.key for e in report.dropped] == ["x"]
    assert live(c) == {("a", "kv", "y"): "stays"} == live(b)


def test_a_dead_owner_is_kept_for_its_grace_then_dropped_and_quarantined() -> None:
    a, b = StateStore("a", 1), StateStore("b", 1)
    a.write("kv", "x", 1, 1, 0.0)
    sync(b, a, 0.0)
    b.owner_failed("a", 10.0)
    assert b.drop_dead_owners(15.0, grace=10.0) == [] and live(b)
    assert [e.key for e in b.drop_dead_owners(20.0, grace=10.0)] == ["x"] and live(b) == {}
    report = b.apply([delta("a", 1, 1, "x")], 21.0)  # stale gossip of the dead life
    assert report.rejected == 1 and live(b) == {}
    report = b.apply([delta("a", 2, 1, "x")], 22.0)  # its next life
    assert report.applied == 1 and b.quarantined("a") is None


def test_a_false_alarm_refuted_in_time_loses_nothing() -> None:
    a, b = StateStore("a", 1), StateStore("b", 1)
    a.write("kv", "x", 1, 1, 0.0)
    sync(b, a, 0.0)
    b.owner_failed("a", 10.0)
    b.owner_alive("a")
    assert b.drop_dead_owners(100.0, grace=10.0) == [] and live(b) == live(a)


# -- properties -----------------------------------------------------------------------------------------


class Owner:
    """One node writing its own entries, with its Lamport clock; a restart is a new life."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.generation = 1
        self.clock = 0
        self.store = StateStore(name, 1)

    def write(self, rng: random.Random, now: float) -> OwnerDelta:
        self.clock += rng.randint(1, 3)  # Lamport versions have gaps (clock updates from peers)
        key = f"k{rng.randrange(4)}"
        if rng.random() < 0.3:
            return self.store.write("kv", key, None, self.clock, now, tombstone=True)
        return self.store.write("kv", key, rng.randrange(100), self.clock, now)

    def restart(self, now: float) -> None:
        """A new life with a fresh clock; what it wrote before is gone with it, as with an in-memory node."""
        self.generation += 1
        self.clock = 0
        self.store = StateStore(self.name, self.generation)


def run_history(seed: int, *, restarts: bool, collect: bool) -> tuple[list[Owner], list[StateStore]]:
    rng = random.Random(seed)
    owners = [Owner(f"o{i}") for i in range(3)]
    replicas = [StateStore(f"r{i}", 1) for i in range(3)]
    everyone = lambda: [o.store for o in owners] + replicas  # noqa: E731 - stores change on restart
    in_flight: list[OwnerDelta] = []
    now = 0.0
    for _ in range(rng.randrange(20, 80)):
        now += rng.random()
        roll = rng.random()
        if roll < 0.35:
            in_flight.append(rng.choice(owners).write(rng, now))
        elif roll < 0.55 and in_flight:
            # infection-style forwarding: any pending update, to anyone, possibly twice, possibly never
            pushed = in_flight.pop(rng.randrange(len(in_flight)))
            for store in rng.sample(everyone(), rng.randrange(0, 3)):
                store.apply([pushed], now)
            if rng.random() < 0.3:
                in_flight.append(pushed)
        elif roll < 0.85:
            receiver, sender = rng.sample(everyone(), 2)
            sync(receiver, sender, now, budget=rng.choice([300, 600, BIG]))
        elif roll < 0.92 and collect:
            rng.choice(everyone()).collect_tombstones(now, grace=rng.choice([0.0, 2.0]))
        elif restarts:
            rng.choice(owners).restart(now)
    # Then the network is kind: anti-entropy until nobody learns anything.
    for _ in range(30):
        for receiver in everyone():
            for sender in everyone():
                if receiver is not sender:
                    sync(receiver, sender, now, budget=600)
    return owners, replicas


def truth(owners: list[Owner]) -> dict[tuple[str, str, str], object]:
    return {k: v for owner in owners for k, v in live(owner.store).items()}


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32), st.booleans(), st.booleans())
def test_every_replica_converges_to_the_owners_live_entries(seed: int, restarts: bool, collect: bool) -> None:
    owners, replicas = run_history(seed, restarts=restarts, collect=collect)
    expected = truth(owners)
    for store in replicas + [o.store for o in owners]:
        assert live(store) == expected or store.local in {o.name for o in owners}
        if store.local not in {o.name for o in owners}:
            digest = {owner: pair for owner, pair in store.owners().items() if owner != store.local}
            assert all(digest[o.name] == o.store.owners()[o.name] for o in owners)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32))
def test_a_delete_never_comes_back(seed: int) -> None:
    """A key whose last write by its owner was a delete is absent everywhere, tombstones collected or not."""
    owners, replicas = run_history(seed, restarts=False, collect=True)
    deleted = {(e.source_node, e.state_type, e.key) for o in owners for e in o.store.entries() if e.tombstone}
    for store in replicas:
        assert not deleted & set(live(store))
