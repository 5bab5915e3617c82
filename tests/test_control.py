"""The control protocol and the endpoint's rules, without a socket: typed requests, replies, status."""

from __future__ import annotations

import pytest

from cluster.control.endpoint import Answer, ControlCore, ForwardWrite, ForwardWrites, NodeIdentity
from cluster.control.protocol import (
    ConnectivityStatus,
    ControlProtocolError,
    MemberRow,
    MembershipStatus,
    StateEntries,
    StateSetManyRequest,
    StateSetRequest,
    StatusSnapshot,
    parse_reply,
    parse_request,
    to_request,
)
from cluster.wire.messages import ControlRequest

pytestmark = pytest.mark.timeout(30)

ME = NodeIdentity("worker-1", "worker", "c", "abc", 3, "d1", 4242)


def core_with_kv() -> ControlCore:
    core = ControlCore(ME)
    core.providers_attached(["kv"])
    core.view_changed("kv", [("a", 1, "worker-2", 7), ("b", "x", "worker-1", 9)])
    return core


@pytest.mark.parametrize(
    ("command", "args", "problem"),
    [
        ("state-set", {"provider": "kv", "key": 5, "value": 1}, "state-set.key: expected str, got int"),
        ("state-set", {"provider": "kv", "key": None, "value": 1}, "state-set.key: expected str, got None"),
        ("state-del", {"provider": "kv"}, "state-del.key: missing"),
        ("state-get", {"provider": "kv", "key": "k", "extra": 1}, "state-get.extra: unknown field"),
        ("state-set-many", {"provider": "kv", "entries": [["k", 1, 2]]}, "entries[0]: expected 2 items"),
        ("reboot", {}, "unknown control command 'reboot'"),
    ],
)
def test_a_bad_request_is_refused_naming_the_field(command: str, args: dict, problem: str) -> None:
    with pytest.raises(ControlProtocolError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        parse_request(ControlRequest(command, args))
    (answer,) = core_with_kv().request(ControlRequest(command, args))
    assert isinstance(answer, Answer) and not answer.reply.ok and problem in answer.reply.error


def test_requests_survive_their_wire_form() -> None:
    for request in (
        StateSetRequest("kv", "k", {"v": [1, 2]}),
        StateSetManyRequest("kv", (("a", 1), ("b", None))),
    ):
        assert parse_request(to_request(request)) == request


def test_reads_answer_from_the_published_view() -> None:
    core = core_with_kv()
    (answer,) = core.request(ControlRequest("state-get", {"provider": "kv", "key": "a"}))
    assert isinstance(answer, Answer)
    entries = parse_reply(StateEntries, answer.reply.body).entries
    assert list(entries) == ["a"] and (entries["a"].value, entries["a"].owner) == (1, "worker-2")
    core.view_changed("kv", [("a", None, "worker-2", 8)])
    (gone,) = core.request(ControlRequest("state-list", {"provider": "kv"}))
    assert isinstance(gone, Answer) and list(gone.reply.body["entries"]) == ["b"]


def test_writes_go_to_the_provider_which_answers_itself() -> None:
    core = core_with_kv()
    assert core.request(ControlRequest("state-set", {"provider": "kv", "key": "k", "value": 3})) == [
        ForwardWrite("kv", "set", "k", 3)
    ]
    many = core.request(ControlRequest("state-set-many", {"provider": "kv", "entries": [["a", 1], ["b", 2]]}))
    assert many == [ForwardWrites("kv", (("a", 1), ("b", 2)))]  # answered once every write is judged


def test_an_unknown_provider_is_named_with_the_known_ones() -> None:
    (answer,) = core_with_kv().request(
        ControlRequest("state-set", {"provider": "kb", "key": "k", "value": 1})
    )
    assert isinstance(answer, Answer) and answer.reply.error == "no provider 'kb' (known: kv)"


def test_status_leaves_out_what_has_not_reported_and_reads_back_typed() -> None:
    core = ControlCore(ME)
    core.status_changed(ConnectivityStatus(True, False, ("manager",), ("manager",), None))
    core.status_changed(
        MembershipStatus(0, (MemberRow("worker-1", "abc", "alive", 0, "127.0.0.1:1", "worker"),))
    )
    (answer,) = core.request(ControlRequest("status", {}))
    assert isinstance(answer, Answer)
    body = answer.reply.body
    assert "readiness" not in body and "state" not in body and body["pid"] == 4242
    assert body["connectivity"]["outgoing"] == ["manager"]
    status = parse_reply(StatusSnapshot, body, "status")
    assert status.connectivity is not None and status.connectivity.fully_connected
    assert status.membership is not None and status.membership.members[0].state == "alive"


def test_a_status_missing_a_field_is_named_not_mistaken_for_something_else() -> None:
    body = core_with_kv().status().body()
    del body["generation"]
    with pytest.raises(ControlProtocolError, match=r"status reply\.generation: missing"):
        parse_reply(StatusSnapshot, body, "status")
