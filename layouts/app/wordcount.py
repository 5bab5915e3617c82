"""Word count on the cluster: the example application (`layouts/wordcount.yaml`, `scripts/demo_wordcount.py`).

- `Feeder` (manager) splits each text into words and asks, for each word, the worker that rendezvous
  hashing picks for it (`hrw_node`, the node `publish_hrw` would choose) to count it. An answer that does
  not come (the worker died, the request timed out, the node is down) is asked again of whichever worker
  owns the word *now*: only a dead worker's words move, and each word occurrence is counted exactly once.
- `Counter` (workers) counts what it is asked, tells the tally, then answers. It remembers which
  (text, word) it has counted, so a retry of something it already counted is answered but not counted
  twice.
- `Tally` (manager) adds up, and also drops a second report of a (text, word) it already has: a counter
  that died after telling the tally but before answering is retried elsewhere, and that second count must
  not be added. So the final counts are exact whatever worker dies when.
"""

from __future__ import annotations

from typing import Any

from actors import ClusterActor, Replied, RequestTimedOut, Sender, Undeliverable


class Feeder(ClusterActor):
    def on_start(self) -> None:
        self.pending: dict[int, dict[str, Any]] = {}  # request id -> {"word", "n", "text"}
        self.waiting: list[dict[str, Any]] = []  # asked while no worker was alive
        self.retries = 0

    def on_message(self, message: Any, sender: Sender | None) -> None:
        if isinstance(message, Replied):
            self.pending.pop(message.request_id, None)
        elif isinstance(message, (RequestTimedOut, Undeliverable)):
            job = self.pending.pop(message.request_id, None)
            if job is not None:
                self.retries += 1
                self._ask(job)
        elif "text" in message:
            counts: dict[str, int] = {}
            for word in message["text"].lower().split():
                counts[word] = counts.get(word, 0) + 1
            for word, n in counts.items():
                self._ask({"word": word, "n": n, "text": message["id"]})
        elif "status" in message:
            outstanding = len(self.pending) + len(self.waiting)
            self.context.reply(sender, {"pending": outstanding, "retries": self.retries})

    def _ask(self, job: dict[str, Any]) -> None:
        node = self.context.hrw_node("worker", job["word"])
        if node is None:  # no worker is alive: ask again a little later
            self.waiting.append(job)
            self.context.start_timer("retry", 0.2)
            return
        request_id = self.context.request(node, "counter", job, timeout=self.args.get("timeout", 1.0))
        self.pending[request_id] = job

    def on_timer(self, name: str) -> None:
        waiting, self.waiting = self.waiting, []
        for job in waiting:
            self._ask(job)


class Counter(ClusterActor):
    def on_start(self) -> None:
        self.counts: dict[str, int] = {}
        self.seen: set[tuple[int, str]] = set()

    def on_message(self, message: Any, sender: Sender | None) -> None:
        if "word" in message:
            key = (message["text"], message["word"])
            if key not in self.seen:
                self.seen.add(key)
                self.counts[message["word"]] = self.counts.get(message["word"], 0) + message["n"]
                self.context.send(self.args.get("tally_node", "manager"), "tally", message)
            self.context.reply(sender, "counted")
        elif "words" in message:
            self.context.reply(sender, sorted(self.counts))


class Tally(ClusterActor):
    def on_start(self) -> None:
        self.counts: dict[str, int] = {}
        self.seen: set[tuple[int, str]] = set()
        self.duplicates = 0

    def on_message(self, message: Any, sender: Sender | None) -> None:
        if "word" in message:
            key = (message["text"], message["word"])
            if key in self.seen:
                self.duplicates += 1
                return
            self.seen.add(key)
            self.counts[message["word"]] = self.counts.get(message["word"], 0) + message["n"]
        elif "get" in message:
            self.context.reply(
                sender,
                {"counts": self.counts, "total": sum(self.counts.values()), "duplicates": self.duplicates},
            )
