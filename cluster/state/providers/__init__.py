"""The providers every node runs, by state type (`clusterctl state --provider NAME`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from cluster.state.provider import Provider
from cluster.state.providers.circuit_breaker import CircuitBreakerProvider
from cluster.state.providers.drain import DrainProvider
from cluster.state.providers.health import HealthProvider
from cluster.state.providers.kv import KvProvider
from cluster.state.providers.sessions import SessionsProvider
from cluster.state.providers.topics import TopicsProvider

PROVIDERS: Mapping[str, Callable[[str], Provider]] = MappingProxyType(
    {
        "kv": KvProvider,
        "health": HealthProvider,
        "circuit_breaker": CircuitBreakerProvider,
        "drain": DrainProvider,
        "sessions": SessionsProvider,
        "topics": TopicsProvider,
    }
)
"""State type -> a factory taking the local node's name."""
