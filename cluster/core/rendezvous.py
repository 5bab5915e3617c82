"""Rendezvous hashing (highest random weight): one owner for a key among a set of nodes, agreed without
talking, and stable as nodes come and go: when a node leaves, only the keys it owned move, each to the node
that ranked second for it; every other key stays where it was (Thaler and Ravishankar, "Using name-based
mappings to increase hit rates", IEEE/ACM ToN 6(1), 1998). Zeek's `Cluster::publish_hrw` routes by it, the
`sessions` provider claims a dead owner's sessions by it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

__all__ = ["rendezvous_owner"]


def _weight(key: str, node: str) -> tuple[bytes, str]:
    return hashlib.sha256(f"{key}\x00{node}".encode()).digest(), node


def rendezvous_owner(key: str, nodes: Iterable[str]) -> str:
    """The node with the highest hash of (key, node); ValueError for no nodes at all."""
    return max(nodes, key=lambda node: _weight(key, node))
