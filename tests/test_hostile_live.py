"""Hostile datagrams against real node processes (issue 11 §0), each sent from a plain socket as an
attacker would, each one of the reproductions that used to crash a node or take a member over: refused,
counted in `status`, and every node still running with the same pid.

The clusters are sealed (by default), so the attacker seals with the cluster's key: these are what a
member with a bug, or with the key and bad intentions, can send, which the key alone does not stop."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest

from cluster.control.protocol import (
    Accepted,
    StateEntries,
    StateGetRequest,
    StateListRequest,
    StateSetManyRequest,
    StateSetRequest,
    StateWritten,
)
from cluster.ops.control_client import ControlRefused
from cluster.ops.processes import node_process_alive
from cluster.ops.testing import LiveCluster
from cluster.state.gossip import MAX_VALUE_DEPTH, STATE_DATAGRAM_MARKER
from cluster.wire.codec import FrameReader, decode, encode, frame
from cluster.wire.messages import (
    PROTOCOL_VERSION,
    Alive,
    ControlReply,
    Hello,
    HelloRefused,
    NodeInfo,
    OwnerDelta,
    Push,
    Suspect,
    SyncableState,
    WireMessage,
)
from cluster.wire.seal import DATAGRAM, FRAME

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parent.parent
LAYOUT = ROOT / "layouts" / "local.yaml"


IMPLAUSIBLE_TIME = "state message refused: implausible time"
UNPROVEN = "state news refused: unproven generation"


def sealed(live: LiveCluster, channel: bytes, payload: bytes) -> bytes:
    sealing = live.cluster.sealing
    assert sealing is not None, "the test clusters run sealed by default"
    return sealing.sealer.seal(channel, payload)


def opened(live: LiveCluster, payload: bytes) -> bytes:
    sealing = live.cluster.sealing
    assert sealing is not None
    return sealing.frames.open(FRAME, payload)


def send(live: LiveCluster, node: str, message: WireMessage, *, sock: socket.socket) -> None:
    spec = live.layout.node(node)
    sock.sendto(sealed(live, DATAGRAM, encode(message)), (spec.host, spec.port))


def refused(live: LiveCluster, node: str, reason: str) -> int:
    dropped = live.cluster.status(node).dropped or {}
    return dropped.get(f"membership news refused: {reason}", 0)


def eventually(check: Callable[[], bool], *, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not true within {timeout}s"
        time.sleep(0.05)


def address_seen(live: LiveCluster, observer: str, member: str) -> str:
    membership = live.cluster.status(observer).membership
    assert membership is not None
    (row,) = [row for row in membership.members if row.member == member]
    return row.address


def test_one_datagram_neither_kills_a_node_nor_moves_nor_invents_a_member(
    cluster_processes: Callable[..., LiveCluster],
) -> None:
    live = cluster_processes(LAYOUT)
    pids = {name: live.cluster.pid(name) for name in live.layout.names}
    worker_2 = live.layout.node("worker-2")
    attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    attacker.bind(("127.0.0.1", 0))
    try:
        # a suspicion of a live node at the top of the range: it used to refute at 2**63 and crash
        send(live, "worker-1", Suspect("worker-1", 2**63 - 1, "manager"), sock=attacker)
        eventually(lambda: refused(live, "worker-1", "implausible-incarnation") >= 1)
        # an alive of worker-2 at a higher incarnation from the attacker's port, to every node
        held = live.cluster.status("worker-2").membership
        assert held is not None
        (me,) = [row for row in held.members if row.member == "worker-2"]
        hijack = NodeInfo(
            me.id, "worker-2", "127.0.0.1", attacker.getsockname()[1], "worker", me.incarnation + 1
        )
        ghost = NodeInfo("g", "ghost", "127.0.0.1", attacker.getsockname()[1], "worker")
        for node in live.layout.names:
            send(live, node, Alive(hijack), sock=attacker)
            send(live, node, Alive(ghost), sock=attacker)
        for node in live.layout.names:
            eventually(lambda n=node: refused(live, n, "wrong-address") >= 1)
            eventually(lambda n=node: refused(live, n, "unknown-member") >= 1)
        for node in live.layout.names:
            assert address_seen(live, node, "worker-2") == f"{worker_2.host}:{worker_2.port}"
            membership = live.cluster.status(node).membership
            assert membership is not None and "ghost" not in {row.member for row in membership.members}
        # a state push at a Lamport time near 2**63: it used to exhaust the receiver's clock, so that its
        # next write crashed the node
        spec = live.layout.node("worker-3")
        forged = bytes([STATE_DATAGRAM_MARKER]) + encode(Push("manager", 2**63 - 1, ()))
        attacker.sendto(sealed(live, DATAGRAM, forged), (spec.host, spec.port))
        eventually(lambda: (live.cluster.status("worker-3").dropped or {}).get(IMPLAUSIBLE_TIME, 0) >= 1)
        written = live.cluster.ask("worker-3", StateSetRequest("kv", "after", 1), StateWritten)
        assert written.owner == "worker-3"
    finally:
        attacker.close()
    assert {name: live.cluster.pid(name) for name in live.layout.names} == pids
    assert all(node_process_alive(pid, name) for name, pid in pids.items())
    assert not live.events("member_failed")


def test_what_a_node_accepts_it_can_always_send_back(
    cluster_processes: Callable[..., LiveCluster], tmp_path: Path
) -> None:
    """Issue 11 §0.7: a 14-deep value was accepted, and the next read of it stopped the node that answered
    (the manager, once). Now a write deeper than every answer can carry is refused with the reason, the
    deepest one accepted reads back from every node, and a reply over the frame limit is refused, not
    raised in the transport."""
    layout = tmp_path / "small-frames.yaml"
    layout.write_text(LAYOUT.read_text() + "timings: {max_frame_size: 65536}\n")
    live = cluster_processes(layout)
    pids = {name: live.cluster.pid(name) for name in live.layout.names}
    deep: object = 1
    for _ in range(MAX_VALUE_DEPTH):
        deep = [deep]
    live.cluster.ask("worker-1", StateSetRequest("kv", "deep", deep), StateWritten)
    with pytest.raises(ControlRefused, match=f"nests more than {MAX_VALUE_DEPTH} deep"):
        live.cluster.ask("worker-1", StateSetRequest("kv", "deeper", [deep]), StateWritten)
    for node in live.layout.names:
        eventually(
            lambda n=node: "deep" in live.cluster.ask(n, StateGetRequest("kv", "deep"), StateEntries).entries
        )
    # a batch is answered once each of its writes is judged (§0.8: it said "accepted" for writes it
    # refused a moment later)
    mixed = (("fits", 1), ("too-deep", [deep]), ("too-big", "x" * 5000), ("fits-too", 2))
    answered = live.cluster.ask("worker-2", StateSetManyRequest("kv", mixed), Accepted)
    assert (answered.accepted, answered.refused) == (2, 2)
    assert "nests more than" in answered.reasons[0] and "must fit one datagram" in answered.reasons[1]
    # 200 entries of 500 bytes each are legal writes; listing them all is over a 64 KiB frame
    for batch in range(8):
        entries = tuple((f"bulk-{batch}-{i}", "x" * 500) for i in range(25))
        assert live.cluster.ask("worker-2", StateSetManyRequest("kv", entries), Accepted).accepted == 25
    eventually(
        lambda: (
            len(live.cluster.ask("worker-2", StateGetRequest("kv", "bulk-7-24"), StateEntries).entries) == 1
        )
    )
    with pytest.raises(ControlRefused, match="the answer cannot be sent"):
        live.cluster.ask("worker-2", StateListRequest("kv"), StateEntries)
    assert {name: live.cluster.pid(name) for name in live.layout.names} == pids
    assert all(node_process_alive(pid, name) for name, pid in pids.items())


def raw_request(live: LiveCluster, host: str, port: int, request: object) -> ControlReply:
    """A control frame built by hand, as a client that breaks the schema would send it; its reply."""
    payload = sealed(live, FRAME, msgpack.packb(request, use_bin_type=True))
    reader = FrameReader()
    with socket.create_connection((host, port), timeout=5.0) as sock:
        sock.sendall(len(payload).to_bytes(4, "big") + payload)
        while True:
            data = sock.recv(65536)
            assert data, "closed without a reply"
            for frame in reader.feed(data):
                message = decode(opened(live, frame))
                if isinstance(message, ControlReply):
                    return message


@pytest.mark.parametrize(
    ("args", "command", "reason"),
    [
        ({"provider": "kv", "key": "x" * 1_000_000}, "state-get", "exceeds max_str_len"),
        (
            {"provider": "kv", "key": "d", "value": [[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]},
            "state-set",
            "nested deeper",
        ),
        ([1, 2], "status", "expected map, got list"),
        ({}, "x" * 300, "longer than 255 characters"),
    ],
)
def test_a_control_request_that_breaks_the_schema_is_answered_with_what_is_wrong(
    cluster_in_process: Callable[..., LiveCluster], args: object, command: str, reason: str
) -> None:
    """Issue 11 §0.8: these got no reply at all, and the client waited out its timeout."""
    live = cluster_in_process(LAYOUT)
    spec = live.layout.node("worker-1")
    request = {"t": "control-request", "command": command, "args": args}
    reply = raw_request(live, spec.host, spec.port, request)
    assert not reply.ok and reason in reply.error
    assert live.cluster.status("worker-1").node == "worker-1"


def test_a_stranger_that_connects_learns_nothing_to_claim(
    cluster_in_process: Callable[..., LiveCluster],
) -> None:
    """Issue 11 §0.9: every accepted connection was greeted with the node's hello (id, generation, layout
    digest), which is all a hello claiming its name needs; a refusal told the digest too."""
    live = cluster_in_process(LAYOUT)
    spec = live.layout.node("worker-1")
    with socket.create_connection((spec.host, spec.port), timeout=5) as stranger:
        stranger.settimeout(0.5)
        with pytest.raises(TimeoutError):
            stranger.recv(1)  # not greeted
        claim = Hello(
            live.layout.cluster, "worker-2", "forged", 99, PROTOCOL_VERSION, "0000000000000000", False
        )
        stranger.settimeout(5)
        stranger.sendall(frame(sealed(live, FRAME, encode(claim))))
        reader, replies = FrameReader(), []
        while not replies and (data := stranger.recv(65536)):
            replies = [decode(opened(live, payload)) for payload in reader.feed(data)]
    assert replies == [HelloRefused("other-layout", "this node runs another layout")]
    assert live.layout.digest not in str(replies)


def test_a_push_in_another_nodes_name_at_its_next_generation_replaces_nothing(
    cluster_in_process: Callable[..., LiveCluster],
) -> None:
    """Issue 11 §0.5: a push in the manager's name at generation + 1 replaced its entries on every node."""
    live = cluster_in_process(LAYOUT)
    written = live.cluster.ask("manager", StateSetRequest("kv", "owned", 1), StateWritten)
    eventually(
        lambda: "owned" in live.cluster.ask("worker-1", StateGetRequest("kv", "owned"), StateEntries).entries
    )
    generation = live.cluster.status("manager").generation + 1
    forged = SyncableState("kv", "owned", "forged", (generation << 32) + 1, "manager", generation, False)
    delta = OwnerDelta("manager", generation, 0, forged.version, True, 0, (forged,))
    spec = live.layout.node("worker-1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as attacker:
        attacker.sendto(
            sealed(
                live,
                DATAGRAM,
                bytes([STATE_DATAGRAM_MARKER]) + encode(Push("manager", forged.version, (delta,))),
            ),
            (spec.host, spec.port),
        )
        eventually(lambda: (live.cluster.status("worker-1").dropped or {}).get(UNPROVEN, 0) >= 1)
    seen = live.cluster.ask("worker-1", StateGetRequest("kv", "owned"), StateEntries).entries["owned"]
    assert (seen.value, seen.version) == (1, written.version)
