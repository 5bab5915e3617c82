"""Checking a provider's merge rule the way ours are checked: commutative, associative and idempotent.

Replicas receive the same entries in any order, in any grouping, some of them twice; they must still
show the same view. `check_merge_laws` draws sets of entries with Hypothesis (the `values` strategy says
what a value of the state type looks like), applies them to fresh providers whole, shuffled, split into
batches and with repeats, and fails with the smallest counterexample Hypothesis finds when the views
differ. It needs Hypothesis installed (it is in the test extras); nothing else here does.

```python
from hypothesis import strategies as st
from cluster.state.laws import check_merge_laws

def test_gcounter_merges_lawfully():
    check_merge_laws(GCounter, st.integers(0, 10))
```
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from cluster.state.provider import Provider
from cluster.wire.messages import SyncableState

__all__ = ["check_merge_laws"]


def _consistent(entries: list[SyncableState]) -> list[SyncableState]:
    """As a store can hold them: one entry per (owner, key, generation, version)."""
    seen: dict[tuple[str, str, int, int], SyncableState] = {}
    for entry in entries:
        seen.setdefault((entry.source_node, entry.key, entry.generation, entry.version), entry)
    return list(seen.values())


def _views(make: Callable[[str], Provider], nodes: Sequence[str], batches: list[list[SyncableState]]) -> Any:
    provider = make(nodes[0])
    provider.on_members(nodes)
    for batch in batches:
        provider.apply_remote_state(batch)
    return provider.views()


def check_merge_laws(
    make: Callable[[str], Provider],
    values: Any,
    *,
    keys: Sequence[str] = ("x", "y"),
    nodes: Sequence[str] = ("a", "b", "c", "d"),
    max_examples: int = 150,
) -> None:
    """Fail (AssertionError, with a counterexample) unless every grouping, order and repetition of a set
    of entries gives the provider `make(node)` builds the same view. `values` is a Hypothesis strategy."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    state_type = make(nodes[0]).provider_type()
    entry = st.builds(
        lambda key, value, owner, version, generation, tombstone: SyncableState(
            state_type, key, None if tombstone else value, version, owner, generation, tombstone
        ),
        st.sampled_from(list(keys)),
        values,
        st.sampled_from(list(nodes)),
        st.integers(1, 6),
        st.integers(1, 2),
        st.booleans(),
    )

    @settings(max_examples=max_examples, deadline=None)
    @given(drawn=st.lists(entry, max_size=12), seed=st.integers(0, 2**32))
    def laws(drawn: list[SyncableState], seed: int) -> None:
        entries = _consistent(drawn)
        rng = random.Random(seed)
        expected = _views(make, nodes, [entries])
        shuffled = entries + rng.sample(entries, len(entries) // 2)  # repeats: idempotence
        rng.shuffle(shuffled)  # any order: commutativity
        cuts = sorted(rng.sample(range(len(shuffled) + 1), min(3, len(shuffled) + 1)))
        batches = [shuffled[i:j] for i, j in zip([0, *cuts], [*cuts, len(shuffled)], strict=False)]
        got = _views(make, nodes, batches)  # any grouping: associativity
        assert got == expected, f"{state_type}: views differ by order or grouping: {got} != {expected}"

    laws()
