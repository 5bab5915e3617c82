"""Pools as in Zeek: HRW moves exactly a dead node's keys; round robin alternates per key, skips the dead."""

from __future__ import annotations

from cluster.app.pools import RoundRobin, hrw_pick

WORKERS = [f"worker-{i}" for i in range(1, 6)]
KEYS = [f"word-{i}" for i in range(2000)]


def test_hrw_moves_exactly_the_dead_nodes_keys() -> None:
    before = {key: hrw_pick(key, WORKERS) for key in KEYS}
    survivors = [w for w in WORKERS if w != "worker-3"]
    after = {key: hrw_pick(key, survivors) for key in KEYS}
    moved = {key for key in KEYS if before[key] != after[key]}
    assert moved == {key for key in KEYS if before[key] == "worker-3"}
    assert all(after[key] in survivors for key in moved)
    # the keys spread over every node, and moved ones over every survivor
    assert set(before.values()) == set(WORKERS)
    assert {after[key] for key in moved} == set(survivors)


def test_hrw_is_the_same_whatever_the_order_of_the_nodes() -> None:
    assert all(hrw_pick(key, WORKERS) == hrw_pick(key, reversed(WORKERS)) for key in KEYS[:200])


def test_no_live_node_is_none() -> None:
    assert hrw_pick("k", []) is None
    assert RoundRobin().pick("worker", "k", []) is None


def test_round_robin_alternates_per_key_and_skips_the_dead() -> None:
    rr = RoundRobin()
    three = ["worker-1", "worker-2", "worker-3"]
    assert [rr.pick("worker", "a", three) for _ in range(4)] == [
        "worker-1",
        "worker-2",
        "worker-3",
        "worker-1",
    ]
    assert rr.pick("worker", "b", three) == "worker-1"  # each key has its own rotation
    two = ["worker-1", "worker-3"]
    picks = [rr.pick("worker", "a", two) for _ in range(4)]
    assert "worker-2" not in picks and set(picks) == set(two)
