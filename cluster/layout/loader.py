"""Reading a layout from YAML: every problem found, each with the file, the line and the dotted field.

A layout is the one document every node of a cluster starts from, so it is validated up front and completely:
a mistake found on the manager after the workers have started costs a whole restart. The reader therefore
collects every problem it can find rather than stopping at the first, and builds a :class:`Layout` only when
there are none.

The document is walked with :mod:`cluster.layout.located_yaml`, which gives every problem its line.

What a valid layout means (roles, the default topology, how ``connect`` resolves) is
:mod:`cluster.layout.model`; this module only reads the document and says where it is wrong.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from yaml.nodes import Node, SequenceNode

from cluster.layout.app_section import read_app
from cluster.layout.located_yaml import (
    Entry,
    LocatedProblem,
    LocatedYaml,
    describe,
    line_of,
    suggest,
)
from cluster.layout.model import ROLES, Layout, NodeSpec, governing_rule, resolve_connect
from cluster.layout.presets import DEFAULT_PRESET, Timings, timings_for, timings_problems
from cluster.wire.keyring import Keyring, KeyringError

__all__ = ["LayoutError", "LocatedProblem", "load_layout", "parse_layout"]

_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_HOST_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_TOP_KEYS = ("cluster", "preset", "timings", "nodes", "connect", "app", "keyring", "security")
_SECURITY = ("sealed", "none")
_NODE_KEYS = ("role", "host", "port", "metrics_port", "count")
_MAX_PORT = 65535
_TIMING_NAMES = frozenset(field.name for field in fields(Timings))


class LayoutError(Exception):
    """Every problem found in a layout; ``str()`` gives one per line, ready to print to a user."""

    def __init__(self, problems: Iterable[LocatedProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__(self.problems)

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


def load_layout(path: str | os.PathLike[str], *, relative_to: Path | None = None) -> Layout:
    """Read and parse a layout file; a file that cannot be read is a :class:`LayoutError` like any other.

    `relative_to` is the folder the `app.path` roots are relative to, when it is not the file's own (a
    run directory's copy of a layout keeps resolving against the folder the original came from)."""
    source = os.fspath(path)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        if isinstance(exc, UnicodeDecodeError):
            reason = f"not UTF-8 text (byte offset {exc.start})"
        else:
            reason = exc.strerror or str(exc)
        raise LayoutError([LocatedProblem(source, None, "", f"cannot read layout: {reason}")]) from exc
    return parse_layout(text, source, relative_to=relative_to)


def parse_layout(text: str, source: str = "<string>", *, relative_to: Path | None = None) -> Layout:
    """Parse and validate layout text; raises :class:`LayoutError` listing every problem found. Relative
    `app.path` roots resolve against `relative_to`, else the source file's folder, else the working one."""
    if relative_to is None:
        relative_to = Path(source).resolve().parent if not source.startswith("<") else Path.cwd()
    reader = LocatedYaml(source, text)
    try:
        layout = _read_layout(reader, relative_to)
    finally:
        reader.close()
    if reader.problems or layout is None:
        raise LayoutError(sorted(reader.problems, key=lambda problem: problem.line or 0))
    return layout


def _read_layout(reader: LocatedYaml, base: Path) -> Layout | None:
    """Read every section, each reporting its own problems, and build the layout only if there are none."""
    root = reader.root
    if root is None:
        if not reader.problems:
            reader.report(None, "", "layout is empty; it needs at least cluster and nodes")
        return None
    top = reader.mapping(root, "", root, "a mapping with cluster and nodes")
    if top is None:
        return None
    reader.reject_unknown(top, "", _TOP_KEYS)
    cluster = _read_cluster(reader, top, root)
    preset_node, preset = _read_preset(reader, top)
    overrides = _read_timings(reader, top.get("timings"), preset, preset_node)
    placed = _read_nodes(reader, top, root)
    if placed is None:
        # Without the nodes, checks of the whole set and of connect would only echo that one problem.
        return None
    _check_nodes(reader, placed, top["nodes"][0])
    rules = _read_connect(reader, top.get("connect"), placed)
    app = read_app(reader, top.get("app"), [(node.name, node.role) for node in placed], base)
    keyring = _read_keyring(reader, top.get("keyring"), base)
    security = _read_security(reader, top.get("security"), keyring is not None)
    if reader.problems or cluster is None or preset is None or security is None:
        return None
    nodes = tuple(_spec(node) for node in placed)
    connect = resolve_connect(nodes, rules)
    timings = timings_for(preset, overrides)
    return Layout(cluster, preset, nodes, connect, timings, reader.source, app, keyring, security)


def _read_security(reader: LocatedYaml, entry: Entry | None, keyring: bool) -> str | None:
    """`security: none` opts out of sealing; "sealed" is the default (with `keyring:` or the run
    directory's own keyring)."""
    if entry is None:
        return "sealed"
    _key, value = entry
    text = reader.string(value, "security")
    if text is None:
        return None
    if text not in _SECURITY:
        reader.report(value, "security", f"{text!r} is not a security mode; modes: {', '.join(_SECURITY)}")
        return None
    if text == "none" and keyring:
        reader.report(value, "security", "security: none runs unsealed, but a keyring is named too")
        return None
    return text


def _read_keyring(reader: LocatedYaml, entry: Entry | None, base: Path) -> Path | None:
    """`keyring: FILE`, relative to the layout's folder: a keyring file (`clusterctl keygen` makes keys),
    checked here so that a missing or malformed one is a layout error, not a node that fails to start."""
    if entry is None:
        return None
    _key, value = entry
    text = reader.string(value, "keyring")
    if text is None:
        return None
    path = (base / text).resolve()
    try:
        Keyring.from_text(path.read_text(encoding="utf-8"), str(path))
    except OSError as error:
        reader.report(value, "keyring", f"cannot read keyring {path}: {error.strerror or error}")
        return None
    except (KeyringError, UnicodeDecodeError) as error:
        reader.report(value, "keyring", str(error))
        return None
    return path


def _read_cluster(reader: LocatedYaml, top: Mapping[str, Entry], root: Node) -> str | None:
    node, name = reader.required_value(top, "cluster", "", root, reader.string)
    if name is not None and not _check_name(reader, "cluster", name, node, "cluster"):
        return None
    return name


def _read_preset(reader: LocatedYaml, top: Mapping[str, Entry]) -> tuple[Node | None, str | None]:
    entry = top.get("preset")
    if entry is None:
        return None, DEFAULT_PRESET
    return entry[1], reader.string(entry[1], "preset")


def _check_name(reader: LocatedYaml, kind: str, name: str, node: Node | None, field: str) -> bool:
    """Cluster and node names become directory and file names (see ``actors.rundir``), so both stay plain."""
    if _NAME.fullmatch(name):
        return True
    reader.report(node, field, f"{kind} name {name!r} must match {_NAME.pattern}")
    return False


# -- nodes -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Placed:
    """A node as declared, before the whole layout is known to be valid.

    ``role``, ``host`` and ``port`` are ``None`` when they were unreadable (already reported); the node is
    still placed so that other sections can refer to it without a second, misleading "unknown node" problem.
    """

    name: str
    role: str | None
    host: str | None
    port: int | None
    field: str
    at: Node
    expanded: bool = False
    metrics_port: int | None = None


def _read_nodes(reader: LocatedYaml, top: Mapping[str, Entry], root: Node) -> list[_Placed] | None:
    entry = reader.required(top, "nodes", "", root)
    if entry is None:
        return None
    nodes = reader.mapping(entry[1], "nodes", entry[0], "a mapping of node name to role, host and port")
    if nodes is None:
        return None
    placed: list[_Placed] = []
    for name, (key, value) in nodes.items():
        placed.extend(_read_node(reader, name, key, value))
    return placed


def _spec(node: _Placed) -> NodeSpec:
    """The public form of a placed node, once every problem is known to be absent."""
    assert node.role is not None and node.host is not None and node.port is not None
    return NodeSpec(node.name, node.role, node.host, node.port, node.metrics_port)


def _read_node(reader: LocatedYaml, name: str, key: Node, value: Node) -> list[_Placed]:
    """One ``nodes`` entry, expanded to ``name-1..name-N`` on consecutive ports when it has a ``count``."""
    field = f"nodes.{name}"
    _check_name(reader, "node", name, key, field)
    spec = reader.mapping(value, field, key, "a mapping with role, host and port")
    if spec is None:
        return []
    reader.reject_unknown(spec, field, _NODE_KEYS)
    role = _read_role(reader, spec, field, key)
    host = _read_host(reader, spec, field, key)
    port = _read_port(reader, spec, field, key)
    metrics_port = _read_metrics_port(reader, spec, field)
    if "count" not in spec:
        _check_role_name(reader, name, role, key, field)
        return [_Placed(name, role, host, port, field, key, metrics_port=metrics_port)]
    count = _read_count(reader, spec["count"][1], f"{field}.count", port)
    if count is None or (
        metrics_port is not None
        and _read_count(reader, spec["count"][1], f"{field}.count", metrics_port) is None
    ):
        return []
    return [
        _Placed(
            f"{name}-{index}",
            role,
            host,
            None if port is None else port + index - 1,
            field,
            key,
            True,
            None if metrics_port is None else metrics_port + index - 1,
        )
        for index in range(1, count + 1)
    ]


def _read_metrics_port(reader: LocatedYaml, spec: Mapping[str, Entry], field: str) -> int | None:
    """Optional; with ``count``, consecutive like ``port``."""
    if "metrics_port" not in spec:
        return None
    node = spec["metrics_port"][1]
    port = reader.integer(node, f"{field}.metrics_port")
    if port is not None and not 1 <= port <= _MAX_PORT:
        reader.report(node, f"{field}.metrics_port", f"metrics_port {port} is out of range 1..{_MAX_PORT}")
        return None
    return port


def _check_role_name(reader: LocatedYaml, name: str, role: str | None, key: Node, field: str) -> None:
    # In ``connect`` a role name means the whole role, so a node may carry a role's name only if it is of
    # that role (the usual ``manager``); a proxy called ``logger`` would make rules mean two things.
    # Being the only node of that role is checked with the other whole-layout checks.
    if name in ROLES and role is not None and role != name:
        message = f"node name {name!r} is a role name; only a node of role {name} may be called that"
        reader.report(key, field, message)


def _read_role(reader: LocatedYaml, spec: Mapping[str, Entry], field: str, key: Node) -> str | None:
    node, role = reader.required_value(spec, "role", field, key, reader.string)
    if role is not None and role not in ROLES:
        message = f"unknown role {role!r}{suggest(role, ROLES)}; roles are {', '.join(ROLES)}"
        reader.report(node, f"{field}.role", message)
        return None
    return role


def _read_host(reader: LocatedYaml, spec: Mapping[str, Entry], field: str, key: Node) -> str | None:
    node, host = reader.required_value(spec, "host", field, key, reader.string)
    if host is None:
        return None
    normal, reason = _normalize_host(host)
    if normal is None:
        reader.report(node, f"{field}.host", f"bad host {host!r}: {reason}")
    return normal


def _normalize_host(host: str) -> tuple[str | None, str]:
    """The canonical spelling of an IP literal or hostname, so equal addresses compare (and digest) equal.

    Unspecified and multicast addresses are refused: the host is what other nodes dial, and neither can be.
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return _normalize_hostname(host)
    if address.is_unspecified or address.is_multicast:
        kind = "unspecified" if address.is_unspecified else "multicast"
        return None, f"an {kind} address cannot be dialled; give the address other nodes reach this one at"
    return str(address), ""


def _normalize_hostname(host: str) -> tuple[str | None, str]:
    labels = host.rstrip(".").split(".")
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return None, "not an IPv4/IPv6 address or a valid hostname"
    if labels[-1].isdigit():
        # ``10.0.0.300`` is a mistyped address, not a hostname: top-level labels are never all digits.
        return None, "not a valid IPv4 address"
    return host.rstrip(".").lower(), ""


def _read_port(reader: LocatedYaml, spec: Mapping[str, Entry], field: str, key: Node) -> int | None:
    node, port = reader.required_value(spec, "port", field, key, reader.integer)
    if port is not None and not 1 <= port <= _MAX_PORT:
        reader.report(node, f"{field}.port", f"port {port} is out of range 1..{_MAX_PORT}")
        return None
    return port


def _read_count(reader: LocatedYaml, node: Node, field: str, port: int | None) -> int | None:
    count = reader.integer(node, field)
    if count is None:
        return None
    if count < 1:
        reader.report(node, field, f"count must be at least 1, got {count}")
        return None
    if port is not None and port + count - 1 > _MAX_PORT:
        message = f"count {count} from port {port} needs ports up to {port + count - 1}, beyond {_MAX_PORT}"
        reader.report(node, field, message)
        return None
    return count


def _check_nodes(reader: LocatedYaml, placed: list[_Placed], nodes_key: Node) -> None:
    """The checks that need every node at once: one manager, unique names and addresses, lone role names."""
    _check_managers(reader, placed, nodes_key)
    _check_unique_names(reader, placed)
    _check_unique_addresses(reader, placed)
    _check_role_named_nodes(reader, placed)


def _check_role_named_nodes(reader: LocatedYaml, placed: list[_Placed]) -> None:
    # In ``connect`` a role name means the whole role. A node called ``logger`` beside ``logger-2`` would make
    # ``logger: [...]`` mean two things, so a role-named node must be the only node of its role.
    for node in placed:
        if node.name not in ROLES or node.role != node.name or node.role == "manager":
            continue  # a second manager is its own, clearer problem
        others = [other for other in placed if other.role == node.role and other is not node]
        if others:
            other = others[0]
            message = (
                f"node name {node.name!r} is a role name, so it must be the only {node.role}; "
                f"{other.name!r} (line {line_of(other.at)}) is another"
            )
            reader.report(node.at, node.field, message)


def _check_managers(reader: LocatedYaml, placed: list[_Placed], nodes_key: Node) -> None:
    managers = [p for p in placed if p.role == "manager"]
    if not managers:
        # A node whose role could not be read may well be the manager; its own problem says enough.
        if all(p.role is not None for p in placed):
            reader.report(nodes_key, "nodes", "no node has role manager; a layout needs exactly one")
        return
    first = managers[0]
    for extra in managers[1:]:
        message = (
            f"{extra.name!r} is a second manager ({first.name!r} at line {line_of(first.at)}); "
            "a layout needs exactly one"
        )
        reader.report(extra.at, f"{extra.field}.role", message)


def _check_unique_names(reader: LocatedYaml, placed: list[_Placed]) -> None:
    seen: dict[str, _Placed] = {}
    for node in placed:
        first = seen.setdefault(node.name, node)
        if first is not node:
            how = "count expands to {!r}, which" if node.expanded else "node name {!r}"
            where = f"{first.field} (line {line_of(first.at)})"
            message = f"{how.format(node.name)} is already used by {where}"
            reader.report(node.at, node.field, message)


def _check_unique_addresses(reader: LocatedYaml, placed: list[_Placed]) -> None:
    # One problem per declaration, not per port: two overlapping ``count`` ranges would otherwise flood.
    # A metrics port is a TCP port of the same host: it may not be anyone's node port or metrics port.
    owners: dict[tuple[str, int], _Placed] = {}
    clashes: dict[str, list[tuple[_Placed, _Placed, int]]] = {}
    for node in placed:
        if node.host is None:
            continue
        for port in (node.port, node.metrics_port):
            if port is None:
                continue
            first = owners.setdefault((node.host, port), node)
            if first is not node or (port == node.metrics_port and port == node.port):
                clashes.setdefault(node.field, []).append((node, first, port))
    for pairs in clashes.values():
        node, first, port = pairs[0]
        more = f" (and {len(pairs) - 1} more)" if len(pairs) > 1 else ""
        address = _format_address(node.host or "", port)
        where = f"line {line_of(first.at)}"
        message = f"address {address} of {node.name!r} is already used by {first.name!r} ({where}){more}"
        reader.report(node.at, node.field, message)


# -- connect ---------------------------------------------------------------------------------------------

_Targets = tuple[tuple[str, Node], ...]
"""The targets one ``connect`` rule lists, each with its node for blame."""


def _read_connect(
    reader: LocatedYaml, entry: Entry | None, placed: list[_Placed]
) -> dict[str, tuple[str, ...]]:
    """The ``connect`` rules that read cleanly, by key; :func:`resolve_connect` turns them into dials."""
    dialable = {*ROLES, *(node.name for node in placed)}
    section = reader.optional_mapping(entry, "connect", "a mapping of role or node name to a list of targets")
    rules: dict[str, _Targets] = {}
    for key, (key_node, value_node) in section.items():
        targets = _read_rule(reader, key, key_node, value_node, dialable)
        if targets is not None:
            rules[key] = targets
    for node in placed:
        _check_self_dial(reader, node, rules)
    return {key: tuple(target for target, _ in targets) for key, targets in rules.items()}


def _read_rule(
    reader: LocatedYaml, key: str, key_node: Node, value: Node, dialable: set[str]
) -> _Targets | None:
    field = f"connect.{key}"
    if key not in dialable:
        reader.report(key_node, field, f"{key!r} is neither a role nor a node{suggest(key, dialable)}")
        return None
    if not isinstance(value, SequenceNode):
        message = f"must be a list of role or node names ([] for none), got {describe(value)}"
        reader.report(key_node, field, message)
        return None
    targets = []
    for item in value.value:
        target = reader.string(item, field)
        if target is None:
            continue
        if target not in dialable:
            reader.report(item, field, f"unknown role or node {target!r}{suggest(target, dialable)}")
        elif target == key and key not in ROLES:
            reader.report(item, field, f"{key!r} lists itself; a node cannot connect to itself")
        else:
            targets.append((target, item))
    return tuple(targets)


def _check_self_dial(reader: LocatedYaml, node: _Placed, rules: Mapping[str, _Targets]) -> None:
    # A node's own rule listing it is caught as it is read; a role rule naming one of its members explicitly
    # shows only now, when the member turns out to have no rule of its own.
    if node.role is None:
        return
    key = governing_rule(node.name, node.role, rules)
    for target, item in rules[key] if key is not None else ():
        if target == node.name and target not in ROLES:
            message = f"the rule for {key} makes {node.name!r} connect to itself; give it a rule of its own"
            reader.report(item, f"connect.{key}", message)


# -- timings ---------------------------------------------------------------------------------------------


def _read_timings(
    reader: LocatedYaml, entry: Entry | None, preset: str | None, preset_node: Node | None
) -> dict[str, object]:
    """The overrides, checked by the presets module; each problem is pinned to the line that caused it."""
    section = reader.optional_mapping(entry, "timings", "a mapping of timing name to value")
    overrides = {name: reader.construct(value, f"timings.{name}") for name, (_, value) in section.items()}
    for error in timings_problems(preset if preset is not None else "", overrides):
        if error.field == "preset":
            if preset is not None:  # an unreadable preset has been reported already
                reader.report(preset_node, "preset", error.message)
            continue
        key_node, value_node = section.get(error.field, (None, None))
        # A bad value is blamed on the value, an unknown name on the key.
        blame = value_node if error.field in _TIMING_NAMES else key_node
        reader.report(blame or (entry[0] if entry else preset_node), f"timings.{error.field}", error.message)
    return overrides


# -- small helpers ---------------------------------------------------------------------------------------


def _format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
