"""Application actors the tests run on real nodes: small, each showing one behaviour."""

from __future__ import annotations

from typing import Any

from actors import ClusterActor, Replied, RequestTimedOut, Sender, Undeliverable
from cluster import Provider, View
from cluster.app.plain import MessageRefused


class Echo(ClusterActor):
    """Replies with what it got, tagged with where it ran."""

    def on_message(self, message: Any, sender: Sender | None) -> None:
        if isinstance(message, dict) and message.get("crash"):
            raise RuntimeError(f"asked to crash: {message['crash']}")
        self.context.reply(sender, {"echo": message, "node": self.context.node})


class Recorder(ClusterActor):
    """Keeps what it received, in order; `{"get": true}` answers with it, `{"count": true}` with its size."""

    def on_start(self) -> None:
        self.seen: list[Any] = []
        for topic in self.args.get("topics", []):
            self.context.subscribe(topic)

    def on_message(self, message: Any, sender: Sender | None) -> None:
        if isinstance(message, dict) and message.get("get"):
            self.context.reply(sender, self.seen)
        elif isinstance(message, dict) and message.get("count"):
            self.context.reply(sender, len(self.seen))
        elif isinstance(message, (Replied, RequestTimedOut, Undeliverable)):
            self.seen.append({"kind": type(message).__name__, "reason": getattr(message, "reason", "")})
        else:
            self.seen.append(message)

    def on_cluster_event(self, event: Any) -> None:
        if event["event"] in ("node_up", "node_down"):
            self.seen.append({"event": event["event"], "name": event["name"]})


class Relay(ClusterActor):
    """Forwards `{"to": [node, actor], "body": ...}` and records what comes back (replies, bounces)."""

    def on_start(self) -> None:
        self.back: list[Any] = []

    def on_message(self, message: Any, sender: Sender | None) -> None:
        if isinstance(message, dict) and "to" in message:
            node, actor = message["to"]
            if message.get("request"):
                self.context.request(node, actor, message["body"], timeout=message.get("timeout", 2.0))
            elif message.get("hrw"):
                self.context.publish_hrw(node, message["hrw"], actor, message["body"])
            else:
                self.context.send(node, actor, message["body"])
            self.context.reply(sender, "sent")
        elif isinstance(message, dict) and message.get("back"):
            self.context.reply(sender, self.back)
        elif isinstance(message, Replied):
            self.back.append({"replied": message.message})
        elif isinstance(message, RequestTimedOut):
            self.back.append({"timed_out": message.request_id})
        elif isinstance(message, Undeliverable):
            self.back.append({"undeliverable": message.reason, "message": message.message})


class Flaky(ClusterActor):
    """Raises on every message: supervision's test subject."""

    def on_start(self) -> None:
        self.context.publish("flaky-started", self.context.node)

    def on_message(self, message: Any, sender: Sender | None) -> None:
        raise ValueError(f"flaky cannot take {message!r}")


class Router(ClusterActor):
    """`{"hrw": [keys]}` / `{"rr": n, "key": k}`: routes each to the workers' `keeper` by that pool rule;
    answers with how many it could route (Zeek's functions return F when no node of the role is alive)."""

    def on_message(self, message: Any, sender: Sender | None) -> None:
        routed = 0
        if "hrw" in message:
            for key in message["hrw"]:
                routed += self.context.publish_hrw("worker", key, "keeper", key)
        else:
            for i in range(message["rr"]):
                routed += self.context.publish_rr("worker", message["key"], "keeper", i)
        self.context.reply(sender, routed)


class Keeper(ClusterActor):
    """Keeps what it is sent; `{"take": true}` answers with it and forgets it."""

    def on_start(self) -> None:
        self.kept: list[Any] = []

    def on_message(self, message: Any, sender: Sender | None) -> None:
        if isinstance(message, dict) and message.get("take"):
            kept, self.kept = self.kept, []
            self.context.reply(sender, kept)
        else:
            self.kept.append(message)


class Sequencer(ClusterActor):
    """`{"to": [node, actor], "n": n}`: sends 0..n-1 in order; `{"bounced": true}` answers with the reasons
    of those that came back undeliverable, so a test that misses some can say why."""

    def on_start(self) -> None:
        self.bounced: list[str] = []

    def on_message(self, message: Any, sender: Sender | None) -> None:
        if isinstance(message, Undeliverable):
            self.bounced.append(message.reason)
            return
        if message.get("bounced"):
            self.context.reply(sender, self.bounced)
            return
        node, actor = message["to"]
        for i in range(message["n"]):
            self.context.send(node, actor, i)
        self.context.reply(sender, message["n"])


class OrderChecker(ClusterActor):
    """Counts integers and how many came out of order; `{"report": true}` answers with both."""

    def on_start(self) -> None:
        self.next = 0
        self.out_of_order = 0
        self.count = 0

    def on_message(self, message: Any, sender: Sender | None) -> None:
        if isinstance(message, dict):
            self.context.reply(sender, {"count": self.count, "out_of_order": self.out_of_order})
            return
        self.count += 1
        if message != self.next:
            self.out_of_order += 1
        self.next = message + 1


class Careless(ClusterActor):
    """Tries to send what is not plain data, and answers with the refusal it got."""

    def on_message(self, message: Any, sender: Sender | None) -> None:
        try:
            self.context.send(self.context.node, "keeper", {"words": {"a", "b"}})
        except MessageRefused as refused:
            self.context.reply(sender, str(refused))


class GCounter(Provider):
    """A grow-only counter: each node writes its own count; the view of a key is the sum over live nodes."""

    state_type = "gcounter"

    def check_value(self, value: Any) -> str | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        return None if ok else f"a count is an int >= 0, not {value!r}"

    def view(self, key: str) -> View | None:
        counts = [e for owner, e in self.entries_of(key).items() if owner in self.live and not e.tombstone]
        if not counts:
            return None
        latest = max(counts, key=lambda e: (e.version, e.source_node))
        return sum(e.value for e in counts), latest.source_node, latest.version

    def loses(self, entry: Any) -> bool:
        return False
