"""What a node's metrics page reads from its cores and actors at each scrape (see `actors.metrics`).

Each function returns a source: a closure over one core or one set of actor references that turns what
they hold now into metric families. Reading happens on the reactor's thread while the owning actor runs
on, which is safe because what is read is either a plain int (written by one thread, read whole), the
length of a container, or an immutable value (the member table): a scrape may be one step behind, never
torn. Names follow memberlist's telemetry where it has one (Consul's telemetry reference lists them:
`memberlist.probeNode`, `memberlist.msg.suspect`, `memberlist.msg.dead`, `memberlist.pushPullNode`,
`memberlist.health.score`, `memberlist.queue.broadcasts`, `memberlist.node.instances`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pykka
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    SummaryMetricFamily,
)
from prometheus_client.metrics_core import Metric

from actors.base import inbox_depth
from actors.metrics import MetricSource
from cluster.app.postoffice import PostOffice
from cluster.membership.members import State
from cluster.membership.swim import Membership
from cluster.state.gaps import REPAIR_BUCKETS, GapLedger
from cluster.state.gossip import StateGossip


def _counter(name: str, text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, text, value=value)


def _gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, text, value=value)


_MEMBERSHIP_COUNTERS = (
    # metric name, help, field of MembershipStats
    ("memberlist_probes_sent", "Probes started (one direct ping each)", "probes_sent"),
    ("memberlist_probes_acked", "Probes acked, directly or through a helper", "probes_acked"),
    ("memberlist_probes_indirect", "Probes that needed ping-req helpers", "probes_indirect"),
    ("memberlist_probes_failed", "Probes that timed out with no ack at all", "probes_failed"),
    ("memberlist_nacks_received", "Nacks from ping-req helpers", "nacks_received"),
    ("memberlist_relays", "Pings sent for another node's ping-req", "relays"),
    ("memberlist_msg_suspect", "Members this node came to suspect", "suspicions"),
    ("memberlist_suspicions_refuted", "Suspected members seen alive again", "suspicions_refuted"),
    ("memberlist_refutations", "Suspicions of this node that it refuted", "refutations"),
    ("memberlist_msg_dead", "Members declared failed here (not leaves)", "members_failed"),
    ("memberlist_stale_news_corrected", "Stale suspicions answered with fresher news", "corrections"),
    ("memberlist_push_pull_node", "Membership push-pulls started", "push_pulls"),
    ("memberlist_push_pull_answered", "Membership push-pulls answered", "push_pulls_answered"),
    ("memberlist_datagrams_received", "Membership datagrams handled", "datagrams_received"),
)


def membership(core: Membership) -> MetricSource:
    def collect() -> Iterable[Metric]:
        s = core.stats
        probe = SummaryMetricFamily(
            "memberlist_probe_node_seconds",
            "Acked probes: time from the ping to the ack (memberlist.probeNode)",
            count_value=s.probes_acked,
            sum_value=s.probe_seconds,
        )
        instances = GaugeMetricFamily(
            "memberlist_node_instances", "Members known, by state", labels=["state"]
        )
        by_state = Counter(member.state for member in core.table)
        for member_state in State:
            instances.add_metric([member_state.value], by_state.get(member_state, 0))
        return [
            probe,
            *(_counter(name, text, getattr(s, field)) for name, text, field in _MEMBERSHIP_COUNTERS),
            _gauge("memberlist_health_score", "Lifeguard local health: 0 is healthy", core.health_score),
            _gauge("memberlist_queue_broadcasts", "Membership news to retransmit", core.broadcasts_queued),
            instances,
        ]

    return collect


def state(core: StateGossip) -> MetricSource:
    def collect() -> Iterable[Metric]:
        s = core.stats
        return [
            _gauge("pycluster_state_entries", "Replicated state entries held", len(core.store)),
            _gauge("pycluster_state_owners", "Owners whose entries are held", len(core.store.owners())),
            _gauge("pycluster_state_queue_updates", "State news to retransmit", core.queued_updates),
            _counter("pycluster_state_sync_rounds", "Anti-entropy exchanges started", s["syncs"]),
            _counter("pycluster_state_syncs_answered", "Anti-entropy pulls answered", s["syncs_answered"]),
            _counter("pycluster_state_sent_datagrams", "State datagrams sent", s["sent_datagrams"]),
            _counter("pycluster_state_sent_bytes", "State datagram bytes sent", s["sent_bytes"]),
            _counter(
                "pycluster_state_gaps",
                "Gaps seen: news held above a range not yet received",
                core.gaps.detected,
            ),
            _gauge("pycluster_state_gaps_open", "Gaps not repaired yet", len(core.gaps.open)),
            _counter("pycluster_state_repairs", "Repairs asked for (the missing ranges only)", s["repairs"]),
            _counter("pycluster_state_repairs_answered", "Repairs answered", s["repairs_answered"]),
            _gauge(
                "pycluster_state_gap_repair_seconds_max", "Longest gap repair so far", core.gaps.seconds_max
            ),
            _repair_histogram(core.gaps),
        ]

    return collect


def _repair_histogram(gaps: GapLedger) -> HistogramMetricFamily:
    cumulative, total = [], 0
    for bound, count in zip((*map(str, REPAIR_BUCKETS), "+Inf"), gaps.buckets, strict=True):
        total += count
        cumulative.append((bound, total))
    return HistogramMetricFamily(
        "pycluster_state_gap_repair_seconds",
        "From a gap seen to its range received",
        buckets=cumulative,
        sum_value=gaps.seconds_sum,
    )


def drop_counts(
    counters: tuple[Mapping[str, int], ...],
    membership_core: Membership,
    state_core: StateGossip,
    post: PostOffice,
) -> Callable[[], dict[str, int]]:
    """Everything the node refused or lost, by reason: where a datagram or frame went. One reading for
    the metrics page and for `status`, so the two never disagree. `counters`: the transport's and the
    datagram reader's, each written by its own thread."""

    def counts() -> dict[str, int]:
        reasons: dict[str, int] = {}
        for counter in counters:
            reasons.update(dict(counter))  # one C-level copy: its thread may add a reason meanwhile
        reasons["membership datagram garbled"] = membership_core.stats.datagrams_dropped
        for reason, count in dict(membership_core.stats.refused).items():
            reasons[f"membership news refused: {reason}"] = count
        reasons["state message rejected"] = state_core.stats["received_rejected"]
        reasons["state message refused: implausible time"] = state_core.stats["implausible_times"]
        reasons["state news refused: unproven generation"] = state_core.stats["unproven_generations"]
        reasons["state part over a datagram"] = state_core.stats["oversized"]
        reasons["app message undeliverable"] = post.stats.undeliverable
        reasons["app message over a full queue"] = sum(dict(post.stats.dropped).values())
        return reasons

    return counts


def drops(counts: Callable[[], Mapping[str, int]]) -> MetricSource:
    """`drop_counts` as one counter family."""

    def collect() -> Iterable[Metric]:
        family = CounterMetricFamily(
            "pycluster_dropped", "Datagrams, frames and messages dropped, by reason", labels=["reason"]
        )
        for reason, count in sorted(counts().items()):
            family.add_metric([reason], count)
        return [family]

    return collect


def mailboxes(refs: Mapping[str, pykka.ActorRef[Any]]) -> MetricSource:
    """Messages waiting in each actor's inbox: the first place a starved node shows it."""

    def collect() -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "pycluster_actor_mailbox_depth", "Messages waiting in an actor's inbox", labels=["actor"]
        )
        for name, ref in refs.items():
            family.add_metric([name], inbox_depth(ref.actor_inbox))
        return [family]

    return collect
