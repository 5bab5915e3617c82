"""The post office (the app router's pure core): where each message goes, and what comes back."""

from __future__ import annotations

from cluster.app.postoffice import (
    CLIENT,
    Bounced,
    DeliverLocal,
    DeliverParcel,
    Letter,
    Parcel,
    PostOffice,
    ReportDrops,
    ReturnLocal,
    Transmit,
    WriteSubscription,
)
from cluster.core.effects import Connect, Emit, StartTimer
from cluster.core.events import MessagesDroppedEvent
from cluster.wire.messages import AppMessage, AppPublish, AppUndeliverable

ROLES = {"manager": "manager", "worker-1": "worker", "worker-2": "worker"}


def office(queue_limit: int = 3) -> PostOffice:
    core = PostOffice("worker-1", ROLES, queue_limit=queue_limit, max_message=1024)
    core.actor_started("counter")
    core.members_changed(["worker-1", "worker-2", "manager"])
    return core


def test_a_local_send_is_delivered_or_returned() -> None:
    core = office()
    assert core.send("counter", "worker-1", "counter", b"\x01", now=0) == [
        DeliverLocal(Letter("counter", "worker-1", "counter", b"\x01"))
    ]
    (returned,) = core.send("counter", "worker-1", "nobody", b"\x02", request=4, now=0)
    assert returned == ReturnLocal(
        Bounced("counter", "worker-1", "nobody", b"\x02", "no actor 'nobody' on worker-1", 4)
    )
    assert core.stats.undeliverable == 1


def test_a_remote_send_dials_on_demand_queues_and_flushes_in_order() -> None:
    core = office()
    first = core.send("counter", "worker-2", "tally", b"1", now=0)
    assert first == [Connect("worker-2")]
    assert core.send("counter", "worker-2", "tally", b"2", now=0) == []
    assert core.peer_up("worker-2") == [
        Transmit("worker-2", (AppMessage("tally", "counter", b"1"), AppMessage("tally", "counter", b"2")))
    ]
    assert core.send("counter", "worker-2", "tally", b"3", now=0) == [
        Transmit("worker-2", (AppMessage("tally", "counter", b"3"),))
    ]


def test_a_full_queue_drops_the_newest_and_reports_once_per_burst_then_each_second() -> None:
    core = office(queue_limit=2)
    for payload in (b"1", b"2"):
        core.send("counter", "worker-2", "tally", payload, now=0)
    dropped = core.send("counter", "worker-2", "tally", b"3", now=0)
    assert dropped == [
        Emit(MessagesDroppedEvent("worker-2", 1, 2)),
        StartTimer(ReportDrops("worker-2"), 1.0),
    ]
    assert core.send("counter", "worker-2", "tally", b"4", now=0.5) == []  # counted, reported later
    assert core.timer(ReportDrops("worker-2"), 1.0) == [
        Emit(MessagesDroppedEvent("worker-2", 1, 2)),
        StartTimer(ReportDrops("worker-2"), 2.0),
    ]
    assert core.timer(ReportDrops("worker-2"), 2.0) == []  # the burst is over
    assert core.stats.dropped["worker-2"] == 2
    (flush,) = core.peer_up("worker-2")
    assert [m.payload for m in flush.messages] == [b"1", b"2"]  # type: ignore[attr-defined]


def test_a_message_to_a_node_that_is_down_or_unknown_comes_back() -> None:
    core = office()
    core.members_changed(["worker-1", "manager"])
    (down,) = core.send("counter", "worker-2", "tally", b"x", now=0)
    assert isinstance(down, ReturnLocal) and down.bounced.reason == "node worker-2 is down"
    (unknown,) = core.send("counter", "nowhere", "tally", b"x", now=0)
    assert isinstance(unknown, ReturnLocal) and unknown.bounced.reason == "no node named 'nowhere'"


def test_a_queue_waiting_for_a_peer_that_dies_is_returned() -> None:
    core = office()
    core.send("counter", "worker-2", "tally", b"1", request=7, now=0)
    core.publish("counter", "news", b"p", now=0)  # nobody subscribes elsewhere yet: nothing queued
    returned = core.members_changed(["worker-1", "manager"])
    assert returned == [
        ReturnLocal(Bounced("counter", "worker-2", "tally", b"1", "node worker-2 is down", 7))
    ]


def test_a_peers_message_to_a_missing_actor_goes_back_to_the_peer() -> None:
    core = office()
    effects = core.received("worker-2", AppMessage("ghost", "tally", b"x", 3), 0)
    assert effects == [
        Transmit("worker-2", (AppUndeliverable("tally", "ghost", b"x", "no actor 'ghost' on worker-1", 3),))
    ]
    back = core.received(
        "worker-2", AppUndeliverable("counter", "tally", b"y", "no actor 'tally' on worker-2"), 0
    )
    assert back == [
        ReturnLocal(Bounced("counter", "worker-2", "tally", b"y", "no actor 'tally' on worker-2"))
    ]


def test_a_burst_from_a_peer_becomes_one_parcel_per_actor_in_order() -> None:
    core = office()
    core.actor_started("other")
    burst = [
        AppMessage("counter", "a", b"1"),
        AppMessage("other", "a", b"2"),
        AppMessage("counter", "a", b"3"),
    ]
    effects = core.received_many("worker-2", burst, 0)
    assert effects == [
        DeliverParcel("counter", Parcel("worker-2", (burst[0], burst[2]))),
        DeliverParcel("other", Parcel("worker-2", (burst[1],))),
    ]


def test_topics_publish_to_local_subscribers_and_once_to_each_node_with_one() -> None:
    core = office()
    core.peer_up("worker-2")
    core.peer_up("manager")
    assert core.subscribe("counter", "news") == [WriteSubscription("news", ("counter",))]
    assert core.subscribe("counter", "news") == []
    core.topics_changed([("news", ["worker-1", "worker-2"])])
    effects = core.publish("counter", "news", b"p", now=0)
    assert effects == [
        DeliverLocal(Letter("counter", "worker-1", "counter", b"p", topic="news")),
        Transmit("worker-2", (AppPublish("news", "counter", b"p"),)),
    ]
    assert core.unsubscribe("counter", "news") == [WriteSubscription("news", ())]
    core.topics_changed([("news", None)])
    assert core.publish("counter", "news", b"p", now=0) == []


def test_a_stopped_actors_subscriptions_are_retracted() -> None:
    core = office()
    core.subscribe("counter", "a")
    core.subscribe("counter", "b")
    assert core.actor_stopped("counter") == [WriteSubscription("a", ()), WriteSubscription("b", ())]


def test_a_client_is_always_there_to_take_replies() -> None:
    core = office()
    (delivered,) = core.send("counter", "worker-1", CLIENT, b"r", reply=5, now=0)
    assert delivered == DeliverLocal(Letter(CLIENT, "worker-1", "counter", b"r", 0, 5))


def test_a_letter_its_actor_will_never_read_goes_back_to_its_sender() -> None:
    core = office()
    local = Letter("counter", "worker-1", "counter", b"x", 2)
    assert core.refuse(local, "counter", "actor counter failed") == [
        ReturnLocal(Bounced("counter", "worker-1", "counter", b"x", "actor counter failed", 2))
    ]
    remote = Letter("counter", "worker-2", "tally", b"x")
    assert core.refuse(remote, "counter", "failed") == [
        Transmit("worker-2", (AppUndeliverable("tally", "counter", b"x", "failed"),))
    ]
    assert core.refuse(Letter("counter", "worker-2", "tally", b"x", reply=1), "counter", "failed") == []


def test_a_connected_peer_whose_buffer_is_full_drops_and_reports_the_same_way() -> None:
    core = office(queue_limit=5)
    core.peer_up("worker-2")
    assert core.overloaded("worker-2", 40, now=3.0) == [
        Emit(MessagesDroppedEvent("worker-2", 40, 5)),
        StartTimer(ReportDrops("worker-2"), 4.0),
    ]
    assert core.overloaded("worker-2", 2, now=3.5) == []
    assert core.timer(ReportDrops("worker-2"), 4.0)[0] == Emit(MessagesDroppedEvent("worker-2", 2, 5))
    assert core.stats.dropped["worker-2"] == 42
