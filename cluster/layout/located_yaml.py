"""A reader of YAML documents that locates every problem: file, line and dotted field.

Lines come from the composed YAML node tree (``yaml.compose``), not from constructed Python objects, which
have no positions; the same tree shows duplicate keys, which PyYAML would otherwise drop silently. The
reader turns every mistake into a :class:`LocatedProblem` instead of an exception, so a caller checking a
document can report everything wrong with it at once. It knows nothing of layouts: what a layout must hold
is :mod:`cluster.layout.loader`, which walks the tree with it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = [
    "Entry",
    "LocatedProblem",
    "LocatedYaml",
    "describe",
    "is_scalar",
    "join_field",
    "line_of",
    "suggest",
]

TAG = "tag:yaml.org,2002:"
STR, INT, NULL, MERGE = TAG + "str", TAG + "int", TAG + "null", TAG + "merge"

_T = TypeVar("_T")


@dataclass(frozen=True)
class LocatedProblem:
    """One thing wrong with a layout, located well enough for an editor to jump to it."""

    source: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return ": ".join(part for part in (where, self.field, self.message) if part)


Entry = tuple[Node, Node]
"""A mapping entry as composed: (key node, value node), kept together so either can be blamed."""


class LocatedYaml:
    """Walks a composed YAML tree, turning every mistake into a located problem instead of an exception."""

    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.problems: list[LocatedProblem] = []
        self.root: Node | None = None
        self._loader: yaml.SafeLoader | None = None
        try:
            self._loader = yaml.SafeLoader(text)
            self.root = self._loader.get_single_node()
        except yaml.YAMLError as exc:
            self.problems.append(LocatedProblem(source, _errorline_of(exc, text), "", syntax_message(exc)))

    def close(self) -> None:
        if self._loader is not None:
            self._loader.dispose()

    def report(self, node: Node | None, field: str, message: str) -> None:
        line = None if node is None else line_of(node)
        self.problems.append(LocatedProblem(self.source, line, field, message))

    def mapping(self, node: Node, field: str, blame: Node, what: str) -> dict[str, Entry] | None:
        """The entries of a mapping node by key; reports non-mappings, non-string and duplicate keys."""
        if not isinstance(node, MappingNode):
            self.report(blame, field, f"must be {what}, got {describe(node)}")
            return None
        self._check_duplicates(node, field)
        self._flatten_merges(node, field)
        entries: dict[str, Entry] = {}
        for key, value in node.value:
            if is_scalar(key, STR):
                entries[key.value] = (key, value)
            else:
                self.report(key, field, f"keys must be names, got {describe(key)}")
        return entries

    def optional_mapping(self, entry: Entry | None, field: str, what: str) -> dict[str, Entry]:
        """Like :meth:`mapping` for an optional section, where absent or empty means no entries."""
        if entry is None or is_scalar(entry[1], NULL):
            return {}
        return self.mapping(entry[1], field, entry[0], what) or {}

    def reject_unknown(self, entries: Mapping[str, Entry], prefix: str, allowed: Iterable[str]) -> None:
        allowed = tuple(allowed)
        for key, (key_node, _) in entries.items():
            if key not in allowed:
                message = f"unknown key {key!r}{suggest(key, allowed)}; allowed: {', '.join(allowed)}"
                self.report(key_node, join_field(prefix, key), message)

    def required(self, entries: Mapping[str, Entry], key: str, prefix: str, blame: Node) -> Entry | None:
        entry = entries.get(key)
        if entry is None:
            self.report(blame, join_field(prefix, key), f"missing required key {key!r}")
        return entry

    def required_value(
        self,
        entries: Mapping[str, Entry],
        key: str,
        prefix: str,
        blame: Node,
        read: Callable[[Node, str], _T | None],
    ) -> tuple[Node | None, _T | None]:
        """A required key's value node and its value as ``read`` takes it; ``None`` for what is missing.

        The node comes back too, so a caller checking the value further can blame the line it is on.
        """
        entry = self.required(entries, key, prefix, blame)
        if entry is None:
            return None, None
        return entry[1], read(entry[1], join_field(prefix, key))

    def string(self, node: Node, field: str) -> str | None:
        if is_scalar(node, STR):
            return str(node.value)
        self.report(node, field, f"must be a string, got {describe(node)}")
        return None

    def integer(self, node: Node, field: str) -> int | None:
        if not is_scalar(node, INT):
            self.report(node, field, f"must be an integer, got {describe(node)}")
            return None
        value = self.construct(node, field)
        return value if isinstance(value, int) else None

    def construct(self, node: Node, field: str) -> Any:
        """The plain Python value of a node, as ``yaml.safe_load`` would build it."""
        assert self._loader is not None
        try:
            return self._loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.report(node, field, f"cannot read value: {getattr(exc, 'problem', exc)}")
            return None

    def _check_duplicates(self, node: MappingNode, field: str) -> None:
        # PyYAML keeps the last of two equal keys without a word; in a layout that hides a whole node.
        first_seen: dict[str, Node] = {}
        for key, _ in node.value:
            if not isinstance(key, ScalarNode) or key.tag == MERGE:
                continue
            if key.value in first_seen:
                message = f"duplicate key {key.value!r} (first at line {line_of(first_seen[key.value])})"
                self.report(key, join_field(field, key.value), message)
            else:
                first_seen[key.value] = key

    def _flatten_merges(self, node: MappingNode, field: str) -> None:
        # ``<<: *defaults`` is how YAML users share node settings; resolve it as safe_load would.
        if not any(key.tag == MERGE for key, _ in node.value):
            return
        assert self._loader is not None
        try:
            self._loader.flatten_mapping(node)
        except yaml.YAMLError as exc:
            self.report(node, field, f"bad merge: {getattr(exc, 'problem', exc)}")


def join_field(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def line_of(node: Node) -> int:
    return node.start_mark.line + 1


def is_scalar(node: Node, tag: str) -> bool:
    return isinstance(node, ScalarNode) and node.tag == tag


def describe(node: Node) -> str:
    """How a value reads to a user: its YAML kind and text, since Python type names mean little in YAML."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    kind = node.tag.removeprefix(TAG) if node.tag.startswith(TAG) else node.tag
    if kind == "null":
        return "nothing"
    return f"{kind} {node.value!r}"


def suggest(word: str, known: Iterable[str]) -> str:
    """A " (did you mean 'x'?)" tail for a misspelt name, or nothing when no known name is close."""
    close = difflib.get_close_matches(word, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def syntax_message(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        parts = [part for part in (exc.context, exc.problem) if part]
        return "YAML syntax error: " + (", ".join(parts) if parts else str(exc))
    if isinstance(exc, yaml.reader.ReaderError):
        return f"unacceptable character #x{exc.character:04x}: {exc.reason}"
    return "YAML error: " + " ".join(str(exc).split())


def _errorline_of(exc: yaml.YAMLError, text: str) -> int | None:
    """The 1-based line of a YAML error; reader errors carry only a character offset."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        return int(mark.line) + 1
    position = getattr(exc, "position", None)
    return None if position is None else text.count("\n", 0, position) + 1
