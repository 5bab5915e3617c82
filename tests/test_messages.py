"""Wire messages: the registry, plain-form round trips, the schema check on the way in, and the helpers.

The Hypothesis strategies here are derived from the dataclasses' own annotations, so a field added to a
message is exercised without touching the tests; test_codec.py imports them.
"""

import dataclasses
import random
import types
from typing import Annotated, Any, get_args, get_origin

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.wire.messages import (
    INT64_MAX,
    INT64_MIN,
    MAX_PLAIN_DEPTH,
    MESSAGE_TYPES,
    PROTOCOL_VERSION,
    Alive,
    AppMessage,
    AppPublish,
    AppUndeliverable,
    ClusterStarted,
    CodecError,
    Compound,
    ControlReply,
    ControlRequest,
    Dead,
    GossipMessage,
    Hello,
    HelloRefused,
    IntRange,
    Join,
    Leave,
    MemberRecord,
    MemberSync,
    Nack,
    NodeConnectivityLost,
    NodeFullyConnected,
    NodeInfo,
    OwnerDelta,
    Ping,
    PingAck,
    PingReq,
    Plain,
    PlainMap,
    Pull,
    Push,
    PushPull,
    Suspect,
    SyncableState,
    TextLimit,
    WireMessage,
    digest_from_dict,
    digest_to_dict,
    from_plain,
    generate_node_id,
    newer,
    recency_key,
    split_state_key,
    state_key,
    tag_of,
    to_plain,
    wire,
)

# --- strategies derived from the annotations ----------------------------------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(INT64_MIN, INT64_MAX)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.binary(max_size=8)
)
plain_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
"""Plain values as they come back from the wire: lists, never tuples (tuples decode as lists)."""


def _text(limit: TextLimit | None = None) -> st.SearchStrategy[str]:
    forbidden = limit.forbidden if limit else ""
    alphabet = st.characters(blacklist_categories=("Cs",), blacklist_characters=forbidden)
    return st.text(alphabet, max_size=12)


def strategy_for(hint: Any) -> st.SearchStrategy[Any]:
    """A strategy for any value a field annotated `hint` may hold."""
    if hint is Plain:
        return plain_values
    if hint is PlainMap:
        return st.dictionaries(st.text(max_size=5), plain_values, max_size=3)
    if hint is int:
        return st.integers(INT64_MIN, INT64_MAX)
    if hint is str:
        return _text()
    if hint is bool:
        return st.booleans()
    if hint is bytes:
        return st.binary(max_size=8)
    if dataclasses.is_dataclass(hint):
        return records(hint)
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        (meta,) = args[1:]
        if isinstance(meta, IntRange):
            return st.integers(meta.lo, meta.hi)
        return _text(meta)
    if origin is tuple and args[-1] is Ellipsis:
        return st.lists(strategy_for(args[0]), max_size=3).map(tuple)
    if origin is tuple:
        return st.tuples(*(strategy_for(arg) for arg in args))
    raise AssertionError(f"no strategy for {hint!r}")


def records(cls: type) -> st.SearchStrategy[Any]:
    """Instances of a wire record or message class, every field drawn from its annotation."""
    return st.builds(cls, **{f.name: strategy_for(f.type) for f in dataclasses.fields(cls)})


all_messages = st.one_of([records(cls) for cls in MESSAGE_TYPES.values()])
message_classes = pytest.mark.parametrize("cls", list(MESSAGE_TYPES.values()), ids=list(MESSAGE_TYPES))

# --- the registry --------------------------------------------------------------------------------------

EXPECTED_FIELDS = {
    "ping": (Ping, ["seq", "source", "target"]),
    "ping-ack": (PingAck, ["seq", "source"]),
    "nack": (Nack, ["seq", "source"]),
    "ping-req": (PingReq, ["seq", "source", "target", "intermediary"]),
    "suspect": (Suspect, ["member", "incarnation", "by"]),
    "alive": (Alive, ["member"]),
    "dead": (Dead, ["member", "incarnation", "by"]),
    "join": (Join, ["member"]),
    "leave": (Leave, ["member", "incarnation"]),
    "compound": (Compound, ["parts"]),
    "member-sync": (MemberSync, ["source", "members", "reply"]),
    "push": (Push, ["source", "lamport", "deltas"]),
    "pull": (Pull, ["source", "lamport", "digest", "repair"]),
    "push-pull": (PushPull, ["source", "lamport", "deltas", "digest"]),
    "hello": (
        Hello,
        ["cluster", "name", "node_id", "generation", "protocol_version", "layout_digest", "cluster_started"],
    ),
    "hello-refused": (HelloRefused, ["reason", "detail"]),
    "node-fully-connected": (NodeFullyConnected, ["name", "node_id", "resending"]),
    "node-connectivity-lost": (NodeConnectivityLost, ["name", "node_id", "missing"]),
    "cluster-started": (ClusterStarted, ["manager", "replay"]),
    "control-request": (ControlRequest, ["command", "args"]),
    "control-reply": (ControlReply, ["ok", "body", "error"]),
    "app": (AppMessage, ["to_actor", "from_actor", "payload", "request", "reply"]),
    "app-publish": (AppPublish, ["topic", "from_actor", "payload"]),
    "app-undeliverable": (AppUndeliverable, ["to_actor", "from_actor", "payload", "reason", "request"]),
}


def _field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def test_registry_holds_exactly_the_protocol() -> None:
    assert {tag: cls for tag, (cls, _) in EXPECTED_FIELDS.items()} == dict(MESSAGE_TYPES)
    for tag, (cls, names) in EXPECTED_FIELDS.items():
        assert _field_names(cls) == names
        assert tag == cls.TAG
        assert tag_of(cls) == tag


def test_records_fields() -> None:
    assert _field_names(NodeInfo) == [
        *("node_id", "name", "host", "port", "role", "incarnation", "tags", "generation"),
    ]
    assert _field_names(SyncableState) == [
        *("state_type", "key", "value", "version", "source_node", "generation", "tombstone"),
    ]
    assert NodeInfo("id", "n", "h", 1, "worker").incarnation == 0
    assert NodeInfo("id", "n", "h", 1, "worker").tags == ()
    assert SyncableState("t", "k", 1, 1, "n", 1).tombstone is False
    with pytest.raises(TypeError):
        tag_of(NodeInfo)


def test_unions() -> None:
    assert set(get_args(WireMessage)) == set(MESSAGE_TYPES.values())
    gossip = {Ping, PingAck, Nack, PingReq, Suspect, Alive, Dead, Join, Leave, Push, Pull, PushPull}
    assert set(get_args(GossipMessage)) == gossip
    assert PROTOCOL_VERSION == 2


@message_classes
def test_messages_are_frozen_slotted_dataclasses(cls: type) -> None:
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    assert params.frozen
    assert "__slots__" in vars(cls)
    msg = example_message(cls)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(msg, dataclasses.fields(cls)[0].name, None)


def example_message(cls: type) -> Any:
    """A small valid instance of `cls`: every field at a simple value of its type."""
    member = NodeInfo("id-1", "worker-1", "127.0.0.1", 9001, "worker", 2, (("zone", "a"),))
    state = SyncableState("circuit", "k", {"open": True}, 3, "worker-1", 1)
    simple: dict[str, Any] = {
        "member": member if cls in (Alive, Join) else "worker-1",
        "deltas": (OwnerDelta("worker-1", 1, 0, 3, False, 0, (state,)),),
        "digest": (("worker-1", 1, 3),),
        "missing": ("proxy-1",),
        "args": {"x": [1, 2]},
        "body": {},
        "parts": (b"\x81\xa1t\xa4nack",),
        "members": (MemberRecord(member, "suspect"),),
    }
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in simple:
            values[f.name] = simple[f.name]
        elif f.type is bool:
            values[f.name] = True
        elif f.type is bytes:
            values[f.name] = b"\x81\xa1x\x01"
        elif f.type is str or get_args(f.type)[:1] == (str,):
            values[f.name] = f"{f.name}-x"
        else:
            values[f.name] = 7
    return cls(**values)


def test_messages_without_plain_fields_are_hashable() -> None:
    for cls in MESSAGE_TYPES.values():
        msg = example_message(cls)
        if cls in (ControlRequest, ControlReply, Push, PushPull):
            continue  # they hold dicts (Plain values): equality yes, hashing no
        assert hash(msg) == hash(from_plain(to_plain(msg)))


# --- plain form ----------------------------------------------------------------------------------------


@message_classes
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_plain_round_trip(cls: type, data: st.DataObject) -> None:
    msg = data.draw(records(cls))
    assert from_plain(to_plain(msg)) == msg


def test_plain_shape() -> None:
    state = SyncableState("t", "k", ("x", {"y": (1,)}), 2, "a", 1)
    msg = Push("a", 5, (OwnerDelta("a", 1, 0, 2, False, 0, (state,)),))
    assert to_plain(msg) == {
        "t": "push",
        "source": "a",
        "lamport": 5,
        "deltas": [
            {
                "owner": "a",
                "generation": 1,
                "after": 0,
                "through": 2,
                "snapshot": False,
                "floor": 0,
                "states": [
                    {
                        "state_type": "t",
                        "key": "k",
                        "value": ["x", {"y": [1]}],
                        "version": 2,
                        "source_node": "a",
                        "generation": 1,
                        "tombstone": False,
                    }
                ],
            }
        ],
    }
    assert to_plain(NodeInfo("i", "n", "h", 1, "r", tags=(("a", "b"),)))["tags"] == [["a", "b"]]


def test_tuples_in_plain_values_come_back_as_lists() -> None:
    sent = ControlRequest("status", {"nodes": ("a", ("b", "c"))})
    assert from_plain(to_plain(sent)) == ControlRequest("status", {"nodes": ["a", ["b", "c"]]})


def test_sequence_fields_come_back_as_tuples() -> None:
    plain = to_plain(example_message(NodeConnectivityLost))
    assert isinstance(plain["missing"], list)
    assert from_plain(plain).missing == ("proxy-1",)


def test_fields_with_defaults_may_be_omitted() -> None:
    plain = to_plain(Alive(NodeInfo("i", "n", "h", 1, "r", 4, (("a", "b"),))))
    del plain["member"]["incarnation"], plain["member"]["tags"]
    assert from_plain(plain) == Alive(NodeInfo("i", "n", "h", 1, "r"))
    assert from_plain({"t": "control-reply", "ok": True, "body": {}}) == ControlReply(True, {})


def test_to_plain_refuses_other_objects() -> None:
    with pytest.raises(TypeError):
        to_plain({"t": "ping"})


# --- schema violations ---------------------------------------------------------------------------------

DROP = object()


def _plain(cls: type, **changes: Any) -> dict[str, Any]:
    plain = to_plain(example_message(cls))
    for name, value in changes.items():
        if value is DROP:
            del plain[name]
        else:
            plain[name] = value
    return plain


def _member(**changes: Any) -> dict[str, Any]:
    member = to_plain(example_message(Alive))["member"]
    member.update(changes)
    return {"t": "alive", "member": member}


def _state(**changes: Any) -> dict[str, Any]:
    state = to_plain(example_message(Push))["deltas"][0]["states"][0]
    for name, value in changes.items():
        if value is DROP:
            del state[name]
        else:
            state[name] = value
    return state


def _push(states: Any) -> dict[str, Any]:
    """A plain push whose one delta carries `states`."""
    plain = to_plain(example_message(Push))
    plain["deltas"][0]["states"] = states
    return plain


def _nest(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


COUNT_RANGE = f"0..{INT64_MAX}"
VIOLATIONS = [
    (_plain(Hello, generation="1"), "hello.generation: expected int, got str"),
    (_plain(Hello, generation=True), "hello.generation: expected int, got bool"),
    (_plain(Hello, generation=1.0), "hello.generation: expected int, got float"),
    (_plain(Hello, generation=-1), f"hello.generation: expected {COUNT_RANGE}, got -1"),
    (_plain(Hello, generation=2**63), f"hello.generation: expected {COUNT_RANGE}, got {2**63}"),
    (_plain(Hello, cluster_started=1), "hello.cluster_started: expected bool, got int"),
    (_plain(Hello, name=None), "hello.name: expected str, got None"),
    (_plain(Hello, name=b"worker-1"), "hello.name: expected str, got bytes"),
    (_plain(Hello, name="w" * 256), "hello.name: longer than 255 characters"),
    (_plain(Hello, generation=DROP), "hello.generation: missing"),
    (_plain(Hello, bogus=1), "hello.bogus: unknown field"),
    (_plain(Hello, **{"no such": 1}), "hello.'no such': unknown field"),
    (_plain(Ping, seq=0.5), "ping.seq: expected int, got float"),
    (_plain(HelloRefused, detail="é" * 40_000), "hello-refused.detail: longer than 65536 bytes"),
    (_plain(HelloRefused, detail="x" * 65_537), "hello-refused.detail: longer than 65536 characters"),
    (_plain(HelloRefused, detail="\ud800"), "hello-refused.detail: not valid UTF-8"),
    ([], "message: expected map, got list"),
    (None, "message: expected map, got None"),
    ({"seq": 1}, "message: missing tag 't'"),
    ({"t": 5}, "message.t: expected str, got int"),
    ({"t": "nope"}, "unknown message tag 'nope'"),
    ({"t": "node-info"}, "unknown message tag 'node-info'"),
    (_member(port="9001"), "alive.member.port: expected int, got str"),
    (_member(port=70_000), "alive.member.port: expected 0..65535, got 70000"),
    (_member(extra=1), "alive.member.extra: unknown field"),
    (_member(tags=[["a"]]), "alive.member.tags[0]: expected 2 items, got 1"),
    (_member(tags=[["a", 1]]), "alive.member.tags[0][1]: expected str, got int"),
    ({"t": "alive", "member": []}, "alive.member: expected map, got list"),
    (_push([_state(), _state(version=DROP)]), "push.deltas[0].states[1].version: missing"),
    (_push({}), "push.deltas[0].states: expected array, got dict"),
    (_push([_state(state_type="a/b")]), "push.deltas[0].states[0].state_type: must not contain '/'"),
    (_push([_state(tombstone=None)]), "push.deltas[0].states[0].tombstone: expected bool, got None"),
    (_push([_state(value={1, 2})]), "push.deltas[0].states[0].value: expected plain value, got set"),
    (
        _push([_state(value=2**64 - 1)]),
        "push.deltas[0].states[0].value: integer out of signed 64-bit range",
    ),
    (
        _push([_state(value={b"k": 1})]),
        "push.deltas[0].states[0].value[b'k'] key: expected str, got bytes",
    ),
    (
        _push([_state(value={"a": [_nest(MAX_PLAIN_DEPTH)]})]),
        "push.deltas[0].states[0].value[a][0]" + "[0]" * (MAX_PLAIN_DEPTH - 2) + ": nested deeper than 16",
    ),
    (_plain(Pull, digest=[["a", 1]]), "pull.digest[0]: expected 3 items, got 2"),
    (_plain(Pull, digest=[["a", 1, -3]]), f"pull.digest[0][2]: expected {COUNT_RANGE}, got -3"),
    (_plain(Pull, digest={"a": [1, 2]}), "pull.digest: expected array, got dict"),
    (_plain(NodeConnectivityLost, missing=[1]), "node-connectivity-lost.missing[0]: expected str, got int"),
    (_plain(ControlRequest, args=[]), "control-request.args: expected map, got list"),
    (_plain(ControlRequest, args={1: 2}), "control-request.args[1] key: expected str, got int"),
    (_plain(ControlReply, body={"x": object()}), "control-reply.body[x]: expected plain value, got object"),
]


@pytest.mark.parametrize(("plain", "error"), VIOLATIONS, ids=[error for _, error in VIOLATIONS])
def test_schema_violations(plain: Any, error: str) -> None:
    with pytest.raises(CodecError) as info:
        from_plain(plain)
    assert str(info.value) == error


def test_plain_depth_limit_is_inclusive() -> None:
    state = _state(value=_nest(MAX_PLAIN_DEPTH))
    assert from_plain(_push([state])).deltas[0].states[0].value == _nest(MAX_PLAIN_DEPTH)


def test_codec_error_is_a_value_error() -> None:
    assert issubclass(CodecError, ValueError)


# --- the registry decorator ----------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["", "Ping", "ping_ack", "-ping", "ping-", "pïng", "ping2"])
def test_wire_refuses_malformed_tags(tag: str) -> None:
    with pytest.raises(ValueError):
        wire(tag)


def test_wire_refuses_reused_tag_and_unknown_annotations() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Twice:
        seq: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Odd:
        when: complex

    with pytest.raises(ValueError, match="already used by Ping"):
        wire("ping")(Twice)
    with pytest.raises(TypeError, match=r"Odd\.when"):
        wire("zz-odd")(Odd)
    assert "zz-odd" not in MESSAGE_TYPES
    with pytest.raises(TypeError):
        tag_of(Twice)


# --- newer ---------------------------------------------------------------------------------------------

small_states = st.builds(
    SyncableState,
    state_type=st.sampled_from(["a", "b"]),
    key=st.sampled_from(["k", "l"]),
    value=st.none(),
    version=st.integers(0, 4),
    source_node=st.sampled_from(["x", "y", "z"]),
    generation=st.integers(0, 2),
    tombstone=st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(small_states, small_states, small_states)
def test_newer_is_a_strict_total_order(a: SyncableState, b: SyncableState, c: SyncableState) -> None:
    assert not newer(a, a)
    if recency_key(a) != recency_key(b):
        assert newer(a, b) != newer(b, a)  # exactly one: total and antisymmetric
    else:
        assert not newer(a, b) and not newer(b, a)
    if newer(a, b) and newer(b, c):
        assert newer(a, c)


@settings(max_examples=50, deadline=None)
@given(st.lists(small_states, min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_keeping_the_newer_does_not_depend_on_arrival_order(
    states: list[SyncableState], rnd: random.Random
) -> None:
    def merge(order: list[SyncableState]) -> SyncableState:
        kept = order[0]
        for state in order[1:]:
            if newer(state, kept):
                kept = state
        return kept

    shuffled = states[:]
    rnd.shuffle(shuffled)
    assert recency_key(merge(states)) == recency_key(merge(shuffled))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("x", 1, 2), ("x", 1, 1)),  # same owner, same life: the later version
        (("x", 2, 1), ("x", 1, 9)),  # a restarted owner beats its former life despite a lower version
        (("y", 1, 3), ("x", 1, 3)),  # same life and version: the owner's name settles it
        (("x", 1, 4), ("y", 1, 3)),  # across owners of equal generation, the later version
    ],
)
def test_newer_examples(a: tuple[str, int, int], b: tuple[str, int, int]) -> None:
    def state(owner: str, generation: int, version: int) -> SyncableState:
        return SyncableState("t", "k", None, version, owner, generation)

    assert newer(state(*a), state(*b))
    assert not newer(state(*b), state(*a))


def test_newer_breaks_the_cross_owner_cycle() -> None:
    """The cycle that a version-first cross-owner rule would make is ordered one way."""
    x_new = SyncableState("t", "k", None, 1, "x", 2)
    x_old = SyncableState("t", "k", None, 5, "x", 1)
    y = SyncableState("t", "k", None, 3, "y", 1)
    assert newer(x_new, x_old) and newer(x_old, y) and newer(x_new, y)


# --- other helpers -------------------------------------------------------------------------------------


def test_state_key() -> None:
    assert state_key("circuit", "svc/a") == "circuit/svc/a"
    assert split_state_key("circuit/svc/a") == ("circuit", "svc/a")
    assert state_key("t", "") == "t/"
    with pytest.raises(ValueError):
        state_key("a/b", "c")
    with pytest.raises(ValueError):
        split_state_key("no-separator")


@settings(max_examples=100, deadline=None)
@given(
    st.text().filter(lambda s: "/" not in s), st.text(), st.text().filter(lambda s: "/" not in s), st.text()
)
def test_state_key_is_injective(type_a: str, key_a: str, type_b: str, key_b: str) -> None:
    assert split_state_key(state_key(type_a, key_a)) == (type_a, key_a)
    if (type_a, key_a) != (type_b, key_b):
        assert state_key(type_a, key_a) != state_key(type_b, key_b)


def test_generate_node_id() -> None:
    ids = [generate_node_id(random.Random(7)) for _ in range(2)]
    assert ids[0] == ids[1]
    assert len(ids[0]) == 32
    assert set(ids[0]) <= set("0123456789abcdef")
    rng = random.Random(7)
    assert len({generate_node_id(rng) for _ in range(100)}) == 100
    assert generate_node_id(random.Random(0)) != ids[0]


def test_generate_node_id_pads_small_draws() -> None:
    class Zero(random.Random):
        def getrandbits(self, k: int) -> int:
            return 5

    assert generate_node_id(Zero()) == "0" * 31 + "5"


def test_digest_helpers() -> None:
    digest = digest_from_dict({"b": (1, 4), "a": (2, 0)})
    assert digest == (("a", 2, 0), ("b", 1, 4))
    assert digest_to_dict(digest) == {"a": (2, 0), "b": (1, 4)}
    assert digest_to_dict((("a", 1, 9), ("a", 2, 1), ("a", 1, 3))) == {"a": (2, 1)}
    assert digest_from_dict({}) == ()
    assert isinstance(hash(digest), int)


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.text(max_size=4), st.tuples(st.integers(0, 9), st.integers(0, 9))))
def test_digest_round_trip(mapping: dict[str, tuple[int, int]]) -> None:
    assert digest_to_dict(digest_from_dict(mapping)) == mapping


def test_alias_objects_are_what_the_schema_recognises() -> None:
    # The schema compiler identifies Plain and PlainMap by identity; guard against re-creating them.
    assert isinstance(Plain, types.UnionType)
    assert get_origin(PlainMap) is dict
