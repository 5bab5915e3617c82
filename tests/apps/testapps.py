"""Application actors the tests run on real nodes: small, each showing one behaviour."""

from __future__ import annotations

from typing import Any

from actors import ClusterActor, Replied, RequestTimedOut, Sender, Undeliverable


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
