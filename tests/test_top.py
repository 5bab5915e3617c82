"""`clusterctl top`'s rows from two rounds of scrapes: rates from differences, the busiest node first."""

from __future__ import annotations

from cluster.layout.loader import parse_layout
from cluster.ops.metrics_client import Scrape
from cluster.ops.top import loads

LAYOUT = parse_layout(
    "cluster: t\nnodes:\n"
    "  manager: {role: manager, host: 127.0.0.1, port: 7000}\n"
    "  worker: {role: worker, host: 127.0.0.1, port: 7001, count: 2}\n"
)


def page(cpu: float, datagrams: float, inbox: dict[str, float], health: float = 0) -> Scrape:
    return Scrape(
        {
            "pycluster_cpu_seconds_total": {(): cpu},
            "process_resident_memory_bytes": {(): 25 * 2**20},
            "pycluster_threads": {(): 16},
            "memberlist_udp_sent_datagrams_total": {(): datagrams},
            "memberlist_udp_received_datagrams_total": {(): datagrams},
            "memberlist_health_score": {(): health},
            "memberlist_node_instances": {(("state", "suspect"),): 1, (("state", "alive"),): 2},
            "pycluster_actor_mailbox_depth": {(("actor", name),): depth for name, depth in inbox.items()},
        }
    )


def test_rates_come_from_two_scrapes_and_the_busiest_node_is_first() -> None:
    before = {"manager": page(1.0, 10, {}), "worker-1": page(2.0, 10, {}), "worker-2": "refused"}
    after = {
        "manager": page(1.1, 20, {"membership": 0, "events": 3}),
        "worker-1": page(2.5, 30, {"membership": 7}, health=2),
        "worker-2": "127.0.0.1:7002: Connection refused",
    }
    rows = loads(LAYOUT, before, after, 2.0)
    assert [row.node for row in rows] == ["worker-1", "manager", "worker-2"]
    busiest = rows[0]
    assert busiest.cpu_percent == 25.0 and busiest.datagrams_per_s == 20.0
    assert (busiest.mailbox, busiest.health, busiest.suspects, busiest.threads) == ("membership:7", 2, 1, 16)
    assert rows[1].mailbox == "events:3" and rows[1].rss_mb == 25.0
    assert rows[2].problem == "127.0.0.1:7002: Connection refused" and rows[2].cpu_percent is None


def test_a_node_seen_only_once_has_no_rates_yet() -> None:
    (row, *_) = loads(LAYOUT, {}, {"manager": page(1.0, 10, {})}, 2.0)
    assert row.node == "manager" and row.cpu_percent is None and row.datagrams_per_s is None
