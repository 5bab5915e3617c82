"""Injecting faults into a running cluster from outside: what `clusterctl partition|heal|loss|delay` and the
test tools do. Each node carries its faults out itself (`cluster.core.faults`); this module works out what
to tell each one and tells every running node through its control port.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from cluster.control.protocol import FaultsRequest, FaultsStatus
from cluster.ops.launcher import Cluster

__all__ = [
    "heal",
    "lift_partition",
    "parse_delay",
    "parse_groups",
    "parse_loss",
    "partition",
    "set_delay",
    "set_loss",
]


def parse_groups(words: Sequence[str]) -> list[list[str]]:
    """`A,B / C,D` (however the shell split it) as [[A, B], [C, D]]."""
    groups = [
        [name for name in part.replace(",", " ").split() if name] for part in " ".join(words).split("/")
    ]
    if any(not group for group in groups):
        raise ValueError(f"partition {' '.join(words)!r}: every group needs a node (A,B / C,D)")
    return groups


def parse_loss(text: str) -> float:
    """`10%` or `0.1` as 0.1."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(%?)\s*", text)
    if match is None:
        raise ValueError(f"loss {text!r}: give a percentage like 10% (or a share like 0.1)")
    value = float(match.group(1)) / (100 if match.group(2) else 1)
    if not 0 <= value <= 1:
        raise ValueError(f"loss {text!r}: must be between 0% and 100%")
    return value


def parse_delay(text: str) -> float:
    """`50ms`, `0.5s` or `0.05` (seconds) as seconds."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s)?\s*", text)
    if match is None:
        raise ValueError(f"delay {text!r}: give a duration like 50ms or 0.5s")
    return float(match.group(1)) / (1000 if match.group(2) == "ms" else 1)


def partition(
    cluster: Cluster,
    groups: Sequence[Sequence[str]],
    *,
    running: Iterable[str] | None = None,
    timeout: float = 2.0,
) -> dict[str, FaultsStatus]:
    """Cut the groups off from each other; one group alone is cut off from every other node. Nodes named
    in no group keep talking to everyone. Replaces any earlier partition. `running`: the nodes to tell
    (default: those with a live process); `timeout`: how long each may take to answer."""
    names = set(cluster.layout.names)
    for name in (n for group in groups for n in group):
        cluster.spec(name)  # UnknownNode, named
    sides = [set(group) for group in groups]
    if len(sides) == 1:
        sides.append(names - sides[0])
    blocked: dict[str, frozenset[str]] = {name: frozenset() for name in names}
    for index, side in enumerate(sides):
        others = set().union(*(other for i, other in enumerate(sides) if i != index))
        for name in side:
            blocked[name] = frozenset(others - side)
    told = cluster.running() if running is None else running
    return _tell(cluster, told, lambda name: FaultsRequest(blocked=tuple(sorted(blocked[name]))), timeout)


def heal(cluster: Cluster, *, running: Iterable[str] | None = None) -> dict[str, FaultsStatus]:
    """Every fault lifted on every running node: no partition, loss or delay."""
    told = cluster.running() if running is None else running
    return _tell(cluster, told, lambda name: FaultsRequest(blocked=(), loss=0.0, delay=0.0))


def lift_partition(
    cluster: Cluster, *, running: Iterable[str] | None = None, timeout: float = 2.0
) -> dict[str, FaultsStatus]:
    """The partition lifted on every running node, with loss and delay left in force (`heal` lifts all
    three): a partition that heals on a network that is still lossy."""
    told = cluster.running() if running is None else running
    return _tell(cluster, told, lambda name: FaultsRequest(blocked=()), timeout)


def set_loss(
    cluster: Cluster, share: float, nodes: Iterable[str] | None = None, *, timeout: float = 2.0
) -> dict[str, FaultsStatus]:
    """That share of the datagrams each node (default: every running node) sends is lost."""
    return _tell(cluster, _targets(cluster, nodes), lambda name: FaultsRequest(loss=share), timeout)


def set_delay(
    cluster: Cluster, seconds: float, nodes: Iterable[str] | None = None
) -> dict[str, FaultsStatus]:
    """Everything each node (default: every running node) sends is held `seconds` first."""
    return _tell(cluster, _targets(cluster, nodes), lambda name: FaultsRequest(delay=seconds))


def _targets(cluster: Cluster, nodes: Iterable[str] | None) -> list[str]:
    if nodes is None:
        return cluster.running()
    chosen = list(nodes)
    for name in chosen:
        cluster.spec(name)  # UnknownNode, named
    return chosen


def _tell(
    cluster: Cluster,
    names: Iterable[str],
    request_for: Callable[[str], FaultsRequest],
    timeout: float = 2.0,
) -> dict[str, FaultsStatus]:
    return {name: cluster.ask(name, request_for(name), FaultsStatus, timeout=timeout) for name in names}
