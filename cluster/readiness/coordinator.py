"""The manager coordinator's rules: when has the cluster started, and is it still whole.

Zeek's manager waits for `node_fully_connected` from every node of the layout and then broadcasts
`cluster_started` once (architecture §3). A report with `resending` true tells a restarted manager that the
cluster had already started, so it never announces a second time.

A node whose current life reports without knowing of the start (resending false) is told with a replay,
so nobody misses the start however the restarts interleave.

Zeek stops there; we keep a readiness matrix. A node counts as present while the manager holds a peering
with it and its latest report says it is fully connected. Once every node has been present at the same
time in this manager's life, any absence raises `cluster_degraded(missing)` and the return of the last
absentee raises `cluster_recovered`. Before that moment the cluster is still forming (a fresh manager
hears from the nodes one by one), which is not a degradation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from cluster.core.effects import Effect, Emit, Send
from cluster.core.events import (
    ClusterAnnouncedEvent,
    ClusterDegradedEvent,
    ClusterRecoveredEvent,
    ClusterStartLearnedEvent,
    NodeFullyConnectedEvent,
    ReadinessRefusedEvent,
)
from cluster.wire.messages import ClusterStarted, NodeConnectivityLost, NodeFullyConnected


@dataclass(frozen=True, slots=True)
class NodeReadiness:
    """The manager's view of one node of the layout."""

    node_id: str | None = None
    peered: bool = False
    reported: bool = False
    lost: tuple[str, ...] = ()
    knows_started: bool = False  # this life of the node has been told, or said it knew (resending)

    @property
    def present(self) -> bool:
        return self.peered and self.reported


class Coordinator:
    """Pure core of the manager coordinator."""

    def __init__(self, manager: str, manager_id: str, names: tuple[str, ...]) -> None:
        if manager not in names:
            raise ValueError(f"manager {manager!r} is not a node of the layout")
        self.manager = manager
        self._nodes: dict[str, NodeReadiness] = {name: NodeReadiness() for name in names}
        self._nodes[manager] = NodeReadiness(node_id=manager_id, peered=True)
        self._started = False
        self._whole_once = False
        self._last_missing: tuple[str, ...] = ()

    # -- inputs ---------------------------------------------------------------------------------

    def peer_up(self, name: str, node_id: str) -> list[Effect]:
        node = self._nodes.get(name)
        if node is None or name == self.manager:
            return []
        if node.node_id != node_id:
            node = NodeReadiness(node_id=node_id)  # a new life must report again
        self._nodes[name] = replace(node, peered=True)
        return self._reevaluate()

    def peer_down(self, name: str, node_id: str) -> list[Effect]:
        node = self._nodes.get(name)
        if node is None or name == self.manager or node.node_id != node_id:
            return []
        self._nodes[name] = replace(node, peered=False, reported=False)
        return self._reevaluate()

    def node_fully_connected(self, report: NodeFullyConnected, sender: str) -> list[Effect]:
        refused = self._refusal(report.name, report.node_id, sender, "node_fully_connected")
        if refused is not None:
            return [refused]
        node = self._nodes[report.name]
        effects: list[Effect] = []
        if report.name != self.manager:  # the manager's own tracker raised its own, as every node does
            effects.append(
                Emit(NodeFullyConnectedEvent(name=report.name, id=report.node_id, resending=report.resending))
            )
        if node.node_id != report.node_id:
            node = NodeReadiness(node_id=report.node_id, peered=report.name == self.manager)
        self._nodes[report.name] = replace(
            node, reported=True, lost=(), knows_started=node.knows_started or report.resending
        )
        if report.resending and not self._started:
            self._started = True
            effects.append(Emit(ClusterStartLearnedEvent(from_=report.name)))
        return effects + self._reevaluate()

    def node_connectivity_lost(self, report: NodeConnectivityLost, sender: str) -> list[Effect]:
        refused = self._refusal(report.name, report.node_id, sender, "node_connectivity_lost")
        if refused is not None:
            return [refused]
        node = self._nodes[report.name]
        if node.node_id != report.node_id:
            return []
        self._nodes[report.name] = replace(node, reported=False, lost=tuple(report.missing))
        return self._reevaluate()

    # -- queries --------------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._started

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(name for name, node in self._nodes.items() if not node.present)

    def snapshot(self) -> dict[str, Any]:
        """The readiness matrix: plain data, ready for a control reply or a status table."""
        return {
            "started": self._started,
            "state": self._state_name(),
            "missing": list(self.missing),
            "nodes": {
                name: {
                    "id": node.node_id,
                    "peered": node.peered,
                    "reported": node.reported,
                    "lost": list(node.lost),
                }
                for name, node in self._nodes.items()
            },
        }

    # -- rules ----------------------------------------------------------------------------------

    def _state_name(self) -> str:
        if not self._whole_once:
            return "started" if self._started else "forming"
        return "degraded" if self.missing else "ready"

    def _refusal(self, name: str, node_id: str, sender: str, what: str) -> Emit | None:
        """Unknown names are refused, and so is a report that one node makes about another."""
        if name not in self._nodes:
            reason = "unknown node"
        elif name != sender:
            reason = f"sent by {sender}: a node reports only for itself"
        else:
            return None
        return Emit(ReadinessRefusedEvent(what=what, name=name, reason=reason, id=node_id))

    def _tell_started(self, *, replay: bool) -> list[Effect]:
        """Tell every reported node that does not know yet; a replay reaches nodes that missed the
        announcement (a node restarted while the manager was down, or one that reported to a restarted
        manager before it learned the cluster had started)."""
        effects: list[Effect] = []
        for name, node in self._nodes.items():
            if node.knows_started or not node.reported:
                continue
            self._nodes[name] = replace(node, knows_started=True)
            effects.append(Send(name, ClusterStarted(self.manager, replay=replay)))
        return effects

    def _reevaluate(self) -> list[Effect]:
        missing = self.missing
        effects: list[Effect] = []
        if not missing and not self._started:
            self._started = True
            effects.append(Emit(ClusterAnnouncedEvent(nodes=len(self._nodes))))
            effects += self._tell_started(replay=False)
        if self._started:
            effects += self._tell_started(replay=True)
        if not missing:
            if self._whole_once and self._last_missing:
                effects.append(Emit(ClusterRecoveredEvent(after_missing=self._last_missing)))
            self._whole_once = True
        elif self._whole_once and missing != self._last_missing:
            lost = {name: node.lost for name, node in self._nodes.items() if node.lost}
            effects.append(Emit(ClusterDegradedEvent(missing=missing, lost_links=lost)))
        self._last_missing = missing if self._whole_once else ()
        return effects
