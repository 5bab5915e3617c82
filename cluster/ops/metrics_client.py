"""Reading a node's metrics page (`GET /metrics`) from outside: what `clusterctl top`, the benchmarks and
the tests use to see inside a running node without a control request."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from cluster.layout.model import NodeSpec

__all__ = ["MetricsUnavailable", "Scrape", "metrics_address", "scrape"]

MAX_PAGE = 4 * 1024 * 1024


class MetricsUnavailable(Exception):
    """The node did not answer with a metrics page: it is down, busy past the timeout, or not ours."""


@dataclass(frozen=True)
class Scrape:
    """One page, as samples: name -> {labels (sorted pairs) -> value}."""

    samples: Mapping[str, Mapping[tuple[tuple[str, str], ...], float]]

    def value(self, name: str, default: float = 0.0, **labels: str) -> float:
        """One sample's value (the unlabelled one, or the one with exactly these labels)."""
        return self.samples.get(name, {}).get(tuple(sorted(labels.items())), default)

    def by_label(self, name: str, label: str) -> dict[str, float]:
        """Every sample of `name`, keyed by one of its labels."""
        return {dict(key).get(label, ""): value for key, value in self.samples.get(name, {}).items()}


def metrics_address(spec: NodeSpec) -> tuple[str, int]:
    """Where a node serves its page: its metrics port if the layout gives one, else its own port."""
    return (spec.host, spec.metrics_port or spec.port)


def scrape(address: tuple[str, int], *, timeout: float = 2.0) -> Scrape:
    try:
        with socket.create_connection(address, timeout=timeout) as sock:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\r\n")
            chunks = []
            size = 0
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_PAGE:
                    raise MetricsUnavailable(f"{address[0]}:{address[1]}: page over {MAX_PAGE} bytes")
    except OSError as error:
        raise MetricsUnavailable(f"{address[0]}:{address[1]}: {error.strerror or error}") from error
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    if not status.startswith(b"HTTP/1.1 200"):
        raise MetricsUnavailable(
            f"{address[0]}:{address[1]}: {status.decode(errors='replace') or 'no answer'}"
        )
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    try:
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    except (ValueError, UnicodeDecodeError) as error:
        raise MetricsUnavailable(f"{address[0]}:{address[1]}: not a metrics page ({error})") from error
    return Scrape(samples)
