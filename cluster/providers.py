"""The providers every node runs, by state type (`clusterctl state --provider NAME`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from cluster.kv import KvProvider
from cluster.provider import Provider

PROVIDERS: Mapping[str, Callable[[str], Provider]] = MappingProxyType({"kv": KvProvider})
"""State type -> a factory taking the local node's name."""
