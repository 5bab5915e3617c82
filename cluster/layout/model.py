"""Cluster layouts: which nodes exist, where they listen, and whom each one dials.

This module is what a layout *is*: the validated value every node of a cluster starts from, and the rules
that turn ``connect`` into a dial graph. How a layout is *read* (YAML with line numbers, every problem
collected and located) is :mod:`cluster.layout.loader`, which builds on this module.

The default topology is Zeek's: the manager dials the loggers, proxies dial loggers and the manager,
workers dial loggers, proxies and the manager, loggers dial no one. ``connect`` rules override it per role or
per node.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType

from cluster.layout.app import AppActorSpec, AppSpec
from cluster.layout.frozen import FrozenMap
from cluster.layout.presets import Timings

__all__ = [
    "DEFAULT_CONNECT",
    "ROLES",
    "Layout",
    "NodeSpec",
    "governing_rule",
    "resolve_connect",
]

ROLES = ("manager", "logger", "proxy", "worker")

DEFAULT_CONNECT: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        # Zeek's shape: data flows towards loggers and control towards the manager, so those are dialled.
        "manager": ("logger",),
        "logger": (),
        "proxy": ("logger", "manager"),
        "worker": ("logger", "proxy", "manager"),
    }
)


@dataclass(frozen=True)
class NodeSpec:
    """One node of a layout: its unique name, its role and the address other nodes dial."""

    name: str
    role: str
    host: str
    port: int
    metrics_port: int | None = None
    """Where the node serves `GET /metrics` besides its own port; None: on its own port only."""

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) pair, the form sockets take."""
        return (self.host, self.port)


@dataclass(frozen=True)
class Layout:
    """A validated layout: nodes in declaration order (``count`` expanded) and the resolved dial graph.

    Construct it with :func:`parse_layout` or :func:`load_layout`; direct construction only checks the
    invariants the rest of the code relies on (unique names, one manager, a closed dial graph without self
    loops) and raises ``ValueError``, because a node running on a broken layout would fail far from the
    cause.
    """

    cluster: str
    preset: str
    nodes: tuple[NodeSpec, ...]
    connect: Mapping[str, tuple[str, ...]]
    timings: Timings
    source: str = "<string>"
    app: AppSpec = field(default_factory=AppSpec)
    keyring: Path | None = None
    """The keyring file every node seals its traffic with (`cluster.wire.seal`), resolved against the
    layout's folder; None: the run directory's own (`RunDir.keyring_file`), unless `security` is "none".
    Not part of the digest: keys rotate under a running cluster."""
    security: str = "sealed"
    """"sealed" (the default: every datagram and frame sealed) or "none", an explicit opt-out."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", tuple(self.nodes))
        object.__setattr__(self, "connect", FrozenMap({k: tuple(v) for k, v in self.connect.items()}))
        broken = _invariant_problems(self.nodes, self.connect)
        if broken:
            raise ValueError("invalid layout: " + "; ".join(broken))

    def node(self, name: str) -> NodeSpec:
        """The node called ``name``; ``KeyError`` when there is none."""
        return self._by_name[name]

    @property
    def manager(self) -> NodeSpec:
        """The one manager: the readiness coordinator every node reports to."""
        return self.roles("manager")[0]

    @property
    def names(self) -> tuple[str, ...]:
        """Node names in declaration order."""
        return tuple(node.name for node in self.nodes)

    def outgoing(self, name: str) -> tuple[str, ...]:
        """Names of the nodes ``name`` dials; ``KeyError`` for an unknown node."""
        return self.connect[name]

    def incoming(self, name: str) -> tuple[str, ...]:
        """Names of the nodes that dial ``name``, in declaration order; ``KeyError`` for an unknown node."""
        self.node(name)
        return tuple(other for other, targets in self.connect.items() if name in targets)

    def app_actors(self, name: str) -> tuple[AppActorSpec, ...]:
        """The application actors node `name` runs (the layout's `app:` section)."""
        return self.app.actors_for(name, self.node(name).role)

    def roles(self, role: str) -> tuple[NodeSpec, ...]:
        """Nodes with ``role`` in declaration order; ``ValueError`` for a role that does not exist at all."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
        return tuple(node for node in self.nodes if node.role == role)

    @cached_property
    def digest(self) -> str:
        """A short hash of what the layout means, exchanged in ``hello`` to refuse peers started differently.

        It covers the resolved content only (not the file's formatting, comments, key order or source path),
        so reformatting a file does not split a running cluster, and any change that matters does.
        """
        canonical = {
            "cluster": self.cluster,
            "preset": self.preset,
            "nodes": sorted([node.name, node.role, node.host, node.port] for node in self.nodes),
            "connect": {name: sorted(targets) for name, targets in self.connect.items()},
            "timings": asdict(self.timings),
        }
        if self.app != AppSpec():
            canonical["app"] = self.app.canonical()
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @cached_property
    def _by_name(self) -> Mapping[str, NodeSpec]:
        return {node.name: node for node in self.nodes}


def _invariant_problems(nodes: tuple[NodeSpec, ...], connect: Mapping[str, tuple[str, ...]]) -> list[str]:
    names = {node.name for node in nodes}
    problems = []
    if len(names) != len(nodes):
        problems.append("node names are not unique")
    if any(node.role not in ROLES for node in nodes):
        problems.append("unknown role")
    if sum(node.role == "manager" for node in nodes) != 1:
        problems.append("there must be exactly one manager")
    if set(connect) != names:
        problems.append("connect must have exactly one entry per node")
    if any(target not in names or target == name for name, targets in connect.items() for target in targets):
        problems.append("connect targets must be other nodes of the layout")
    return problems


# -- topology --------------------------------------------------------------------------------------------


def governing_rule(name: str, role: str, rules: Collection[str]) -> str | None:
    """The key of the ``connect`` rule that decides whom node ``name`` dials, or ``None`` for the default.

    A node's own rule wins over its role's. A role name as a key always means the whole role, so a node
    carrying a role's name (the usual ``manager``) is governed by that role's rule.
    """
    if name not in ROLES and name in rules:
        return name
    return role if role in rules else None


def resolve_connect(
    nodes: Sequence[NodeSpec], rules: Mapping[str, Sequence[str]]
) -> dict[str, tuple[str, ...]]:
    """Whom each node dials: its own rule, else its role's rule, else Zeek's default for the role.

    ``rules`` is a ``connect`` section: role or node names, each with the role or node names it dials. A role
    listed as a target stands for every node of that role but the dialling node itself, so that
    ``worker: [worker]`` reads as "workers form a mesh"; a node named explicitly is taken at its word, so a
    role rule naming one of its own members makes that member dial itself, which :class:`Layout` refuses.
    """
    members = {role: [node.name for node in nodes if node.role == role] for role in ROLES}
    resolved: dict[str, tuple[str, ...]] = {}
    for node in nodes:
        key = governing_rule(node.name, node.role, rules)
        dialled: dict[str, None] = {}  # a dict, not a set: keeps the order the rule gives
        for target in DEFAULT_CONNECT[node.role] if key is None else rules[key]:
            if target in ROLES:
                dialled.update(dict.fromkeys(name for name in members[target] if name != node.name))
            else:
                dialled[target] = None
        resolved[node.name] = tuple(dialled)
    return resolved
