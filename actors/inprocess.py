"""In-process mode: every node of a layout, each with all its actors and real loopback sockets, in one
Python process. Fast to start and easy to inspect, for tests and notebooks; the wiring is exactly the
node process's (`NodeRuntime`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pykka

from actors.clock import Clock
from actors.node import NodeRuntime
from actors.rundir import RunDir
from actors.testkit import wait_idle
from cluster.layout.model import Layout


class InProcessCluster:
    def __init__(
        self,
        layout: Layout,
        *,
        run_dir: Path | None = None,
        clock: Clock | None = None,
        event_subscribers: tuple[pykka.ActorRef[Any], ...] = (),
    ) -> None:
        self.layout = layout
        self._run_dir = RunDir(run_dir) if run_dir is not None else None
        if self._run_dir is not None:
            self._run_dir.keyring_made_for(layout)  # sealed by default, as `clusterctl up` runs it
        self._clock = clock
        self._event_subscribers = event_subscribers
        self.nodes: dict[str, NodeRuntime] = {}

    def __enter__(self) -> InProcessCluster:
        self.start_all()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    def start_all(self) -> None:
        for spec in self.layout.nodes:
            self.start(spec.name)

    def start(self, name: str) -> NodeRuntime:
        if name in self.nodes:
            raise RuntimeError(f"{name} is already running")
        runtime = NodeRuntime(
            self.layout,
            name,
            run_dir=self._run_dir,
            clock=self._clock,
            event_subscribers=self._event_subscribers,
        )
        runtime.start()
        self.nodes[name] = runtime
        return runtime

    def stop(self, name: str) -> None:
        runtime = self.nodes.pop(name)
        runtime.stop()

    def stop_all(self) -> None:
        for name in list(self.nodes):
            self.stop(name)

    def actor_refs(self) -> list[pykka.ActorRef[Any]]:
        return [ref for runtime in self.nodes.values() if runtime.actors for ref in runtime.actors.all()]

    def wait_idle(self, *, timeout: float = 5.0) -> None:
        wait_idle(self.actor_refs(), timeout=timeout)
