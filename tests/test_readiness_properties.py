"""Properties of the readiness rules over arbitrary start orders, crashes and restarts (Hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.layout.loader import parse_layout
from cluster.sim.readiness import ReadinessNet
from tests.test_readiness_scenarios import WITH_LOGGER

LAYOUT = parse_layout(WITH_LOGGER)
NAMES = LAYOUT.names

step = st.tuples(st.sampled_from(["kill", "start"]), st.sampled_from(NAMES))


@settings(max_examples=150, deadline=None)
@given(order=st.permutations(NAMES), steps=st.lists(step, max_size=12))
def test_one_announcement_per_cluster_and_everyone_ends_started(
    order: list[str], steps: list[tuple[str, str]]
) -> None:
    """Announced once, unless every node that knew of the start died: then a new cluster forms (Zeek too)."""
    net = ReadinessNet(LAYOUT)
    for name in order:
        net.start(name)
    extinctions = 0
    for action, name in steps:
        if action == "kill" and name in net.nodes:
            net.kill(name)
            if not any(node.tracker.snapshot().cluster_started for node in net.nodes.values()):
                extinctions += 1
        elif action == "start" and name not in net.nodes:
            net.start(name)
    for name in NAMES:  # heal: everyone back
        if name not in net.nodes:
            net.start(name)
    announcements = [f for who, what, f in net.history if what == "cluster_announced"]
    assert 1 <= len(announcements) <= 1 + extinctions
    if extinctions == 0:
        assert len(announcements) == 1
    coordinator = net.nodes["manager"].coordinator
    assert coordinator is not None and coordinator.started and coordinator.missing == ()
    for name in NAMES:
        assert net.nodes[name].tracker.snapshot().cluster_started, name
        # every live node raised cluster_started exactly once in its current life
        assert [e for e, _ in net.nodes[name].events].count("cluster_started") == 1, name


@settings(max_examples=100, deadline=None)
@given(order=st.permutations(NAMES))
def test_reports_before_everyone_is_present_never_announce(order: list[str]) -> None:
    net = ReadinessNet(LAYOUT)
    for name in order[:-1]:
        net.start(name)
        assert not [1 for _, what, _ in net.history if what == "cluster_announced"]
    net.start(order[-1])
    assert [what for _, what, _ in net.history].count("cluster_announced") == 1
