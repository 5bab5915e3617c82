"""The wire schema engine: frozen dataclasses whose field annotations are checked against plain data.

A class registered with `wire(tag)` (a message) or `record` (a value nested inside messages) gets a schema
compiled from its annotations. Its plain form (`to_plain`) is a map holding the fields by name, and for a
message also its tag under "t"; the codec packs that with msgpack. `from_plain` is the only way back, and it
trusts nothing: a field cannot be added without also being validated. Anything that does not match raises
`CodecError` with the path of the offending field, because the caller's only job is to count the drop and
log why.

This module knows no protocol: which messages exist, and what their fields mean, is `cluster.wire.messages`.
Schemas are compiled when a class is registered, so an annotation the engine cannot check fails at import,
not when a node first sends that message; compiling them all costs well under a millisecond.

The annotations must be real objects, not strings (no `from __future__ import annotations` in a module that
declares messages): the compiler recognises `Plain` and `PlainMap` by identity and reads `IntRange` and
`TextLimit` from `Annotated` metadata.
"""

import math
import string
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields, is_dataclass
from types import MappingProxyType, UnionType
from typing import Annotated, Any, Protocol, TypeAlias, TypeVar, Union, get_args, get_origin

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MAX_PLAIN_DEPTH",
    "MAX_TEXT_BYTES",
    "MESSAGE_TYPES",
    "CodecError",
    "IntRange",
    "Plain",
    "PlainMap",
    "TextLimit",
    "from_plain",
    "plain_depth",
    "record",
    "record_from_plain",
    "tag_of",
    "to_plain",
    "wire",
]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_TEXT_BYTES = 64 * 1024
"""Longest string (UTF-8 bytes) anywhere in a message; larger blobs belong in `bytes`."""
MAX_PLAIN_DEPTH = 16
"""How deeply containers may nest inside a Plain value; bounds the recursion a peer can make us do."""


class CodecError(ValueError):
    """A message that cannot be sent or was not understood; receivers count it and drop the message."""


# --- field constraints and the types the engine knows by identity --------------------------------------


@dataclass(frozen=True, slots=True)
class IntRange:
    """Annotated metadata: the inclusive range an int field accepts."""

    lo: int
    hi: int


@dataclass(frozen=True, slots=True)
class TextLimit:
    """Annotated metadata: a tighter length for a str field, and characters it must not contain."""

    max_chars: int
    forbidden: str = ""


Plain: TypeAlias = (
    bool | int | float | str | bytes | list["Plain"] | tuple["Plain", ...] | dict[str, "Plain"] | None
)
"""Any msgpack-representable value. Sequences decode as lists, so a tuple comes back as a list."""
PlainMap: TypeAlias = dict[str, Plain]


# --- how each annotation is checked (load) and flattened (dump) ----------------------------------------


class _Kind(Protocol):
    """`load` says where and why a value is wrong; `check` only whether it is. The two accept exactly the
    same values: `check` is what every message goes through, and `load` runs only once `check` has refused
    one, to name the offending field (a valid message pays for no path strings, an invalid one twice)."""

    def load(self, value: Any, path: str) -> Any: ...

    def check(self, value: Any) -> Any: ...

    def dump(self, value: Any) -> Any: ...


class _Invalid(Exception):
    """Raised by `check`: the value breaks the schema, and `load` will say how. A new one each time: a
    shared instance would carry every earlier raise's traceback, and with it the frames and data of every
    message ever refused."""


def _type_name(value: object) -> str:
    return "None" if value is None else type(value).__name__


def _fail(path: str, reason: str) -> CodecError:
    return CodecError(f"{path}: {reason}")


def _expected(path: str, wanted: str, value: object) -> CodecError:
    return _fail(path, f"expected {wanted}, got {_type_name(value)}")


def _short(text: object) -> str:
    """Field names and tags come from the peer: keep them short and printable in error messages."""
    shown = text if type(text) is str and text.isidentifier() else repr(text)
    return shown if len(shown) <= 40 else shown[:40] + "..."


def _check_int(value: Any, path: str, lo: int = INT64_MIN, hi: int = INT64_MAX) -> int:
    # Exact type: bool is an int subclass but never a valid count.
    if type(value) is not int:
        raise _expected(path, "int", value)
    if not lo <= value <= hi:
        if (lo, hi) == (INT64_MIN, INT64_MAX):
            raise _fail(path, "integer out of signed 64-bit range")
        raise _fail(path, f"expected {lo}..{hi}, got {value}")
    return value


def _check_str(value: Any, path: str, max_chars: int = MAX_TEXT_BYTES, forbidden: str = "") -> str:
    if type(value) is not str:
        raise _expected(path, "str", value)
    if len(value) > max_chars:
        raise _fail(path, f"longer than {max_chars} characters")
    for char in forbidden:
        if char in value:
            raise _fail(path, f"must not contain {char!r}")
    if value.isascii():  # one byte a character: no need to encode (most names and keys)
        return value
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise _fail(path, "not valid UTF-8") from None
    if size > MAX_TEXT_BYTES:
        raise _fail(path, f"longer than {MAX_TEXT_BYTES} bytes")
    return value


def _str_ok(value: Any, max_chars: int = MAX_TEXT_BYTES, forbidden: str = "") -> bool:
    """`_check_str` without the reasons."""
    if type(value) is not str or len(value) > max_chars:
        return False
    for char in forbidden:
        if char in value:
            return False
    if value.isascii():
        return True
    try:
        return len(value.encode("utf-8")) <= MAX_TEXT_BYTES
    except UnicodeEncodeError:
        return False


@dataclass(frozen=True, slots=True)
class _Int:
    lo: int = INT64_MIN
    hi: int = INT64_MAX

    def load(self, value: Any, path: str) -> int:
        return _check_int(value, path, self.lo, self.hi)

    def check(self, value: Any) -> int:
        if type(value) is int and self.lo <= value <= self.hi:
            return value
        raise _Invalid

    def dump(self, value: Any) -> Any:
        return value


@dataclass(frozen=True, slots=True)
class _Str:
    limit: TextLimit = TextLimit(MAX_TEXT_BYTES)

    def load(self, value: Any, path: str) -> str:
        return _check_str(value, path, self.limit.max_chars, self.limit.forbidden)

    def check(self, value: Any) -> str:
        if _str_ok(value, self.limit.max_chars, self.limit.forbidden):
            return value  # type: ignore[no-any-return]
        raise _Invalid

    def dump(self, value: Any) -> Any:
        return value


@dataclass(frozen=True, slots=True)
class _Float:
    """A finite number; an int is taken as the float it means (JSON and msgpack write 2.0 as 2)."""

    def load(self, value: Any, path: str) -> float:
        if type(value) not in (int, float) or not math.isfinite(value):
            raise _expected(path, "finite number", value)
        return float(value)

    def check(self, value: Any) -> float:
        if type(value) in (int, float) and math.isfinite(value):
            return float(value)
        raise _Invalid

    def dump(self, value: Any) -> Any:
        return value


@dataclass(frozen=True, slots=True)
class _Exact:
    """A value of exactly this type: bool (never an int), or bytes (msgpack bin, e.g. the already-encoded
    parts of a compound datagram, whose size the codec bounds with `max_bin_len`)."""

    kind: type

    def load(self, value: Any, path: str) -> Any:
        if type(value) is not self.kind:
            raise _expected(path, self.kind.__name__, value)
        return value

    def check(self, value: Any) -> Any:
        if type(value) is self.kind:
            return value
        raise _Invalid

    def dump(self, value: Any) -> Any:
        return value


@dataclass(frozen=True, slots=True)
class _TupleOf:
    item: _Kind

    def load(self, value: Any, path: str) -> tuple[Any, ...]:
        if type(value) not in (list, tuple):
            raise _expected(path, "array", value)
        return tuple(self.item.load(v, f"{path}[{i}]") for i, v in enumerate(value))

    def check(self, value: Any) -> tuple[Any, ...]:
        if type(value) not in (list, tuple):
            raise _Invalid
        item = self.item.check
        return tuple([item(v) for v in value])

    def dump(self, value: Any) -> Any:
        # Dumping never judges: whatever is wrong is reported by load, with its path.
        return [self.item.dump(v) for v in value] if type(value) in (list, tuple) else value


@dataclass(frozen=True, slots=True)
class _TupleFixed:
    items: tuple[_Kind, ...]

    def load(self, value: Any, path: str) -> tuple[Any, ...]:
        if type(value) not in (list, tuple):
            raise _expected(path, "array", value)
        if len(value) != len(self.items):
            raise _fail(path, f"expected {len(self.items)} items, got {len(value)}")
        pairs = zip(self.items, value, strict=True)
        return tuple(kind.load(v, f"{path}[{i}]") for i, (kind, v) in enumerate(pairs))

    def check(self, value: Any) -> tuple[Any, ...]:
        if type(value) not in (list, tuple) or len(value) != len(self.items):
            raise _Invalid
        return tuple([kind.check(v) for kind, v in zip(self.items, value, strict=True)])

    def dump(self, value: Any) -> Any:
        if type(value) not in (list, tuple) or len(value) != len(self.items):
            return value
        return [kind.dump(v) for kind, v in zip(self.items, value, strict=True)]


@dataclass(frozen=True, slots=True)
class _Record:
    cls: type

    def load(self, value: Any, path: str) -> Any:
        if type(value) is not dict:
            raise _expected(path, "map", value)
        return _explain_fields(self.cls, value, path)

    def check(self, value: Any) -> Any:
        if type(value) is not dict:
            raise _Invalid
        return _check_fields(self.cls, value)

    def dump(self, value: Any) -> Any:
        return _dump_fields(value) if type(value) is self.cls else value


@dataclass(frozen=True, slots=True)
class _MapOf:
    """A map with str keys and values of one kind (`dict[str, X]`): a table keyed by name."""

    item: _Kind

    def load(self, value: Any, path: str) -> dict[str, Any]:
        if type(value) is not dict:
            raise _expected(path, "map", value)
        out: dict[str, Any] = {}
        for key, item in value.items():
            where = f"{path}[{_short(key)}]"
            out[_check_str(key, f"{where} key")] = self.item.load(item, where)
        return out

    def check(self, value: Any) -> dict[str, Any]:
        if type(value) is not dict:
            raise _Invalid
        item = self.item.check
        out: dict[str, Any] = {}
        for key, v in value.items():
            if not _str_ok(key):
                raise _Invalid
            out[key] = item(v)
        return out

    def dump(self, value: Any) -> Any:
        return {k: self.item.dump(v) for k, v in value.items()} if type(value) is dict else value


@dataclass(frozen=True, slots=True)
class _Optional:
    """`X | None`: absent or null means None."""

    kind: _Kind

    def load(self, value: Any, path: str) -> Any:
        return None if value is None else self.kind.load(value, path)

    def check(self, value: Any) -> Any:
        return None if value is None else self.kind.check(value)

    def dump(self, value: Any) -> Any:
        return None if value is None else self.kind.dump(value)


def _load_plain(value: Any, path: str, depth: int) -> Plain:
    kind = type(value)
    if value is None or kind in (bool, float, bytes):
        return value  # type: ignore[no-any-return]
    if kind is int:
        return _check_int(value, path)
    if kind is str:
        return _check_str(value, path)
    if kind not in (list, tuple, dict):
        raise _expected(path, "plain value", value)
    if depth >= MAX_PLAIN_DEPTH:
        raise _fail(path, f"nested deeper than {MAX_PLAIN_DEPTH}")
    if kind is dict:
        return _load_plain_map(value, path, depth + 1)
    return [_load_plain(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]


def _load_plain_map(value: dict[Any, Any], path: str, depth: int) -> dict[str, Plain]:
    out: dict[str, Plain] = {}
    for key, item in value.items():
        where = f"{path}[{_short(key)}]"
        out[_check_str(key, f"{where} key")] = _load_plain(item, where, depth)
    return out


def plain_depth(value: Any, stop: int) -> int:
    """How many containers nest in `value` (0 for a scalar), counted no further than `stop`: a value made
    in a process (not yet checked against `MAX_PLAIN_DEPTH`) may nest without bound, or be cyclic."""
    if type(value) not in (list, tuple, dict):
        return 0
    if stop <= 1:
        return 1
    items = value.values() if type(value) is dict else value
    return 1 + max((plain_depth(item, stop - 1) for item in items), default=0)


def _check_plain(value: Any, depth: int) -> Plain:
    """`_load_plain` without the reasons."""
    kind = type(value)
    if value is None or kind in (bool, float, bytes):
        return value  # type: ignore[no-any-return]
    if kind is int:
        if INT64_MIN <= value <= INT64_MAX:
            return value  # type: ignore[no-any-return]
        raise _Invalid
    if kind is str:
        if _str_ok(value):
            return value  # type: ignore[no-any-return]
        raise _Invalid
    if kind not in (list, tuple, dict) or depth >= MAX_PLAIN_DEPTH:
        raise _Invalid
    if kind is dict:
        return _check_plain_map(value, depth + 1)
    return [_check_plain(v, depth + 1) for v in value]


def _check_plain_map(value: dict[Any, Any], depth: int) -> dict[str, Plain]:
    out: dict[str, Plain] = {}
    for key, item in value.items():
        if not _str_ok(key):
            raise _Invalid
        out[key] = _check_plain(item, depth)
    return out


def _dump_plain(value: Any, depth: int) -> Any:
    # Past the depth limit the value is left as it is: load rejects it, and a cyclic value cannot loop here.
    if depth > MAX_PLAIN_DEPTH:
        return value
    kind = type(value)
    if kind in (list, tuple):
        return [_dump_plain(v, depth + 1) for v in value]
    if kind is dict:
        return {k: _dump_plain(v, depth + 1) for k, v in value.items()}
    return value


class _PlainKind:
    def load(self, value: Any, path: str) -> Plain:
        return _load_plain(value, path, 0)

    def check(self, value: Any) -> Plain:
        return _check_plain(value, 0)

    def dump(self, value: Any) -> Any:
        return _dump_plain(value, 0)


class _PlainMapKind:
    def load(self, value: Any, path: str) -> PlainMap:
        if type(value) is not dict:
            raise _expected(path, "map", value)
        return _load_plain_map(value, path, 1)

    def check(self, value: Any) -> PlainMap:
        if type(value) is not dict:
            raise _Invalid
        return _check_plain_map(value, 1)

    def dump(self, value: Any) -> Any:
        return _dump_plain(value, 0)


def _compile(hint: Any, where: str) -> _Kind:
    """One field annotation as its checker; an unknown annotation is a bug, so it fails at import."""
    if hint is Plain:
        return _PlainKind()
    if hint is PlainMap:
        return _PlainMapKind()
    if hint is int:
        return _Int()
    if hint is str:
        return _Str()
    if hint is bool:
        return _Exact(bool)
    if hint is float:
        return _Float()
    if hint is bytes:
        return _Exact(bytes)
    if hint in _SCHEMAS:
        return _Record(hint)
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        base, meta = args[0], args[1:]
        for limit in meta:
            if base is int and isinstance(limit, IntRange):
                return _Int(limit.lo, limit.hi)
            if base is str and isinstance(limit, TextLimit):
                return _Str(limit)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _TupleOf(_compile(args[0], where))
    if origin is tuple and args and Ellipsis not in args:
        return _TupleFixed(tuple(_compile(arg, where) for arg in args))
    if origin is dict and len(args) == 2 and args[0] is str:
        return _MapOf(_compile(args[1], where))
    if origin in (Union, UnionType) and len(args) == 2 and type(None) in args:
        (present,) = (arg for arg in args if arg is not type(None))
        return _Optional(_compile(present, where))
    raise TypeError(f"{where}: no wire schema for annotation {hint!r}")


# --- registry ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    kind: _Kind
    required: bool


_SCHEMAS: dict[type, tuple[_Field, ...]] = {}
_CHECKS: dict[type, tuple[tuple[str, Callable[[Any], Any], bool], ...]] = {}
_MESSAGES: dict[str, type] = {}
MESSAGE_TYPES: Mapping[str, type] = MappingProxyType(_MESSAGES)
"""Tag -> message class, for every registered wire message."""

_T = TypeVar("_T")
_TAG_KEY = "t"
_TAG_CHARS = frozenset(string.ascii_lowercase + "-")


def _register_schema(cls: type) -> None:
    if not is_dataclass(cls):
        raise TypeError(f"{cls.__name__} must be a dataclass")
    schema = []
    for f in fields(cls):
        if f.name == _TAG_KEY:
            raise TypeError(f"{cls.__name__}: field name {_TAG_KEY!r} is reserved for the tag")
        required = f.default is MISSING and f.default_factory is MISSING
        schema.append(_Field(f.name, _compile(f.type, f"{cls.__name__}.{f.name}"), required))
    _SCHEMAS[cls] = tuple(schema)
    _CHECKS[cls] = tuple((f.name, f.kind.check, f.required) for f in schema)


def record(cls: type[_T]) -> type[_T]:
    """Register a record: nested inside messages as a plain map, so it needs no tag of its own.

    Apply it above @dataclass, and before any message whose fields use the record is registered."""
    _register_schema(cls)
    return cls


def wire(tag: str) -> Callable[[type[_T]], type[_T]]:
    """Register a message class under `tag`, the name it travels by; apply it above @dataclass."""
    if not tag or tag.strip("-") != tag or not set(tag) <= _TAG_CHARS:
        raise ValueError(f"wire tag must be lowercase letters and inner '-', got {tag!r}")

    def register(cls: type[_T]) -> type[_T]:
        if tag in _MESSAGES:
            raise ValueError(f"wire tag {tag!r} already used by {_MESSAGES[tag].__name__}")
        _register_schema(cls)
        cls.TAG = tag  # type: ignore[attr-defined]
        _MESSAGES[tag] = cls
        return cls

    return register


def tag_of(message: object) -> str:
    """The wire tag of a message instance or class."""
    cls = message if isinstance(message, type) else type(message)
    tag = getattr(cls, "TAG", None)
    if tag is None or _MESSAGES.get(tag) is not cls:
        raise TypeError(f"{cls.__name__} is not a wire message")
    return str(tag)


def _load_fields(cls: type[_T], data: dict[Any, Any], path: str, skip: tuple[str, ...] = ()) -> _T:
    """The record of `cls` in `data`, or CodecError naming the first field that breaks its schema.

    `skip` names keys of `data` that are not fields (a message's tag), already checked by the caller."""
    try:
        return _check_fields(cls, data, len(skip))
    except _Invalid:
        pass
    # `check` and `load` accept the same values, so this raises; should they ever disagree, the
    # explaining walk is the reference.
    return _explain_fields(cls, data, path, skip)


def _check_fields(cls: type[_T], data: dict[Any, Any], skipped: int = 0) -> _T:
    """`_explain_fields` without the reasons; `skipped` counts the keys of `data` that are not fields."""
    values: dict[str, Any] = {}
    for name, check, required in _CHECKS[cls]:
        if name in data:
            values[name] = check(data[name])
        elif required:
            raise _Invalid
    if len(data) != len(values) + skipped:
        raise _Invalid
    return cls(**values)


def _explain_fields(cls: type[_T], data: dict[Any, Any], path: str, skip: tuple[str, ...] = ()) -> _T:
    schema = _SCHEMAS[cls]
    values: dict[str, Any] = {}
    for f in schema:
        if f.name in data:
            values[f.name] = f.kind.load(data[f.name], f"{path}.{f.name}")
        elif f.required:
            raise _fail(f"{path}.{f.name}", "missing")
    if len(data) != len(values) + len(skip):
        known = {f.name for f in schema}.union(skip)
        unknown = next(k for k in data if k not in known)
        raise _fail(f"{path}.{_short(unknown)}", "unknown field")
    return cls(**values)


def _dump_fields(obj: object) -> dict[str, Any]:
    return {f.name: f.kind.dump(getattr(obj, f.name)) for f in _SCHEMAS[type(obj)]}


# --- plain form ----------------------------------------------------------------------------------------


def to_plain(obj: object) -> dict[str, Any]:
    """A message as a plain map (tag under "t"), or a record as the map of its fields.

    It does not validate: `cluster.wire.codec.encode` passes the result through `from_plain`, which reports
    any bad field."""
    cls = type(obj)
    if cls not in _SCHEMAS:
        raise TypeError(f"{cls.__name__} is not a wire message or record")
    plain = _dump_fields(obj)
    tag = getattr(cls, "TAG", None)
    return plain if tag is None else {_TAG_KEY: tag, **plain}


def record_from_plain(cls: type[_T], data: object, path: str = "") -> _T:
    """The record `data` describes, checked against the schema of `cls` (registered with `record`);
    `CodecError` names the offending field under `path`."""
    if cls not in _SCHEMAS:
        raise TypeError(f"{cls.__name__} is not a registered record")
    if type(data) is not dict:
        raise _expected(path or cls.__name__, "map", data)
    return _load_fields(cls, data, path or cls.__name__)


def from_plain(data: object) -> Any:
    """The message a plain map describes, checked against its schema; anything else is a `CodecError`.

    The result is an instance of a class registered with `wire`; the protocol module names their union."""
    if type(data) is not dict:
        raise _expected("message", "map", data)
    if _TAG_KEY not in data:
        raise _fail("message", f"missing tag {_TAG_KEY!r}")
    tag = data[_TAG_KEY]
    if type(tag) is not str:
        raise _expected(f"message.{_TAG_KEY}", "str", tag)
    cls = _MESSAGES.get(tag)
    if cls is None:
        raise CodecError(f"unknown message tag {tag[:40]!r}")
    return _load_fields(cls, data, tag, skip=(_TAG_KEY,))
