"""One node's metrics, in Prometheus' exposition format (served by the reactor: `actors.http_page`).

Two kinds of figures, kept apart by how they are counted:
- **traffic**, counted where it passes: the bytes and datagrams through the node's sockets, from whichever
  thread moves them (prometheus_client's counters take a lock, about 0.3 µs an increment, so a socket call
  pays nothing it would notice);
- **what the cores and actors know**, read only when someone scrapes: probes, suspicions, state entries,
  mailbox depths. Counting those on every step would cost every probe something for a page read every few
  seconds, so each source is a function that reads its core's counters (plain ints, written by the one actor
  that runs the core) and turns them into metric families at scrape time (`NodeMetrics.watch`).

Every node has its own registry rather than prometheus_client's global one, so that several nodes can run
in one test process and each page shows one node.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

MetricSource = Callable[[], Iterable[Metric]]


class Tally:
    """Counts kept by one thread only, so `+=` on them needs no lock and loses nothing."""

    __slots__ = ("bytes", "count", "dropped")

    def __init__(self) -> None:
        self.count = 0
        self.bytes = 0
        self.dropped = 0


class Traffic:
    """The node's socket traffic, counted where it passes in plain ints: a lock per datagram (what
    prometheus_client's counters take) showed up as a tenth of a starting manager's samples. UDP is sent
    from several threads, so each sending thread counts in a tally of its own (`sending`), summed when
    scraped; the rest has one writer each (the reactor's thread, or the membership actor's for UDP in).
    Exported under memberlist's names (`memberlist.udp.sent`, `memberlist.tcp.accept`, ...) in Prometheus'
    spelling, bytes and datagrams apart."""

    def __init__(self) -> None:
        self.udp_received = Tally()
        self.tcp_sent = Tally()
        self.tcp_received = Tally()
        self.tcp_accepts = 0
        self.tcp_connects = 0
        self.http_requests = 0
        self._udp_sent: dict[int, Tally] = {}

    def sending(self) -> Tally:
        """The calling thread's own tally of UDP sent (and of datagrams an injected fault dropped)."""
        tally = self._udp_sent.get(threading.get_ident())
        if tally is None:
            tally = self._udp_sent.setdefault(threading.get_ident(), Tally())
        return tally

    def collect(self) -> Iterable[Metric]:
        sent = list(self._udp_sent.values())
        figures = (
            ("memberlist_udp_sent_bytes", "UDP payload bytes sent", sum(t.bytes for t in sent)),
            ("memberlist_udp_sent_datagrams", "UDP datagrams sent", sum(t.count for t in sent)),
            ("memberlist_udp_received_bytes", "UDP payload bytes received", self.udp_received.bytes),
            ("memberlist_udp_received_datagrams", "UDP datagrams received", self.udp_received.count),
            ("memberlist_tcp_sent_bytes", "TCP bytes written", self.tcp_sent.bytes),
            ("memberlist_tcp_received_bytes", "TCP bytes read", self.tcp_received.bytes),
            ("memberlist_tcp_accept", "TCP connections accepted", self.tcp_accepts),
            ("memberlist_tcp_connect", "TCP connections dialled", self.tcp_connects),
            ("pycluster_http_requests", "HTTP requests answered (scrapes)", self.http_requests),
            (
                "pycluster_injected_drops",
                "Datagrams dropped by an injected fault",
                sum(t.dropped for t in sent),
            ),
        )
        return [CounterMetricFamily(name, text, value=value) for name, text, value in figures]


class NodeMetrics:
    """The registry of one node: its traffic, its process, and the sources its runtime watches."""

    def __init__(self, node: str, role: str, cluster: str) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.traffic = Traffic()
        ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, process_resident_memory_bytes
        self._sources: list[MetricSource] = [_identity(node, role, cluster), _process, self.traffic.collect]
        self.registry.register(_Sources(self._sources))

    def watch(self, source: MetricSource) -> None:
        """Add a source read at every scrape. Sources are added while the node starts, before it listens."""
        self._sources.append(source)

    def render(self) -> bytes:
        """The exposition page; called from the reactor thread for each scrape."""
        return generate_latest(self.registry)


class _Sources(Collector):
    def __init__(self, sources: list[MetricSource]) -> None:
        self._sources = sources

    def collect(self) -> Iterator[Metric]:
        for source in list(self._sources):
            try:
                yield from source()
            except Exception:  # a figure that cannot be read now must not cost the page the others
                log.exception("metrics source %r failed", source)


def _identity(node: str, role: str, cluster: str) -> MetricSource:
    def collect() -> Iterable[Metric]:
        info = InfoMetricFamily("pycluster_node", "Which node of which cluster this page is")
        info.add_metric([], {"node": node, "role": role, "cluster": cluster})
        return [info]

    return collect


def _process() -> Iterable[Metric]:
    """Threads, and CPU time to the nanosecond: process_cpu_seconds_total counts 10 ms clock ticks, too
    coarse for an idle node's tenth of a percent."""
    return [
        GaugeMetricFamily("pycluster_threads", "Threads of the node's process", threading.active_count()),
        CounterMetricFamily("pycluster_cpu_seconds", "CPU time of the node's process", time.process_time()),
    ]
