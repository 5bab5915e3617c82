"""The control endpoint's rules: what a node answers to each `clusterctl` request.

A node's subsystems publish what they see (`StatusPart`s) and its providers publish their visible values;
this core keeps the latest of both and answers reads from them, because actors never ask each other
(architecture §2): the answer is as fresh as the last change. A write goes on to the provider of its state
type, which answers once the write is stamped. Pure: the actor shell only delivers the answers and the
forwarded writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from cluster.control.protocol import (
    ActorsRequest,
    AppPublishRequest,
    AppRequest,
    AppRequestRequest,
    AppSendRequest,
    ConnectivityStatus,
    ControlProtocolError,
    EntryView,
    FaultsRequest,
    FaultsStatus,
    MembershipStatus,
    ReadinessStatus,
    StateDelRequest,
    StateDigestRequest,
    StateEntries,
    StateGetRequest,
    StateListRequest,
    StateSetManyRequest,
    StateSetRequest,
    StateStatus,
    StatusPart,
    StatusRequest,
    StatusSnapshot,
    failure,
    parse_request,
    success,
)
from cluster.core.faults import FaultPlan, fault_problem
from cluster.wire.messages import ControlReply, ControlRequest, Plain

__all__ = [
    "Answer",
    "AskDigest",
    "ControlCore",
    "ControlEffect",
    "ForwardApp",
    "ForwardWrite",
    "ForwardWrites",
    "NodeIdentity",
    "SetFaults",
    "ViewChange",
]


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    """Who this node is, as every status answer says."""

    node: str
    role: str
    cluster: str
    id: str
    generation: int
    layout_digest: str
    pid: int


@dataclass(frozen=True, slots=True)
class Answer:
    """Answer the request now."""

    reply: ControlReply


@dataclass(frozen=True, slots=True)
class ForwardWrite:
    """Pass a `set` or `del` to the provider of `provider`; it answers the request once it is stamped."""

    provider: str
    op: str
    key: str
    value: Plain = None


@dataclass(frozen=True, slots=True)
class AskDigest:
    """Ask the provider of `provider` for its digest; it answers the request from what it holds."""

    provider: str


@dataclass(frozen=True, slots=True)
class ForwardWrites:
    """Pass many `set`s to the provider of `provider`; the request has been answered already."""

    provider: str
    entries: tuple[tuple[str, Plain], ...]


_F = TypeVar("_F", "ForwardWrite", "AskDigest")


@dataclass(frozen=True, slots=True)
class ForwardApp:
    """An application request: the node's app router answers it."""

    request: AppRequest


@dataclass(frozen=True, slots=True)
class SetFaults:
    """Carry out this plan in the node's transport (it replaces the one in force)."""

    plan: FaultPlan


ControlEffect = Answer | ForwardWrite | ForwardWrites | AskDigest | ForwardApp | SetFaults

ViewChange = tuple[str, Plain, str, int]
"""(key, value, owner, version) of a provider's visible value; value None: the key is gone."""


class ControlCore:
    def __init__(
        self, identity: NodeIdentity, *, dropped: Callable[[], Mapping[str, int]] | None = None
    ) -> None:
        self.identity = identity
        self._dropped = dropped
        self._membership: MembershipStatus | None = None
        self._connectivity: ConnectivityStatus | None = None
        self._readiness: ReadinessStatus | None = None
        self._state: StateStatus | None = None
        self._views: dict[str, dict[str, EntryView]] = {}
        self._providers: frozenset[str] = frozenset()
        self._faults = FaultPlan()
        self._peers: frozenset[str] = frozenset()

    # -- what the node publishes ----------------------------------------------------------------

    def status_changed(self, part: StatusPart) -> None:
        match part:
            case MembershipStatus():
                self._membership = part
            case ConnectivityStatus():
                self._connectivity = part
            case ReadinessStatus():
                self._readiness = part
            case StateStatus():
                self._state = part

    def view_changed(self, provider: str, changes: Iterable[ViewChange]) -> None:
        view = self._views.setdefault(provider, {})
        for key, value, owner, version in changes:
            if value is None:
                view.pop(key, None)
            else:
                view[key] = EntryView(value, owner, version)

    def providers_attached(self, state_types: Iterable[str]) -> None:
        self._providers = frozenset(state_types)

    def peers_known(self, names: Iterable[str]) -> None:
        """The other nodes of the layout: the only names a partition may cut off."""
        self._peers = frozenset(names)

    # -- requests -------------------------------------------------------------------------------

    def request(self, message: ControlRequest) -> list[ControlEffect]:
        try:
            request = parse_request(message)
        except ControlProtocolError as error:
            return [Answer(failure(str(error)))]
        match request:
            case StatusRequest():
                return [Answer(success(self.status()))]
            case StateListRequest(provider):
                return [self._read(provider, None)]
            case StateGetRequest(provider, key):
                return [self._read(provider, key)]
            case StateSetRequest(provider, key, value):
                return [self._known(provider, ForwardWrite(provider, "set", key, value))]
            case StateDelRequest(provider, key):
                return [self._known(provider, ForwardWrite(provider, "del", key))]
            case StateDigestRequest(provider):
                return [self._known(provider, AskDigest(provider))]
            case AppSendRequest() | AppPublishRequest() | AppRequestRequest() | ActorsRequest():
                return [ForwardApp(request)]
            case FaultsRequest(blocked, loss, delay):
                return self._set_faults(blocked, loss, delay)
            case StateSetManyRequest(provider, entries):
                if provider not in self._providers:
                    return [Answer(self._no_provider(provider))]
                return [ForwardWrites(provider, entries)]  # answered once every write was judged
        raise AssertionError(f"unhandled request {request!r}")

    def status(self) -> StatusSnapshot:
        me = self.identity
        return StatusSnapshot(
            node=me.node,
            role=me.role,
            cluster=me.cluster,
            id=me.id,
            generation=me.generation,
            layout_digest=me.layout_digest,
            pid=me.pid,
            membership=self._membership,
            connectivity=self._connectivity,
            readiness=self._readiness,
            state=self._state,
            faults=self._faults_status() if self._faults.active else None,
            dropped=self._drop_counts(),
        )

    def _drop_counts(self) -> dict[str, int] | None:
        """What the node refused or lost, by reason; only the reasons that happened."""
        if self._dropped is None:
            return None
        return {reason: count for reason, count in sorted(self._dropped().items()) if count}

    def _set_faults(
        self, blocked: tuple[str, ...] | None, loss: float | None, delay: float | None
    ) -> list[ControlEffect]:
        problem = fault_problem(loss, delay)
        unknown = sorted(set(blocked or ()) - self._peers)
        if unknown:
            problem = f"cannot cut off {', '.join(map(repr, unknown))}: not another node of this layout"
        if problem is not None:
            return [Answer(failure(problem))]
        wanted = None if blocked is None else frozenset(blocked)
        self._faults = self._faults.changed(blocked=wanted, loss=loss, delay=delay)
        return [SetFaults(self._faults), Answer(success(self._faults_status()))]

    def _faults_status(self) -> FaultsStatus:
        plan = self._faults
        return FaultsStatus(tuple(sorted(plan.blocked)), plan.loss, plan.delay)

    def _read(self, provider: str, key: str | None) -> Answer:
        view = self._views.get(provider)
        if view is None:
            return Answer(self._no_provider(provider))
        shown = {k: entry for k, entry in sorted(view.items()) if key is None or k == key}
        return Answer(success(StateEntries(provider, shown)))

    def _known(self, provider: str, forward: _F) -> _F | Answer:
        """`forward` when this node runs a provider of that state type, else the refusal that says so."""
        return forward if provider in self._providers else Answer(self._no_provider(provider))

    def _no_provider(self, provider: str) -> ControlReply:
        known = ", ".join(sorted(self._views)) or "none"
        return failure(f"no provider {provider!r} (known: {known})")
