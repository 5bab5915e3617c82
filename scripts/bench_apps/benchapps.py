"""The application actors `bench_messaging.py` runs on our nodes: each measures one thing from inside
the cluster, the way the peers' versions measure it inside Ray and Thespian."""

from __future__ import annotations

import time
from typing import Any

from actors import ClusterActor, Replied, Sender


class Sink(ClusterActor):
    """Counts what it is sent; a `{"expect": n}` message starts a count and `{"stats": true}` reads it."""

    def on_start(self) -> None:
        self.expect = 0
        self.count = 0
        self.first = self.last = 0.0
        self.arrivals: list[float] = []
        for topic in self.args.get("topics", []):
            self.context.subscribe(topic)

    def on_message(self, message: Any, sender: Sender | None) -> None:
        if type(message) is bytes:
            self.count += 1
            if self.count == 1:
                self.first = time.time()
            if self.count == self.expect:
                self.last = time.time()
        elif "published" in message:
            self.arrivals.append(time.time())
        elif "expect" in message:
            self.expect, self.count = message["expect"], 0
            self.context.reply(sender, "ready")
        elif "stats" in message:
            self.context.reply(sender, {"count": self.count, "first": self.first, "last": self.last})
        elif "arrivals" in message:
            self.context.reply(sender, self.arrivals)
            self.arrivals = []


class Blaster(ClusterActor):
    """`{"to": [node, actor], "n": n, "size": s}`: sends n messages of s bytes as fast as it can."""

    def on_message(self, message: Any, sender: Sender | None) -> None:
        node, actor = message["to"]
        payload = b"x" * message["size"]
        started = time.time()
        send = self.context.send
        for _ in range(message["n"]):
            send(node, actor, payload)
        self.context.reply(sender, {"started": started, "sent": time.time()})


class Echo(ClusterActor):
    def on_message(self, message: Any, sender: Sender | None) -> None:
        self.context.reply(sender, message)


class Pinger(ClusterActor):
    """`{"to": [node, actor], "n": n}`: n sequential requests; answers with each round trip in seconds."""

    def on_start(self) -> None:
        self.left = 0
        self.samples: list[float] = []
        self.client: Sender | None = None

    def on_message(self, message: Any, sender: Sender | None) -> None:
        if isinstance(message, Replied):
            self.samples.append(time.perf_counter() - self.sent_at)
            self.left -= 1
            if self.left > 0:
                self._ping()
            else:
                self.context.reply(self.client, self.samples)
            return
        self.target = tuple(message["to"])
        self.left, self.samples, self.client = message["n"], [], sender
        self._ping()

    def _ping(self) -> None:
        self.sent_at = time.perf_counter()
        node, actor = self.target
        self.context.request(node, actor, b"x" * 64, timeout=5.0)


class Publisher(ClusterActor):
    """`{"topic": t}`: publishes once and answers with the wall-clock time just before."""

    def on_message(self, message: Any, sender: Sender | None) -> None:
        started = time.time()
        self.context.publish(message["topic"], {"published": started})
        self.context.reply(sender, started)
