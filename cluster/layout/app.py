"""The layout's `app:` section: users' own actors per role or node, their providers, and the limits and
supervision they run under.

```yaml
app:
  path: [app]                        # import roots, relative to the layout file's folder
  actors:
    worker:   [{name: counter, class: "wordcount:Counter"}]               # by role ...
    worker-2: [{name: extra, class: "wordcount:Extra", args: {n: 1}}]     # ... or by node name
  providers: ["wordcount:GCounter"]  # user state providers, on every node
  max_message_size: 1048576          # bytes a packed message may take
  queue_limit: 10000                 # messages waiting for one peer before the newest are dropped
  send_buffer: 8388608               # bytes waiting to be written to one connected peer, the same
  supervision: {max_restarts: 3, within: 30, backoff_min: 0.1, backoff_max: 2}
```

This module says what the section *is*; `cluster.layout.app_section` reads it from YAML with lines, and
the node imports the classes it names (`actors.app.loading`), which is where an import error is found.
Every spec keeps the line it was declared on, so that error points at the layout, not at a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from cluster.layout.frozen import FrozenMap

__all__ = ["AppActorSpec", "AppSpec", "ClassRef", "Supervision"]

DEFAULT_MAX_MESSAGE = 1024 * 1024
DEFAULT_QUEUE_LIMIT = 10_000
DEFAULT_SEND_BUFFER = 8 * 1024 * 1024


@dataclass(frozen=True)
class ClassRef:
    """`module:Class` as written in the layout, and where."""

    spec: str
    line: int | None = None
    field: str = ""

    @property
    def module(self) -> str:
        return self.spec.partition(":")[0]

    @property
    def qualname(self) -> str:
        return self.spec.partition(":")[2]


@dataclass(frozen=True)
class AppActorSpec:
    """One application actor on the nodes of a role, or on one node: its name there, class and args."""

    name: str
    cls: ClassRef
    args: Mapping[str, Any] = field(default_factory=FrozenMap, hash=False)


@dataclass(frozen=True)
class Supervision:
    """Restart with exponential backoff from `backoff_min` to `backoff_max`; more than `max_restarts`
    within `within` seconds stops the actor for good (Akka's `maxNrOfRetries` within `withinTimeRange`)."""

    max_restarts: int = 3
    within: float = 30.0
    backoff_min: float = 0.1
    backoff_max: float = 2.0

    def backoff(self, restarts: int) -> float:
        """The pause before restart number `restarts` (1-based): doubling, capped."""
        return float(min(self.backoff_max, self.backoff_min * 2 ** max(0, restarts - 1)))


@dataclass(frozen=True)
class AppSpec:
    """The whole `app:` section; the empty default is a layout with no application code."""

    path: tuple[str, ...] = ()
    actors: Mapping[str, tuple[AppActorSpec, ...]] = field(default_factory=FrozenMap, hash=False)
    providers: tuple[ClassRef, ...] = ()
    max_message_size: int = DEFAULT_MAX_MESSAGE
    queue_limit: int = DEFAULT_QUEUE_LIMIT
    send_buffer: int = DEFAULT_SEND_BUFFER
    supervision: Supervision = field(default_factory=Supervision)

    def actors_for(self, name: str, role: str) -> tuple[AppActorSpec, ...]:
        """The actors node `name` of `role` runs: its role's, then its own (the loader refuses a name used
        twice on one node)."""
        own = self.actors.get(name, ()) if name != role else ()
        return (*self.actors.get(role, ()), *own)

    def document(self) -> dict[str, Any]:
        """The section as YAML-ready data that reads back to an equal spec (import roots made absolute)."""
        return {"path": list(self.path), **self.canonical()}

    def canonical(self) -> dict[str, Any]:
        """What the section means, for the layout digest: nodes running different code are not one cluster.
        The import roots are left out: they are where this host keeps the code, not what the code is."""
        return {
            "actors": {
                key: [{"name": a.name, "class": a.cls.spec, "args": dict(a.args)} for a in specs]
                for key, specs in self.actors.items()
            },
            "providers": [p.spec for p in self.providers],
            "max_message_size": self.max_message_size,
            "queue_limit": self.queue_limit,
            "send_buffer": self.send_buffer,
            "supervision": asdict(self.supervision),
        }
