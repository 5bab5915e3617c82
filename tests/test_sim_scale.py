"""What the simulator at scale stands on (issue 10 §5): staggered starts, the events kept, the persistent
member table, the heap-ordered queue, the shared codec cache and sampling by position. No timing here:
speed is the benchmark's (`scripts/sim_report.py`), these check behaviour."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.layout.presets import PRESETS
from cluster.membership.members import Member, MemberTable, State
from cluster.membership.swim import Membership
from cluster.sim.membership import Simulation
from cluster.wire.codec import encode
from cluster.wire.compound import CodecCache, pack, unpack
from cluster.wire.messages import Alive, Compound, NodeInfo, Ping, Suspect

pytestmark = pytest.mark.timeout(120)

LAN = PRESETS["lan"]


def names(n: int) -> list[str]:
    return [f"node-{i:03d}" for i in range(n)]


def info(i: int, incarnation: int = 0) -> NodeInfo:
    return NodeInfo(
        node_id=f"n{i}#1", name=f"n{i}", host="sim", port=i + 1, role="w", incarnation=incarnation
    )


# -- staggered starts ------------------------------------------------------------------------------


def test_a_start_spread_starts_nodes_in_layout_order_within_the_spread() -> None:
    sim = Simulation(names(30), LAN, seed=2, start_spread=0.4)
    sim.start_all()
    assert not sim.nodes  # nothing forks before the run
    sim.run_for(0.5)
    started = [sim.started[n] for n in names(30)]
    assert started == sorted(started)  # the launcher forks in layout order
    assert started[0] == 0.0 and started[-1] <= 0.4
    assert len(set(started)) == 30  # random gaps, not one instant


def test_without_a_spread_every_node_starts_at_once() -> None:
    sim = Simulation(names(5), LAN, seed=2)
    sim.start_all()
    assert set(sim.started.values()) == {0.0}


def test_a_staggered_cluster_forms_and_is_repeatable() -> None:
    def run() -> list[tuple[float, str, str]]:
        sim = Simulation(names(40), LAN, seed=4, start_spread=0.3)
        sim.start_all()
        sim.run_for(5.0)
        assert all(core.table.count(State.ALIVE) == 40 for core in sim.nodes.values())
        return [(e.time, e.node, e.event) for e in sim.events]

    assert run() == run()


def test_a_negative_spread_is_refused() -> None:
    with pytest.raises(ValueError, match="start_spread"):
        Simulation(names(3), LAN, start_spread=-1.0)


def test_record_keeps_only_the_events_named() -> None:
    sim = Simulation(names(12), LAN, seed=1, record=("member_failed",))
    sim.start_all()
    sim.run_for(3.0)
    assert not sim.events  # twelve nodes joined, nobody failed
    sim.crash("node-003")
    sim.run_for(40.0)
    assert {e.event for e in sim.events} == {"member_failed"}
    assert sim.bytes_sent > sim.datagrams_sent > 0


def test_a_large_simulated_cluster_forms_through_three_seeds() -> None:
    """100 nodes greet the first three seeds and learn the rest by push-pull and gossip."""
    sim = Simulation(names(100), LAN, seed=3, start_spread=0.3, record=())
    sim.start_all()
    sim.run_for(4.0)
    assert all(core.table.count(State.ALIVE) == 100 for core in sim.nodes.values())


# -- the persistent member table -------------------------------------------------------------------


def test_a_table_grown_twice_from_one_keeps_both_lines_apart() -> None:
    base = MemberTable(info(0))
    for i in range(1, 70):  # past one chunk of 64
        base, _ = base.alive(info(i), 0.0)
    left, _ = base.alive(info(100), 1.0)
    right, _ = base.alive(info(200), 1.0)
    assert left.get("n100") is not None and left.get("n200") is None
    assert right.get("n200") is not None and right.get("n100") is None
    assert base.get("n100") is None and base.get("n200") is None and len(base) == 70
    suspected, _ = base.suspect("n5", 0, "n1", 2.0)
    assert suspected.get("n5").state is State.SUSPECT and base.get("n5").state is State.ALIVE
    assert [m.name for m in left][-1] == "n100" and len(left) == 71


def test_joined_refuses_a_name_held_or_given_twice() -> None:
    table, _ = MemberTable(info(0)).alive(info(1), 0.0)
    for infos in ([info(1)], [info(0)], [info(2), info(2)]):
        with pytest.raises(ValueError, match="joined takes"):
            table.joined(infos, 1.0)
    assert table.joined([], 1.0) == (table, [])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["alive", "suspect", "dead", "forget", "join"]),
            st.integers(1, 80),
            st.integers(0, 3),
        ),
        max_size=120,
    )
)
def test_the_table_agrees_with_a_plain_dict(ops: list[tuple[str, int, int]]) -> None:
    """Whatever the sequence of rules, the table iterates, counts and looks up as an insertion-ordered
    dict of the same members would; every earlier version stays as it was."""
    table = MemberTable(info(0))
    model: dict[str, Member] = {"n0": table.local}
    history: list[tuple[MemberTable, dict[str, Member]]] = []
    for op, i, inc in ops:
        if op == "alive":
            table, _ = table.alive(info(i, inc), 1.0)
        elif op == "suspect":
            table, _ = table.suspect(f"n{i}", inc, "n0", 1.0)
        elif op == "dead":
            table, _ = table.dead(f"n{i}", inc, "n0", 1.0)
        elif op == "forget":
            table = table.forget(f"n{i}")
        else:  # several at once, of those not held: as a push-pull's strangers join (past a chunk's end)
            strangers = [info(j, inc) for j in range(i, i + 70, 3) if table.get(f"n{j}") is None]
            table, joined = table.joined(strangers, 1.0)
            assert [m.info for m in joined] == strangers
            assert all(m.state is State.ALIVE for m in joined)
        for j in range(i, i + 70 if op == "join" else i + 1):
            member = table.get(f"n{j}")
            if member is None:
                model.pop(f"n{j}", None)
            else:
                model[f"n{j}"] = member  # a dict keeps an updated key where it was, appends a new one
        history.append((table, dict(model)))
    for version, expected in history:
        assert [(m.name, m) for m in version] == list(expected.items())
        assert len(version) == len(expected)
        counts = Counter(m.state for m in expected.values())
        assert all(version.count(state) == counts.get(state, 0) for state in State)
        assert version.live_count() == counts[State.ALIVE] + counts[State.SUSPECT]
        assert all(version.get(name) == member for name, member in expected.items())
        asked = [f"n{j}" for j in range(0, 90, 2)]
        gone = {name for name, member in expected.items() if member.state in (State.DEAD, State.LEFT)}
        assert version.missing(asked) == [n for n in asked if n not in expected or n in gone]


# -- the codec cache -------------------------------------------------------------------------------


def test_the_codec_cache_decodes_a_part_once_and_hands_out_one_copy() -> None:
    cache = CodecCache(capacity=8)
    news = encode(Alive(info(3)))
    first, _ = pack(encode(Ping(1, "a", "b")), [news], 1400)
    second, _ = pack(encode(Ping(2, "a", "c")), [bytes(news)], 1400)
    one = unpack(first, max_size=1400, cache=cache)
    two = unpack(second, max_size=1400, cache=cache)
    assert one.messages[1] is two.messages[1] == Alive(info(3))
    assert two.parts[1] is one.parts[1]  # the first bytes seen stand for every copy
    assert unpack(second, max_size=1400).messages == two.messages  # as without a cache


def test_news_received_is_passed_on_in_the_bytes_it_came_in() -> None:
    cache = CodecCache(capacity=8)
    news = encode(Alive(info(3)))
    ping = encode(Ping(1, "a", "b"))
    datagram, _ = pack(ping, [news], 1400)
    received = unpack(datagram, max_size=1400, cache=cache)
    assert cache.encode(Alive(info(3))) is received.parts[1]  # not encoded again
    # Only the news: a ping is answered, never passed on, and each has its own sequence number.
    fresh = cache.encode(Ping(1, "a", "b"))
    assert fresh == ping and fresh is not received.parts[0]


def test_the_codec_cache_is_bounded_and_refuses_garbage_each_time() -> None:
    cache = CodecCache(capacity=4)
    for i in range(20):
        cache.encode(Alive(info(i)))
    assert len(cache) <= 4
    datagram = encode(Compound((encode(Ping(1, "a", "b")), b"\xc1garbage")))
    for _ in range(2):
        result = unpack(datagram, max_size=1400, cache=cache)
        assert result.dropped == 1 and len(result.messages) == 1
    assert cache.encode(Suspect("n1", 2, "n0")) == encode(Suspect("n1", 2, "n0"))


def test_pack_builds_what_the_schema_encoder_builds() -> None:
    parts = [encode(Alive(info(i))) for i in range(12)]
    datagram, left = pack(encode(Ping(7, "x", "y")), parts, 1400)
    assert datagram == encode(Compound((encode(Ping(7, "x", "y")), *parts[: 12 - len(left)])))


# -- sampling by position --------------------------------------------------------------------------


def test_gossip_targets_drawn_by_position_are_uniform_and_skip_the_gone() -> None:
    """A large table: targets are drawn by position; each live member is as likely, the dead never."""
    local = info(0)
    core = Membership(local, {}, LAN, random.Random(5), 0.0)
    for i in range(1, 200):
        core.table, _ = core.table.alive(info(i), 0.0)
    for i in range(1, 200, 4):
        core.table, _ = core.table.dead(f"n{i}", 0, "n0", -1000.0)  # long dead: not gossiped to
    drawn: Counter[str] = Counter()
    for _ in range(3000):
        chosen = core._sample(lambda m: m.name != "n0" and not m.state.gone, 3, core.table.live_count() - 1)
        assert len({m.name for m in chosen}) == 3
        drawn.update(m.name for m in chosen)
    live = {f"n{i}" for i in range(1, 200)} - {f"n{i}" for i in range(1, 200, 4)}
    assert set(drawn) == live
    expected = 3000 * 3 / len(live)
    assert all(0.6 * expected < count < 1.4 * expected for count in drawn.values())


def test_helpers_exclude_us_and_the_target_in_a_large_table() -> None:
    core = Membership(info(0), {}, LAN, random.Random(6), 0.0)
    for i in range(1, 150):
        core.table, _ = core.table.alive(info(i), 0.0)
    for _ in range(200):
        helpers = core._helpers("n7")
        assert len(helpers) == LAN.indirect_checks
        assert not {"n0", "n7"} & {m.name for m in helpers}


def test_the_simulator_holds_off_full_collections_only_while_it_runs() -> None:
    import gc

    from cluster.sim.collector import young_collections_only

    before = gc.get_threshold()
    with young_collections_only():
        assert gc.get_threshold()[:2] == before[:2] and gc.get_threshold()[2] > 10**6
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), young_collections_only():
        raise RuntimeError("a run that fails")
    assert gc.get_threshold() == before


def test_push_pull_records_built_per_chunk_always_match_the_table() -> None:
    from cluster.wire.messages import MemberRecord

    sim = Simulation(names(150), LAN, seed=5, start_spread=0.3, record=())
    sim.start_all()
    for step in range(12):
        sim.run_for(0.4)
        if step == 6:
            sim.crash("node-070")  # suspicions and deaths change single chunks of grown tables
        for core in list(sim.nodes.values())[::15]:
            expected = tuple(MemberRecord(m.info, m.state.value) for m in core.table)
            assert core._sync(reply=False).members == expected
