"""Provider merge rules: tables for each rule, and Hypothesis for commutativity, associativity and
idempotence (any order, grouping and repetition of the same entries gives the same view)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.state.provider import CommandError, Provider
from cluster.state.providers import PROVIDERS
from cluster.state.providers.circuit_breaker import CircuitBreakerProvider
from cluster.state.providers.drain import DrainProvider
from cluster.state.providers.health import HealthProvider
from cluster.state.providers.kv import KvProvider
from cluster.state.providers.sessions import SessionsProvider, rendezvous_owner
from cluster.wire.messages import SyncableState

NODES = ["a", "b", "c", "d"]


def entry(
    state_type: str,
    key: str,
    value: Any,
    owner: str,
    version: int,
    *,
    generation: int = 1,
    tomb: bool = False,
) -> SyncableState:
    return SyncableState(state_type, key, None if tomb else value, version, owner, generation, tomb)


VALUES: dict[str, Any] = {
    "kv": st.integers(0, 3),
    "health": st.sampled_from(["healthy", "unhealthy"]),
    "circuit_breaker": st.builds(
        lambda e, p: {"episode": e, "phase": p},
        st.integers(0, 3),
        st.sampled_from(["open", "half-open", "closed"]),
    ),
    "sessions": st.integers(0, 3),
    "topics": st.lists(st.sampled_from(["p", "q"]), min_size=1, max_size=2),
}


def entries_for(state_type: str) -> Any:
    if state_type == "drain":
        intent = st.builds(
            lambda k, v, o, n, t: entry("drain", f"intent/{k}", v, o, n, tomb=t),
            st.sampled_from(["x", "y"]),
            st.sampled_from(["drain", "undrain"]),
            st.sampled_from(NODES),
            st.integers(1, 6),
            st.booleans(),
        )
        report = st.builds(
            lambda k, v, o, n: entry("drain", f"report/{k}", {"intent_version": v}, o, n),
            st.sampled_from(["x", "y"]),
            st.integers(1, 6),
            st.sampled_from(NODES),
            st.integers(1, 6),
        )
        return st.one_of(intent, report)
    return st.builds(
        lambda k, v, o, n, g, t: entry(state_type, k, v, o, n, generation=g, tomb=t),
        st.sampled_from(["x", "y"]),
        VALUES[state_type],
        st.sampled_from(NODES),
        st.integers(1, 6),
        st.integers(1, 2),
        st.booleans(),
    )


def views_after(state_type: str, batches: list[list[SyncableState]]) -> dict[str, Any]:
    provider = PROVIDERS[state_type]("a")
    provider.on_members(NODES)
    for batch in batches:
        provider.apply_remote_state(batch)
    return provider.views()


def consistent(entries: list[SyncableState]) -> list[SyncableState]:
    """Entries as a real store can hold them: one per (owner, key, generation, version)."""
    seen: dict[tuple[str, str, int, int], SyncableState] = {}
    for e in entries:
        seen.setdefault((e.source_node, e.key, e.generation, e.version), e)
    return list(seen.values())


@pytest.mark.parametrize("state_type", sorted(PROVIDERS))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_merge_is_commutative_associative_and_idempotent(state_type: str, data: Any) -> None:
    entries = consistent(data.draw(st.lists(entries_for(state_type), max_size=12)))
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    expected = views_after(state_type, [entries])
    shuffled = entries + rng.sample(entries, len(entries) // 2)  # repeats: idempotence
    rng.shuffle(shuffled)  # any order: commutativity
    cuts = sorted(rng.sample(range(len(shuffled) + 1), min(3, len(shuffled) + 1)))
    batches = [shuffled[i:j] for i, j in zip([0, *cuts], [*cuts, len(shuffled)], strict=False)]
    assert views_after(state_type, batches) == expected  # any grouping: associativity


# -- kv -------------------------------------------------------------------------------------------------


def test_kv_last_writer_wins_and_a_loser_retracts_its_value() -> None:
    kv = KvProvider("a")
    kv.apply_remote_state([entry("kv", "k", "mine", "a", 5)])
    out = kv.apply_remote_state([entry("kv", "k", "theirs", "b", 7)])
    assert kv.view("k") == ("theirs", "b", 7)
    assert [(w.key, w.tombstone) for w in out.writes] == [("k", True)]
    assert out.result.conflicts == 0
    out = kv.apply_remote_state([entry("kv", "k", "older", "c", 6)])
    assert out.result.conflicts == 1 and kv.view("k") == ("theirs", "b", 7)


# -- health ---------------------------------------------------------------------------------------------


def test_health_needs_a_quorum_of_live_observers_and_the_dead_stop_counting() -> None:
    health = HealthProvider("a", quorum=2)
    health.on_members(NODES)
    health.apply_remote_state([entry("health", "db", "unhealthy", "b", 1)])
    assert health.view("db")[0]["status"] == "healthy"  # type: ignore[index]
    out = health.apply_remote_state([entry("health", "db", "unhealthy", "c", 2)])
    assert health.view("db")[0]["status"] == "unhealthy"  # type: ignore[index]
    assert [c.value["status"] for c in out.changes] == ["unhealthy"]
    out = health.on_node_failure("c", ["a", "b", "d"])
    assert health.view("db")[0] == {"status": "healthy", "unhealthy_by": ["b"], "observers": 1}  # type: ignore[index]
    assert [c.value["status"] for c in out.changes] == ["healthy"]
    with pytest.raises(CommandError, match="healthy, unhealthy"):
        health.command("set", "db", "sick")


# -- circuit breaker ------------------------------------------------------------------------------------


def test_circuit_opens_a_new_episode_and_never_goes_back() -> None:
    cb = CircuitBreakerProvider("a")
    (first,) = cb.command("set", "svc", "open")
    assert first.value == {"episode": 1, "phase": "open"}
    cb.apply_remote_state([entry("circuit_breaker", "svc", first.value, "a", 1)])
    cb.apply_remote_state([entry("circuit_breaker", "svc", {"episode": 1, "phase": "half-open"}, "b", 2)])
    cb.apply_remote_state([entry("circuit_breaker", "svc", {"episode": 1, "phase": "closed"}, "c", 3)])
    # a late copy of the old open, even with a newer version, does not re-open it
    cb.apply_remote_state([entry("circuit_breaker", "svc", {"episode": 1, "phase": "open"}, "d", 9)])
    assert cb.view("svc")[0] == {"episode": 1, "phase": "closed"}  # type: ignore[index]
    (again,) = cb.command("set", "svc", "open")
    assert again.value == {"episode": 2, "phase": "open"}
    assert cb.command("set", "other", "open")[0].value["episode"] == 1
    with pytest.raises(CommandError, match="cannot go half-open"):
        cb.command("set", "svc", "half-open")


# -- drain ----------------------------------------------------------------------------------------------


def test_drain_is_drained_once_every_live_node_reported_the_current_intent() -> None:
    providers = {n: DrainProvider(n) for n in ["a", "b", "c"]}
    for p in providers.values():
        p.on_members(["a", "b", "c"])
    (intent,) = providers["a"].command("set", "w1", "drain")
    intent_entry = entry("drain", intent.key, intent.value, "a", 10)
    reports = []
    for name, p in providers.items():
        out = p.apply_remote_state([intent_entry])
        (report,) = out.writes
        reports.append(entry("drain", report.key, report.value, name, 11))
    p = providers["a"]
    p.apply_remote_state(reports[:2])
    assert p.view("w1")[0]["drained"] is False  # type: ignore[index]
    p.apply_remote_state(reports[2:])
    assert p.view("w1")[0] == {"intent": "drain", "drained": True, "reported": ["a", "b", "c"], "live": 3}  # type: ignore[index]
    p.apply_remote_state([entry("drain", "intent/w1", "undrain", "b", 12)])
    assert p.view("w1")[0]["drained"] is False  # type: ignore[index]


# -- sessions -------------------------------------------------------------------------------------------


def test_exactly_one_survivor_claims_each_session_of_a_dead_owner() -> None:
    survivors = ["a", "b", "c"]
    sessions = [entry("sessions", f"s{i}", {"user": i}, "d", 1 + i) for i in range(20)]
    claims: dict[str, list[str]] = {}
    for name in survivors:
        p = SessionsProvider(name)
        p.on_members([*survivors, "d"])
        p.apply_remote_state(sessions)
        for write in p.on_node_failure("d", survivors).writes:
            claims.setdefault(write.key, []).append(name)
    assert sorted(claims) == sorted(e.key for e in sessions)
    assert all(len(claimants) == 1 for claimants in claims.values())
    assert {c[0] for c in claims.values()} == set(survivors)  # spread, not all on one node
    assert all(claims[k][0] == rendezvous_owner(k, survivors) for k in claims)


def test_sessions_of_live_owners_are_not_claimed() -> None:
    p: Provider = SessionsProvider("a")
    p.on_members(["a", "b", "c"])
    p.apply_remote_state([entry("sessions", "s1", 1, "b", 1)])
    assert p.on_node_failure("c", ["a", "b"]).writes == []


def test_the_digest_compares_views_and_the_sync_state_is_what_this_node_answers_for() -> None:
    entries = [entry("kv", "x", 1, "a", 3), entry("kv", "y", 2, "b", 5), entry("kv", "z", 3, "b", 7)]
    here, there = KvProvider("a"), KvProvider("c")
    here.apply_remote_state(entries)
    there.apply_remote_state(reversed(entries))
    assert here.get_state_digest() == there.get_state_digest() == (("a", 1, 3), ("b", 1, 7))
    behind = KvProvider("d")
    behind.apply_remote_state(entries[:2])
    assert behind.get_state_digest() != here.get_state_digest()
    assert here.get_sync_state() == [entries[0]] and there.get_sync_state() == []


def test_holdings_tell_apart_a_replica_missing_a_range_that_the_digest_does_not() -> None:
    """The soak's settle trusted equal digests: a replica lacking writes 2..3 of an owner below its write 4
    has the same highest version of that owner, so only the holdings show it is not there yet."""
    writes = [entry("kv", f"k{v}", v, "b", v) for v in range(1, 5)]
    whole, gapped = KvProvider("a"), KvProvider("c")
    whole.apply_remote_state(writes)
    gapped.apply_remote_state([writes[0], writes[3]])
    assert whole.get_state_digest() == gapped.get_state_digest()
    assert whole.holdings()[0] == 4 and gapped.holdings()[0] == 2
    gapped.apply_remote_state(writes[1:3])
    assert whole.holdings() == gapped.holdings()
