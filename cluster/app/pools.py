"""Pools: choosing one live node of a role for a message, as Zeek's `Cluster::publish_hrw` and
`Cluster::publish_rr` do over a pool.

- HRW (rendezvous hashing) on a key: every sender picks the same node for the same key without talking,
  and when that node dies only its keys move; the rest stay where they were, so per-key state (a word's
  count, a connection's flow) stays on one node.
- Round robin per key: each key has its own rotation over the live nodes of the pool, in name order; a dead
  node is skipped because only live nodes are in the rotation.

Both answer None when no node of the role is alive; Zeek's functions return F then, and so do ours.
"""

from __future__ import annotations

from collections.abc import Iterable

from cluster.core.rendezvous import rendezvous_owner

__all__ = ["RoundRobin", "hrw_pick"]


def hrw_pick(key: str, live: Iterable[str]) -> str | None:
    """The live node that owns `key` by rendezvous hashing, or None when there is none."""
    nodes = list(live)
    return rendezvous_owner(key, nodes) if nodes else None


class RoundRobin:
    """One rotation per key (Zeek keeps one per pool and key), over whichever nodes are live at the time."""

    def __init__(self) -> None:
        self._next: dict[tuple[str, str], int] = {}

    def pick(self, pool: str, key: str, live: Iterable[str]) -> str | None:
        nodes = sorted(live)
        if not nodes:
            return None
        turn = self._next.get((pool, key), 0)
        self._next[(pool, key)] = turn + 1
        return nodes[turn % len(nodes)]
