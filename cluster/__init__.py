"""What a cluster is: its layout, its wire messages, its events, the rules of readiness, membership and
replicated state, the simulators that run those rules in virtual time, and the process layer that starts
nodes and talks to them (see docs/architecture.md).

What is listed in `__all__` is the surface users import; everything else is reachable by its module path
but is the implementation, and may change.

The launcher's names (`Cluster`, `prepare`, ...) are the top layer: they are loaded when first used, so
that importing a pure package (`cluster.wire`, `cluster.membership`, ...) loads no process machinery, no
actor and no pykka.
"""

from typing import TYPE_CHECKING, Any

from cluster.app.plain import MessageRefused, MessageTooLarge, NotPlainData
from cluster.control.protocol import StatusSnapshot
from cluster.core.events import (
    CATALOGUE,
    ClusterAnnouncedEvent,
    ClusterDegradedEvent,
    ClusterRecoveredEvent,
    ClusterStartedEvent,
    ClusterStartLearnedEvent,
    Event,
    HandshakeRefusedEvent,
    MemberAliveEvent,
    MemberEvent,
    MemberFailedEvent,
    MemberJoinedEvent,
    MemberLeftEvent,
    MemberSuspectEvent,
    MemberUpdatedEvent,
    NodeConnectivityLostEvent,
    NodeDownEvent,
    NodeFullyConnectedEvent,
    NodeStartedEvent,
    NodeStoppingEvent,
    NodeUpEvent,
    ReadinessRefusedEvent,
    StateChangedEvent,
    event_from_record,
)
from cluster.layout.loader import LayoutError, load_layout, parse_layout
from cluster.layout.model import ROLES, Layout, NodeSpec
from cluster.layout.presets import PRESETS, Timings, timings_for
from cluster.sim.membership import NetworkConditions, Simulation
from cluster.sim.state import StateSimulation
from cluster.state.laws import check_merge_laws
from cluster.state.provider import ApplyResult, CommandError, Provider, ProviderOutput, View, WriteIntent
from cluster.state.providers import PROVIDERS
from cluster.wire.messages import Plain, SyncableState
from cluster.wire.schema import CodecError

if TYPE_CHECKING:
    from cluster.ops.client import ClusterClient
    from cluster.ops.control_client import ControlError, ControlRefused
    from cluster.ops.launcher import Cluster, LaunchError, UnknownNode, prepare

_LAZY = {
    "Cluster": "cluster.ops.launcher",
    "LaunchError": "cluster.ops.launcher",
    "UnknownNode": "cluster.ops.launcher",
    "prepare": "cluster.ops.launcher",
    "ControlError": "cluster.ops.control_client",
    "ControlRefused": "cluster.ops.control_client",
    "ClusterClient": "cluster.ops.client",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cluster' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "CATALOGUE",
    "PRESETS",
    "PROVIDERS",
    "ROLES",
    "ApplyResult",
    "Cluster",
    "ClusterAnnouncedEvent",
    "ClusterClient",
    "ClusterDegradedEvent",
    "ClusterRecoveredEvent",
    "ClusterStartLearnedEvent",
    "ClusterStartedEvent",
    "CodecError",
    "CommandError",
    "ControlError",
    "ControlRefused",
    "Event",
    "HandshakeRefusedEvent",
    "LaunchError",
    "Layout",
    "LayoutError",
    "MemberAliveEvent",
    "MemberEvent",
    "MemberFailedEvent",
    "MemberJoinedEvent",
    "MemberLeftEvent",
    "MemberSuspectEvent",
    "MemberUpdatedEvent",
    "MessageRefused",
    "MessageTooLarge",
    "NetworkConditions",
    "NodeConnectivityLostEvent",
    "NodeDownEvent",
    "NodeFullyConnectedEvent",
    "NodeSpec",
    "NodeStartedEvent",
    "NodeStoppingEvent",
    "NodeUpEvent",
    "NotPlainData",
    "Plain",
    "Provider",
    "ProviderOutput",
    "ReadinessRefusedEvent",
    "Simulation",
    "StateChangedEvent",
    "StateSimulation",
    "StatusSnapshot",
    "SyncableState",
    "Timings",
    "UnknownNode",
    "View",
    "WriteIntent",
    "check_merge_laws",
    "event_from_record",
    "load_layout",
    "parse_layout",
    "prepare",
    "timings_for",
]
