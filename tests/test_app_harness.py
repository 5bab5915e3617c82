"""The tools users test their own code with: the actor harness (fake context, manual clock) and the
merge-law checker, used here as a user would, through the pytest plugin's `actor_harness` fixture."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import strategies as st

from actors import ClusterActor, Replied, RequestTimedOut, Sender, Undeliverable
from actors.app.harness import ActorHarness, Published, Sent
from cluster.app.plain import MessageTooLarge, NotPlainData
from cluster.state.laws import check_merge_laws
from cluster.state.provider import Provider, View
from tests.apps.testapps import GCounter


class Batcher(ClusterActor):
    """Counts words and flushes to the tally every `every` seconds; asks the manager for a limit."""

    def on_start(self) -> None:
        self.counts: dict[str, int] = {}
        self.context.subscribe("texts")
        self.context.start_timer("flush", self.args["every"], repeat=True)
        self.asked = self.context.request("manager", "limits", {"get": "max"}, timeout=2.0)
        self.answers: list[Any] = []

    def on_message(self, message: Any, sender: Sender | None) -> None:
        if isinstance(message, (Replied, RequestTimedOut, Undeliverable)):
            self.answers.append(message)
            return
        for word in message["text"].split():
            self.context.publish_hrw("worker", word, "counter", word)
            self.counts[word] = self.counts.get(word, 0) + 1
        self.context.reply(sender, "ok")

    def on_timer(self, name: str) -> None:
        if self.counts:
            self.context.send("manager", "tally", self.counts)
            self.context.publish("flushed", len(self.counts))
            self.counts = {}


Harness = Callable[..., ActorHarness]
MEMBERS = [("manager", "manager"), ("worker-1", "worker"), ("worker-2", "worker")]


def test_sends_replies_timers_and_requests_are_recorded(actor_harness: Harness) -> None:
    harness = actor_harness(Batcher, args={"every": 1.0}, members=MEMBERS)
    assert harness.subscriptions == {"texts"}
    assert harness.timers == ["flush"]
    (ask,) = harness.take_sent()
    assert ask == Sent("manager", "limits", {"get": "max"}, request=harness.actor.asked)

    harness.deliver({"text": "a b a"}, Sender("worker-2", "feeder", 7))
    routed = harness.take_sent()
    assert [s.message for s in routed[:3]] == ["a", "b", "a"]
    assert routed[0].node == routed[2].node  # the same key goes to the same node
    assert routed[-1] == Sent("worker-2", "feeder", "ok", reply=7)

    harness.advance(0.5)
    assert harness.take_sent() == []
    harness.advance(0.5)
    assert harness.take_sent() == [Sent("manager", "tally", {"a": 2, "b": 1})]
    assert harness.published == [Published("flushed", 2)]
    harness.advance(1.0)  # nothing counted since: a repeating timer fires, sends nothing
    assert harness.timers_fired == ["flush", "flush"] and harness.take_sent() == []

    harness.advance(0.5)  # 2.5 s: the request's 2 s timeout has passed
    assert harness.actor.answers == [RequestTimedOut(harness.actor.asked, "manager", "limits")]


def test_a_reply_and_a_bounce_arrive_as_messages(actor_harness: Harness) -> None:
    harness = actor_harness(Batcher, args={"every": 1.0}, members=MEMBERS)
    harness.reply(harness.actor.asked, 100)
    assert harness.actor.answers == [Replied(harness.actor.asked, 100, "manager", "limits")]
    harness.advance(5.0)  # answered: the timeout does not fire any more
    assert len(harness.actor.answers) == 1
    harness.deliver({"text": "z"})
    harness.advance(1.0)
    tally = harness.take_sent()[-1]
    harness.bounce(tally, "node manager is down")
    assert harness.actor.answers[-1] == Undeliverable("manager", "tally", {"z": 1}, "node manager is down")


def test_pools_follow_the_members_and_say_when_no_node_is_alive(actor_harness: Harness) -> None:
    harness = actor_harness(Batcher, args={"every": 1.0}, members=MEMBERS)
    harness.take_sent()
    assert harness.context.publish_rr("worker", "k", "counter", 1) is True
    assert harness.context.publish_rr("worker", "k", "counter", 2) is True
    assert [s.node for s in harness.take_sent()] == ["worker-1", "worker-2"]
    harness.set_members([("manager", "manager")])
    assert harness.context.publish_hrw("worker", "k", "counter", 1) is False
    assert harness.context.publish_rr("worker", "k", "counter", 1) is False
    assert harness.take_sent() == []


def test_what_is_not_plain_data_or_too_large_is_refused_at_the_sender(actor_harness: Harness) -> None:
    harness = actor_harness(Batcher, args={"every": 1.0}, members=MEMBERS, max_message=2048)
    with pytest.raises(NotPlainData, match=r"message\['when'\]: datetime is not plain data"):
        import datetime

        harness.context.send("manager", "tally", {"when": datetime.datetime.now()})
    with pytest.raises(MessageTooLarge):
        harness.context.send("manager", "tally", "x" * 3000)


def test_a_hook_that_raises_raises_in_the_test(actor_harness: Harness) -> None:
    harness = actor_harness(Batcher, args={"every": 1.0}, members=MEMBERS)
    with pytest.raises(KeyError):
        harness.deliver({"no text": 1})


def test_a_user_provider_merges_lawfully() -> None:
    check_merge_laws(GCounter, st.integers(0, 10))


class LastSeen(Provider):
    """A provider whose view depends on the order entries came in: the checker must catch it."""

    state_type = "last_seen"

    def __init__(self, local: str) -> None:
        super().__init__(local)
        self.last: dict[str, Any] = {}

    def apply_remote_state(self, states: Any) -> Any:
        states = list(states)
        for entry in states:
            self.last[entry.key] = entry.value
        return super().apply_remote_state(states)

    def view(self, key: str) -> View | None:
        return (self.last.get(key), "", 0) if key in self.last else None


def test_the_checker_catches_an_order_dependent_merge() -> None:
    with pytest.raises(AssertionError, match="views differ"):
        check_merge_laws(LastSeen, st.integers(0, 3), max_examples=200)


class Opener(ClusterActor):
    def on_message(self, message: Any, sender: Sender | None) -> None:
        self.context.state("circuit_breaker").set(message, "open")


def test_state_writes_go_through_the_real_provider(actor_harness: Harness) -> None:
    harness = actor_harness(Opener)
    harness.deliver("db")
    view = harness.context.state("circuit_breaker")
    assert view.get("db") == {"episode": 1, "phase": "open"}  # the shape a node shows, not what was written
    assert harness.state_writes == [("circuit_breaker", "db", "open")]
    from cluster import CommandError

    with pytest.raises(CommandError):
        harness.context.state("health").set("db", "up")  # refused here as the node's provider refuses it
    with pytest.raises(KeyError, match="no provider 'nope'"):
        harness.context.state("nope")
    view2 = ActorHarness(Opener, providers={"gcounter": GCounter}).context.state("gcounter")
    view2.set("hits", 3)
    assert view2.get("hits") == 3
