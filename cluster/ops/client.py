"""Driving an application from outside: `ClusterClient`, the Python form of `clusterctl send|publish|
request|actors` and of the event stream.

A client is not a node: it talks to a node's control port, and the node's app router carries its message
on as if a local actor had sent it (from the pseudo-actor `$client`), so a reply to it comes back to the
waiting request. A message that cannot be delivered, a request that times out and a message that is not
plain data each end as `ControlRefused` with the node's reason, raised here.

```python
from cluster.ops.client import ClusterClient

client = ClusterClient.for_run_dir(".cluster/wordcount")
client.send("worker-1", "counter", {"text": "to be or not to be"})
print(client.request("manager", "tally", {"get": True}, timeout=2.0))
for event in client.events(duration=5):
    print(event["node"], event["event"])
```
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from actors.rundir import RunDir
from cluster.app.plain import pack_message
from cluster.control.protocol import (
    Accepted,
    ActorsList,
    ActorsRequest,
    AppPublishRequest,
    AppReplied,
    AppRequestRequest,
    AppSendRequest,
)
from cluster.ops.launcher import Cluster

__all__ = ["ClusterClient"]


class ClusterClient:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    @classmethod
    def for_run_dir(cls, run_dir: str | Path | RunDir) -> ClusterClient:
        root = run_dir if isinstance(run_dir, RunDir) else RunDir(Path(run_dir))
        return cls(Cluster.from_run_dir(root))

    def send(self, node: str, actor: str, message: Any, *, timeout: float = 2.0) -> None:
        """Tell `actor` on `node`; returns once the node has it in the actor's mailbox."""
        self._check(message)  # refused here, with the path, before anything is sent
        self.cluster.ask(node, AppSendRequest(actor, message), Accepted, timeout=timeout)

    def publish(self, topic: str, message: Any, *, node: str | None = None, timeout: float = 2.0) -> None:
        """Publish from `node` (default: the first running node) to every subscriber of `topic`."""
        self._check(message)
        origin = node or self._any_node()
        self.cluster.ask(origin, AppPublishRequest(topic, message), Accepted, timeout=timeout)

    def request(self, node: str, actor: str, message: Any, *, timeout: float = 5.0) -> Any:
        """Ask `actor` on `node` and return its reply (`ControlRefused` after `timeout` seconds)."""
        self._check(message)
        question = AppRequestRequest(actor, message, timeout)
        replied = self.cluster.ask(node, question, AppReplied, timeout=timeout + 2.0)
        return replied.message

    def actors(self, node: str, *, timeout: float = 2.0) -> ActorsList:
        """Node `node`'s application actors: class, state, restarts and mailbox depth each."""
        return self.cluster.ask(node, ActorsRequest(), ActorsList, timeout=timeout)

    def events(self, *, duration: float | None = None) -> Iterator[dict[str, Any]]:
        """Every node's events so far, then new ones as they are written, for `duration` seconds."""
        return self.cluster.follow_events(duration=duration)

    def _check(self, message: Any) -> None:
        pack_message(message, limit=self.cluster.layout.app.max_message_size)

    def _any_node(self) -> str:
        running = self.cluster.running()
        if not running:
            raise RuntimeError(f"no node of cluster {self.cluster.layout.cluster!r} is running")
        return running[0]
