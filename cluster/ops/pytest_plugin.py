"""The pytest plugin (registered under the `pytest11` entry point, so installing the package enables it).

Fixtures for tests of users' own actors and providers:

- `cluster_processes(layout_file)`: the layout as real node processes on free ports, once it has started;
- `cluster_in_process(layout_file)`: every node in the test's process, on real loopback sockets;

both return a `cluster.ops.testing.LiveCluster` (`client`, `wait_event`, `kill`, `restart`) and stop
everything they started when the test ends, pass or fail. `actor_harness(cls)` is the unit-test harness
for one `ClusterActor` with a fake context and a manual clock (`actors.app.harness`).

```python
def test_counts(cluster_processes):
    live = cluster_processes("layouts/wordcount.yaml")
    live.client.send("worker-1", "counter", {"text": "a b a"})
    live.wait_event("state_changed", provider="kv")
```
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.app.api import ClusterActor
from actors.app.harness import ActorHarness
from cluster.ops.testing import LiveCluster, start_in_process, start_processes


def _starter(
    tmp_path_factory: pytest.TempPathFactory, start: Callable[..., LiveCluster]
) -> Iterator[Callable[..., LiveCluster]]:
    started: list[LiveCluster] = []

    def launch(layout_file: str | Path, *, timeout: float = 30.0) -> LiveCluster:
        live = start(layout_file, tmp_path_factory.mktemp("cluster"), timeout=timeout)
        started.append(live)
        return live

    try:
        yield launch
    finally:
        for live in reversed(started):
            live.stop()


@pytest.fixture
def cluster_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., LiveCluster]]:
    """`cluster_processes(layout_file, *, timeout=30)`: a layout as real processes, stopped after the test."""
    yield from _starter(tmp_path_factory, start_processes)


@pytest.fixture
def cluster_in_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., LiveCluster]]:
    """`cluster_in_process(layout_file, *, timeout=30)`: a layout in this process, stopped after the test."""
    yield from _starter(tmp_path_factory, start_in_process)


@pytest.fixture
def actor_harness() -> Callable[..., ActorHarness]:
    """`actor_harness(cls, args={}, node="worker-1", role="worker", members=...)`: one actor, fake context."""

    def make(cls: type[ClusterActor], **kwargs: Any) -> ActorHarness:
        return ActorHarness(cls, **kwargs)

    return make
