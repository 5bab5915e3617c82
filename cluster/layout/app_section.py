"""Reading the layout's `app:` section (`cluster.layout.app`), every problem with its line and field.

What can be checked without running users' code is checked here: the shape of each entry, `module:Class`
spellings, actor names (they become addresses: `send(node, actor, ...)`), a name used twice on one node,
`args` that is not a map, roles or node names that do not exist, and the limits. Whether a class imports,
and whether a provider's state type clashes with a built-in one, needs the import: `actors.app.loading`
does it and reports in the same form.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from yaml.nodes import Node, SequenceNode

from cluster.layout.app import AppActorSpec, AppSpec, ClassRef, Supervision
from cluster.layout.frozen import FrozenMap
from cluster.layout.located_yaml import Entry, LocatedYaml, describe, line_of, suggest
from cluster.layout.model import ROLES

__all__ = ["read_app"]

_APP_KEYS = ("path", "actors", "providers", "max_message_size", "queue_limit", "send_buffer", "supervision")
_ACTOR_KEYS = ("name", "class", "args")
_SUPERVISION_KEYS = ("max_restarts", "within", "backoff_min", "backoff_max")
_ACTOR_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_CLASS_REF = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_.]*")


def read_app(
    reader: LocatedYaml, entry: Entry | None, nodes: Iterable[tuple[str, str | None]], base: Path
) -> AppSpec:
    """The section as an `AppSpec` (the empty one when absent); problems go to `reader`. `nodes` are the
    layout's (name, role) pairs, for the keys of `actors`."""
    section = reader.optional_mapping(entry, "app", "a mapping with actors, providers, path")
    if not section:
        return AppSpec()
    reader.reject_unknown(section, "app", _APP_KEYS)
    placed = list(nodes)
    path = _read_path(reader, section.get("path"), base)
    actors = _read_actors(reader, section.get("actors"), placed)
    providers = _read_providers(reader, section.get("providers"))
    max_message = _read_limit(reader, section.get("max_message_size"), "app.max_message_size", 1024)
    queue_limit = _read_limit(reader, section.get("queue_limit"), "app.queue_limit", 1)
    send_buffer = _read_limit(reader, section.get("send_buffer"), "app.send_buffer", 1024)
    supervision = _read_supervision(reader, section.get("supervision"))
    return AppSpec(
        path=path,
        actors=FrozenMap(actors),
        providers=providers,
        max_message_size=max_message or AppSpec.max_message_size,
        queue_limit=queue_limit or AppSpec.queue_limit,
        send_buffer=send_buffer or AppSpec.send_buffer,
        supervision=supervision,
    )


def _sequence(reader: LocatedYaml, entry: Entry, field: str, what: str) -> list[Node] | None:
    key, value = entry
    if not isinstance(value, SequenceNode):
        reader.report(key, field, f"must be a list of {what}, got {describe(value)}")
        return None
    return list(value.value)


def _read_path(reader: LocatedYaml, entry: Entry | None, base: Path) -> tuple[str, ...]:
    if entry is None:
        return ()
    items = _sequence(reader, entry, "app.path", "folders")
    roots: list[str] = []
    for item in items or ():
        folder = reader.string(item, "app.path")
        if folder is None:
            continue
        root = (base / folder).resolve()
        if not root.is_dir():
            reader.report(item, "app.path", f"import root {folder!r} is not a folder ({root})")
            continue
        roots.append(os.fspath(root))
    return tuple(roots)


def _class_ref(reader: LocatedYaml, node: Node, field: str) -> ClassRef | None:
    spec = reader.string(node, field)
    if spec is None:
        return None
    if not _CLASS_REF.fullmatch(spec):
        reader.report(node, field, f"{spec!r} is not 'module:Class' (for example 'wordcount:Counter')")
        return None
    return ClassRef(spec, line_of(node), field)


def _read_actors(
    reader: LocatedYaml, entry: Entry | None, nodes: list[tuple[str, str | None]]
) -> dict[str, tuple[AppActorSpec, ...]]:
    section = reader.optional_mapping(
        entry, "app.actors", "a mapping of role or node name to a list of actors"
    )
    targets = {*ROLES, *(name for name, _ in nodes)}
    actors: dict[str, tuple[AppActorSpec, ...]] = {}
    declared: dict[str, list[tuple[AppActorSpec, Node]]] = {}
    for key, (key_node, _value) in section.items():
        field = f"app.actors.{key}"
        if key not in targets:
            reader.report(key_node, field, f"{key!r} is neither a role nor a node{suggest(key, targets)}")
            continue
        items = _sequence(reader, section[key], field, "actors ({name: ..., class: ...})")
        specs: list[AppActorSpec] = []
        for index, item in enumerate(items or ()):
            spec = _read_actor(reader, item, f"{field}[{index}]", key_node)
            if spec is not None:
                specs.append(spec)
                declared.setdefault(key, []).append((spec, item))
        actors[key] = tuple(specs)
    _check_unique_per_node(reader, declared, nodes)
    return actors


def _read_actor(reader: LocatedYaml, item: Node, field: str, blame: Node) -> AppActorSpec | None:
    entries = reader.mapping(item, field, item, "a mapping with name and class")
    if entries is None:
        return None
    reader.reject_unknown(entries, field, _ACTOR_KEYS)
    name_node, name = reader.required_value(entries, "name", field, item, reader.string)
    cls_entry = reader.required(entries, "class", field, item)
    cls = _class_ref(reader, cls_entry[1], f"{field}.class") if cls_entry is not None else None
    args: Mapping[str, Any] = {}
    if "args" in entries:
        args_node = entries["args"][1]
        value = reader.construct(args_node, f"{field}.args")
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            reader.report(
                args_node,
                f"{field}.args",
                f"args must be a map of names to values, got {describe(args_node)}",
            )
            return None
        args = value
    if name is None or cls is None:
        return None
    if not _ACTOR_NAME.fullmatch(name):
        reader.report(name_node, f"{field}.name", f"actor name {name!r} must match {_ACTOR_NAME.pattern}")
        return None
    return AppActorSpec(name, cls, FrozenMap(dict(args)))


def _check_unique_per_node(
    reader: LocatedYaml,
    declared: Mapping[str, list[tuple[AppActorSpec, Node]]],
    nodes: list[tuple[str, str | None]],
) -> None:
    """An actor's address is (node, name), so a name may be used once per node, across its role's list and
    its own. Each clash is reported once, at the later declaration."""
    reported: set[int] = set()
    for name, role in nodes:
        seen: dict[str, Node] = {}
        keys = [role] if role is not None else []
        if name != role:
            keys.append(name)
        for key in keys:
            for spec, item in declared.get(key, ()):
                first = seen.get(spec.name)
                if first is None:
                    seen[spec.name] = item
                elif id(item) not in reported:
                    reported.add(id(item))
                    message = (
                        f"actor name {spec.name!r} is used twice on node {name} "
                        f"(first at line {line_of(first)})"
                    )
                    reader.report(item, f"app.actors.{key}", message)


def _read_providers(reader: LocatedYaml, entry: Entry | None) -> tuple[ClassRef, ...]:
    if entry is None:
        return ()
    refs: dict[str, ClassRef] = {}
    for index, item in enumerate(_sequence(reader, entry, "app.providers", "'module:Class' names") or ()):
        ref = _class_ref(reader, item, f"app.providers[{index}]")
        if ref is None:
            continue
        if ref.spec in refs:
            reader.report(
                item,
                ref.field,
                f"provider {ref.spec!r} is listed twice (first at line {refs[ref.spec].line})",
            )
            continue
        refs[ref.spec] = ref
    return tuple(refs.values())


def _read_limit(reader: LocatedYaml, entry: Entry | None, field: str, minimum: int) -> int | None:
    if entry is None:
        return None
    value = reader.integer(entry[1], field)
    if value is not None and value < minimum:
        reader.report(entry[1], field, f"must be at least {minimum}, got {value}")
        return None
    return value


def _read_supervision(reader: LocatedYaml, entry: Entry | None) -> Supervision:
    section = reader.optional_mapping(
        entry, "app.supervision", "a mapping of " + ", ".join(_SUPERVISION_KEYS)
    )
    reader.reject_unknown(section, "app.supervision", _SUPERVISION_KEYS)
    values: dict[str, Any] = {}
    for key in _SUPERVISION_KEYS:
        if key not in section:
            continue
        node = section[key][1]
        value = reader.construct(node, f"app.supervision.{key}")
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if key == "max_restarts" and not (
            isinstance(value, int) and not isinstance(value, bool) and value >= 0
        ):
            reader.report(
                node, f"app.supervision.{key}", f"must be a whole number >= 0, got {describe(node)}"
            )
        elif key != "max_restarts" and not (is_number and value > 0):
            reader.report(
                node, f"app.supervision.{key}", f"must be a number of seconds > 0, got {describe(node)}"
            )
        else:
            values[key] = value
    supervision = Supervision(**values)
    if supervision.backoff_min > supervision.backoff_max and "backoff_min" in section:
        reader.report(section["backoff_min"][1], "app.supervision.backoff_min", "must not exceed backoff_max")
        return Supervision()
    return supervision
