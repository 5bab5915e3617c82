"""Who runs a node: one pykka actor per subsystem, each a thin shell around a `cluster` core.

`NodeRuntime` is one node's actors, as `python -m actors.node` runs them; `InProcessCluster` is a whole
layout in one process, on real loopback sockets; the test kit (`ProbeHandle`, `wait_idle`, `ManualClock`,
`free_ports`, `layout_with_ports`) is for testing your own code against them. What `__all__` lists is the
surface users import; the actors themselves are the implementation.
"""

from typing import TYPE_CHECKING

from cluster.core.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from actors.app.api import (
        ActorContext,
        ClusterActor,
        Member,
        Replied,
        RequestTimedOut,
        Sender,
        StateView,
        Undeliverable,
    )
    from actors.app.harness import ActorHarness, Published, Sent
    from actors.clock import Clock, ManualClock, MonotonicClock
    from actors.inprocess import InProcessCluster
    from actors.node import NodeActors, NodeRuntime
    from actors.rundir import RunDir
    from actors.testkit import ProbeHandle, Recording, free_ports, layout_with_ports, wait_idle

__all__ = [
    "ActorContext",
    "ActorHarness",
    "Clock",
    "ClusterActor",
    "InProcessCluster",
    "ManualClock",
    "Member",
    "MonotonicClock",
    "NodeActors",
    "NodeRuntime",
    "ProbeHandle",
    "Published",
    "Recording",
    "Replied",
    "RequestTimedOut",
    "RunDir",
    "Sender",
    "Sent",
    "StateView",
    "Undeliverable",
    "free_ports",
    "layout_with_ports",
    "wait_idle",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "actors.app.api": (
            "ActorContext",
            "ClusterActor",
            "Member",
            "Replied",
            "RequestTimedOut",
            "Sender",
            "StateView",
            "Undeliverable",
        ),
        "actors.app.harness": ("ActorHarness", "Published", "Sent"),
        "actors.clock": ("Clock", "ManualClock", "MonotonicClock"),
        "actors.inprocess": ("InProcessCluster",),
        "actors.node": ("NodeActors", "NodeRuntime"),
        "actors.rundir": ("RunDir",),
        "actors.testkit": ("ProbeHandle", "Recording", "free_ports", "layout_with_ports", "wait_idle"),
    },
)
