"""What a cluster is: its layout, its wire messages, its events, the rules of readiness, membership and
replicated state, the simulators that run those rules in virtual time, and the process layer that starts
nodes and talks to them (see docs/architecture.md).

What is listed in `__all__` is the surface users import; everything else is reachable by its module path
but is the implementation, and may change.

Every exported name is loaded when first used (see cluster/core/lazy_exports.py): importing a pure
package (`cluster.wire`, `cluster.membership`, ...) loads no process machinery, no actor and no pykka, and
a `clusterctl` call loads only what its verb needs.
"""

from typing import TYPE_CHECKING

from cluster.core.lazy_exports import lazy_exports

if TYPE_CHECKING:
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
    from cluster.ops.client import ClusterClient
    from cluster.ops.control_client import ControlError, ControlRefused
    from cluster.ops.launcher import Cluster, LaunchError, UnknownNode, prepare
    from cluster.sim.membership import NetworkConditions, Simulation
    from cluster.sim.state import StateSimulation
    from cluster.state.laws import check_merge_laws
    from cluster.state.provider import ApplyResult, CommandError, Provider, ProviderOutput, View, WriteIntent
    from cluster.state.providers import PROVIDERS
    from cluster.wire.messages import Plain, SyncableState
    from cluster.wire.schema import CodecError

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

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "cluster.app.plain": ("MessageRefused", "MessageTooLarge", "NotPlainData"),
        "cluster.control.protocol": ("StatusSnapshot",),
        "cluster.core.events": (
            "CATALOGUE",
            "ClusterAnnouncedEvent",
            "ClusterDegradedEvent",
            "ClusterRecoveredEvent",
            "ClusterStartedEvent",
            "ClusterStartLearnedEvent",
            "Event",
            "HandshakeRefusedEvent",
            "MemberAliveEvent",
            "MemberEvent",
            "MemberFailedEvent",
            "MemberJoinedEvent",
            "MemberLeftEvent",
            "MemberSuspectEvent",
            "MemberUpdatedEvent",
            "NodeConnectivityLostEvent",
            "NodeDownEvent",
            "NodeFullyConnectedEvent",
            "NodeStartedEvent",
            "NodeStoppingEvent",
            "NodeUpEvent",
            "ReadinessRefusedEvent",
            "StateChangedEvent",
            "event_from_record",
        ),
        "cluster.layout.loader": ("LayoutError", "load_layout", "parse_layout"),
        "cluster.layout.model": ("ROLES", "Layout", "NodeSpec"),
        "cluster.layout.presets": ("PRESETS", "Timings", "timings_for"),
        "cluster.sim.membership": ("NetworkConditions", "Simulation"),
        "cluster.sim.state": ("StateSimulation",),
        "cluster.state.laws": ("check_merge_laws",),
        "cluster.state.provider": (
            "ApplyResult",
            "CommandError",
            "Provider",
            "ProviderOutput",
            "View",
            "WriteIntent",
        ),
        "cluster.state.providers": ("PROVIDERS",),
        "cluster.wire.messages": ("Plain", "SyncableState"),
        "cluster.wire.schema": ("CodecError",),
        "cluster.ops.client": ("ClusterClient",),
        "cluster.ops.control_client": ("ControlError", "ControlRefused"),
        "cluster.ops.launcher": ("Cluster", "LaunchError", "UnknownNode", "prepare"),
    },
)
