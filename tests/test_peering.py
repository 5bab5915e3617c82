"""The transport's pure rules: hello refusals (one per reason), peerings, redial with backoff."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from cluster.core.effects import Address, CancelTimer, Emit, StartTimer
from cluster.core.events import NodeDownEvent, NodeUpEvent
from cluster.readiness.peering import (
    Close,
    Deliver,
    DeliverControl,
    Dial,
    Dropped,
    HandshakeDeadline,
    Identified,
    Identity,
    PeerDown,
    PeeringTable,
    PeerUp,
    Redial,
    SendOn,
)
from cluster.wire.messages import (
    PROTOCOL_VERSION,
    ControlReply,
    ControlRequest,
    Hello,
    HelloRefused,
    NodeFullyConnected,
)

ME = Identity(cluster="c", name="worker-1", node_id="w1", generation=3, layout_digest="abc")
ADDRESSES = {"manager": Address("127.0.0.1", 1), "proxy-1": Address("127.0.0.1", 2)}


def table() -> PeeringTable:
    return PeeringTable(
        ME, ADDRESSES, retry_min=0.1, retry_max=1.0, handshake_timeout=2.0, rng=random.Random(7)
    )


def hello(name: str = "manager", **changes: object) -> Hello:
    base = Hello(
        cluster="c",
        name=name,
        node_id=f"{name}-id",
        generation=1,
        protocol_version=PROTOCOL_VERSION,
        layout_digest="abc",
        cluster_started=False,
    )
    return replace(base, **changes)


def dial_and_connect(core: PeeringTable, peer: str = "manager", now: float = 0.0) -> int:
    (dial,) = core.want(peer)
    assert isinstance(dial, Dial) and dial.peer == peer
    effects = core.connected(dial.conn_id, now)
    assert isinstance(effects[0], SendOn) and isinstance(effects[0].message, Hello)
    return dial.conn_id


def test_valid_hello_brings_the_peering_up_once() -> None:
    core = table()
    conn = dial_and_connect(core)
    assert core.received(conn, hello(cluster_started=True), 0.0) == [
        CancelTimer(HandshakeDeadline(conn)),
        PeerUp("manager", "manager-id", True),
        Emit(NodeUpEvent("manager", "manager-id")),
    ]
    assert core.is_up("manager")
    assert core.send("manager", NodeFullyConnected("worker-1", "w1", False)) == [
        SendOn(conn, NodeFullyConnected("worker-1", "w1", False))
    ]
    assert core.received(conn, NodeFullyConnected("manager", "m", False), 0.0) == [
        Deliver("manager", NodeFullyConnected("manager", "m", False))
    ]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"protocol_version": PROTOCOL_VERSION + 1}, "protocol-version"),
        ({"cluster": "other"}, "other-cluster"),
        ({"name": "stranger"}, "unknown-node"),
        ({"layout_digest": "zzz"}, "other-layout"),
        ({"name": "worker-1"}, "name-held"),
        ({"name": "proxy-1"}, "unexpected-node"),
    ],
)
def test_hello_refusals(change: dict[str, object], reason: str) -> None:
    core = table()
    conn = dial_and_connect(core)
    effects = core.received(conn, hello(**change), 0.0)
    refusal = effects[0]
    assert isinstance(refusal, SendOn) and isinstance(refusal.message, HelloRefused)
    assert refusal.message.reason == reason
    assert Close(conn) in effects
    assert any(
        isinstance(e, Emit) and e.fields["reason"] == reason and e.fields["by"] == "self" for e in effects
    )
    assert not core.is_up("manager")


def test_name_held_by_live_id_is_refused_but_a_newer_generation_replaces_it() -> None:
    core = table()
    first = dial_and_connect(core)
    core.received(first, hello(generation=5), 0.0)
    assert core.accepted(-1, 0.0) == []  # not greeted: a stranger learns nothing to claim
    refused = core.received(-1, hello(node_id="impostor", generation=5), 0.0)
    told = refused[0].message
    assert told == HelloRefused("name-held", "that name is held by a live node")
    assert "manager-id" not in told.detail and "5" not in told.detail
    (event,) = [e for e in refused if isinstance(e, Emit)]
    assert "manager-id" in event.fields["detail"]  # our own event keeps the particulars
    core.accepted(-2, 0.0)
    replaced = core.received(-2, hello(node_id="reborn", generation=6), 0.0)
    assert Close(first) in replaced
    assert PeerDown("manager", "manager-id") in replaced
    assert PeerUp("manager", "reborn", False) in replaced
    # the old connection's close is now moot
    assert not [e for e in core.closed(first, 1.0) if isinstance(e, PeerDown)]


def test_an_accepted_connection_is_greeted_only_once_its_own_hello_is_valid() -> None:
    core = table()
    assert core.accepted(-1, 0.0) == []
    effects = core.received(-1, hello(), 0.0)
    assert effects[:3] == [CancelTimer(HandshakeDeadline(-1)), Identified(-1), SendOn(-1, core.hello())]
    assert PeerUp("manager", "manager-id", False) in effects
    core.accepted(-2, 0.0)
    refused = core.received(-2, hello(layout_digest="zzz"), 0.0)
    assert [e.message for e in refused if isinstance(e, SendOn)] == [
        HelloRefused("other-layout", "this node runs another layout")
    ]


def test_peer_refusal_is_an_event_and_closes() -> None:
    core = table()
    conn = dial_and_connect(core)
    effects = core.received(conn, HelloRefused("other-layout", "nope"), 0.0)
    assert Close(conn) in effects
    assert any(isinstance(e, Emit) and e.fields["by"] == "peer" for e in effects)


def test_lost_peering_goes_down_and_redials_with_growing_backoff() -> None:
    core = table()
    conn = dial_and_connect(core)
    core.received(conn, hello(), 0.0)
    effects = core.closed(conn, 10.0)
    assert effects[:2] == [PeerDown("manager", "manager-id"), Emit(NodeDownEvent("manager", "manager-id"))]
    (timer,) = [e for e in effects if isinstance(e, StartTimer)]
    assert timer.key == Redial("manager") and 10.05 <= timer.deadline <= 10.1
    delays = []
    now = 10.0
    for _ in range(6):
        (dial,) = core.timer(Redial("manager"), now)
        cancel, retry = core.closed(dial.conn_id, now, "refused")
        assert cancel == CancelTimer(HandshakeDeadline(dial.conn_id))
        delays.append(retry.deadline - now)
    assert all(0.05 <= d <= 1.0 for d in delays)
    assert delays[-1] >= 0.5  # capped window [max/2, max]


def test_a_peering_that_drops_at_once_does_not_reset_the_backoff() -> None:
    """A peer greets each connection before judging ours and then closes it (a partition applied on its
    side first): the hello must not reset the backoff, or the peer is redialled ten times a second."""
    core = table()
    conn = dial_and_connect(core)
    now = 0.0
    delays = []
    for _ in range(6):
        core.received(conn, hello(), now)
        closed_at = now + 0.01
        (retry,) = [e for e in core.closed(conn, closed_at) if isinstance(e, StartTimer)]
        delays.append(retry.deadline - closed_at)
        now = retry.deadline
        (dial,) = core.timer(Redial("manager"), now)
        core.connected(dial.conn_id, now)
        conn = dial.conn_id
    assert delays[-1] >= 0.5  # grown to the capped window [max/2, max], as for refused dials
    core.received(conn, hello(), now)
    (retry,) = [e for e in core.closed(conn, now + 1.0) if isinstance(e, StartTimer)]
    assert retry.deadline - (now + 1.0) <= 0.1  # a peering that held for retry_max: redialled at once


def test_control_request_before_hello_is_delivered_other_messages_are_not() -> None:
    core = table()
    core.accepted(-1, 0.0)
    request = ControlRequest(command="status", args={})
    assert core.received(-1, request, 0.0) == [Identified(-1), DeliverControl(-1, request)]
    core.accepted(-2, 0.0)
    effects = core.received(-2, NodeFullyConnected("x", "y", False), 0.0)
    assert isinstance(effects[0], Dropped) and Close(-2) in effects


def test_an_unreadable_request_is_answered_with_why_and_an_unreadable_peer_frame_only_dropped() -> None:
    core = table()
    core.accepted(-1, 0.0)
    effects = core.unreadable(-1, "control-request.args: expected map, got list")
    (answer,) = [e for e in effects if isinstance(e, SendOn)]
    assert answer.message == ControlReply(
        False, {}, "unreadable request: control-request.args: expected map, got list"
    )
    assert Close(-1) in effects and isinstance(effects[0], Dropped)
    peer = dial_and_connect(core)
    core.received(peer, hello(), 0.0)
    assert [type(e) for e in core.unreadable(peer, "garbled")] == [Dropped]


def test_handshake_timeout_closes_a_silent_dial() -> None:
    core = table()
    conn = dial_and_connect(core)
    effects = core.timer(HandshakeDeadline(conn), 5.0)
    assert Close(conn) in effects


def test_a_dial_waits_longer_for_the_hello_after_each_attempt_that_timed_out() -> None:
    core = table()
    (dial,) = core.want("manager")
    now = 0.0
    waits = []
    for _ in range(6):
        (_hello, deadline) = core.connected(dial.conn_id, now)
        assert isinstance(deadline, StartTimer) and deadline.key == HandshakeDeadline(dial.conn_id)
        waits.append(deadline.deadline - now)
        now = deadline.deadline
        assert Close(dial.conn_id) in core.timer(deadline.key, now)
        (retry,) = [
            e for e in core.closed(dial.conn_id, now, "closed by this node") if isinstance(e, StartTimer)
        ]
        now = retry.deadline
        (dial,) = core.timer(retry.key, now)
        assert isinstance(dial, Dial)
    assert waits == [2.0, 4.0, 8.0, 16.0, 16.0, 16.0]  # handshake_timeout 2.0, doubled up to 8 times
    # The slow peer's hello, when it comes in time, brings the peering up.
    core.connected(dial.conn_id, now)
    core.received(dial.conn_id, hello(), now)
    assert core.is_up("manager")


def test_sending_without_a_peering_is_dropped_not_raised() -> None:
    assert isinstance(table().send("manager", NodeFullyConnected("a", "b", False))[0], Dropped)


def test_a_blocked_peer_is_cut_off_not_redialled_and_dialled_at_once_when_freed() -> None:
    core = table()
    conn = dial_and_connect(core)
    core.received(conn, hello(), 0.0)
    assert core.block(frozenset({"manager"}), 1.0) == [Close(conn)]
    closed = core.closed(conn, 1.1, "closed by this node")
    assert PeerDown("manager", "manager-id") in closed
    (retry,) = [e for e in closed if isinstance(e, StartTimer)]
    assert core.timer(retry.key, retry.deadline) == []  # blocked: no dial
    accepted = -1
    core.accepted(accepted, 2.0)
    refused = core.received(accepted, hello(), 2.0)  # the peer dials us: dropped unanswered
    assert refused[-1] == Close(accepted) and isinstance(refused[0], Dropped)
    assert not core.is_up("manager")
    (dial,) = core.block(frozenset(), 3.0)
    assert isinstance(dial, Dial) and dial.peer == "manager"
