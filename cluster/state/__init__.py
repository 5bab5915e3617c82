"""Replicated state: the store, the gossip scheduler's core, the provider interface and providers."""
