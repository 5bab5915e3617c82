"""What one node's failure detector did, counted: the figures its metrics export.

The counters live in the core because only the core knows what a datagram meant (a probe acked, a
suspicion refuted); the node's metrics read them when scraped. Each is written by the one actor that runs
the core and only read elsewhere, a field at a time, so a scrape sees each count at most one step old. The
names follow memberlist's telemetry (`memberlist.probeNode`, `memberlist.msg.suspect`, ...), so a
dashboard built for Consul or Serf reads them the same way.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class MembershipStats:
    probes_sent: int = 0
    """Direct pings of a probe target (one per probe period)."""
    probes_acked: int = 0
    """Probes answered in time, directly or through a helper."""
    probes_indirect: int = 0
    """Probes that went on to ping-req helpers: the direct ack did not come in time."""
    probes_failed: int = 0
    """Probes concluded with no ack at all (memberlist's probe timeout): what raises a suspicion."""
    nacks_received: int = 0
    """Helpers' nacks: each says the helper is alive, which Lifeguard counts in our favour."""
    probe_seconds: float = 0.0
    """The summed duration of acked probes, from the ping to the ack (`memberlist.probeNode`)."""
    relays: int = 0
    """Pings sent for another node's ping-req."""
    suspicions: int = 0
    """Members this node came to hold as suspect, by its own probe or by news (`memberlist.msg.suspect`)."""
    suspicions_refuted: int = 0
    """Suspected members seen alive again at a higher incarnation."""
    refutations: int = 0
    """Suspicions or deaths of this node itself, refuted by it."""
    members_failed: int = 0
    """Members declared dead here (`memberlist.msg.dead`); graceful leaves are not failures."""
    corrections: int = 0
    """Stale suspicions or deaths answered with the fresher alive news (`Membership._correct_stale`)."""
    push_pulls: int = 0
    """Full membership exchanges started by this node (`memberlist.pushPullNode`)."""
    push_pulls_answered: int = 0
    datagrams_received: int = 0
    datagrams_dropped: int = 0
    """Membership datagrams that did not decode, counted and dropped."""
    refused: Counter[str] = field(default_factory=Counter)
    """News that decoded but was not believed, by reason (`cluster.membership.admission`)."""
