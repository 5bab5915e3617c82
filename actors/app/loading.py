"""Importing the code a layout's `app:` section names, with the layout's own kind of error.

This is the half of checking the section that needs the code: a module that does not import (its error in
one line), a name that is not there, a class that is not a `ClusterActor` or a `Provider`, a provider whose
state type is empty, clashes with a built-in one, or is claimed by two classes. Each problem names the
layout's file, line and field, like every other layout problem; `clusterctl layout check` and a starting
node both call `load_app`, so a layout that passes the check is one every node can start.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from actors.app.api import ClusterActor
from cluster.layout.app import ClassRef
from cluster.layout.loader import LayoutError, LocatedProblem
from cluster.layout.model import Layout
from cluster.state.provider import Provider
from cluster.state.providers import PROVIDERS

__all__ = ["LoadedApp", "load_app"]


@dataclass(frozen=True)
class LoadedApp:
    """The classes of a layout's `app:` section: actor classes by their `module:Class`, and every
    provider factory (built-in and the layout's) by state type."""

    actor_classes: Mapping[str, type[ClusterActor]]
    providers: Mapping[str, Callable[[str], Provider]]


def _import(ref: ClassRef, source: str, problems: list[LocatedProblem]) -> Any:
    def problem(message: str) -> None:
        problems.append(LocatedProblem(source, ref.line, ref.field, message))

    try:
        module = importlib.import_module(ref.module)
    except Exception as error:  # whatever the user's module raises on import
        last = traceback.format_exception_only(error)[-1].strip()
        problem(f"cannot import module {ref.module!r} for {ref.spec!r}: {last}")
        return None
    target: Any = module
    for part in ref.qualname.split("."):
        target = getattr(target, part, None)
        if target is None:
            problem(f"module {ref.module!r} has no {ref.qualname!r}")
            return None
    return target


def _add_path(roots: tuple[str, ...]) -> None:
    for root in reversed(roots):
        if root not in sys.path:
            sys.path.insert(0, root)


def load_app(layout: Layout) -> LoadedApp:
    """Import everything the section names; `LayoutError` with every problem found."""
    app = layout.app
    _add_path(app.path)
    problems: list[LocatedProblem] = []
    classes: dict[str, type[ClusterActor]] = {}
    for specs in app.actors.values():
        for spec in specs:
            if spec.cls.spec in classes:
                continue
            target = _import(spec.cls, layout.source, problems)
            if target is None:
                continue
            if not (isinstance(target, type) and issubclass(target, ClusterActor)):
                message = (
                    f"{spec.cls.spec!r} is not a ClusterActor subclass (from actors import ClusterActor)"
                )
                problems.append(LocatedProblem(layout.source, spec.cls.line, spec.cls.field, message))
                continue
            classes[spec.cls.spec] = target
    providers: dict[str, Callable[[str], Provider]] = dict(PROVIDERS)
    claimed: dict[str, str] = {}
    for ref in app.providers:
        target = _import(ref, layout.source, problems)
        if target is None:
            continue
        where = (layout.source, ref.line, ref.field)
        if not (isinstance(target, type) and issubclass(target, Provider)):
            problems.append(LocatedProblem(*where, f"{ref.spec!r} is not a Provider subclass"))
            continue
        state_type = target.state_type
        if not state_type or "/" in state_type:
            message = f"{ref.spec!r} needs a state_type: a non-empty name without '/'"
            problems.append(LocatedProblem(*where, message))
        elif state_type in PROVIDERS:
            message = f"{ref.spec!r} has state type {state_type!r}, which is a built-in provider's"
            problems.append(LocatedProblem(*where, message))
        elif state_type in claimed:
            message = f"{ref.spec!r} has state type {state_type!r}, already {claimed[state_type]!r}'s"
            problems.append(LocatedProblem(*where, message))
        else:
            claimed[state_type] = ref.spec
            providers[state_type] = target
    if problems:
        raise LayoutError(sorted(problems, key=lambda p: p.line or 0))
    return LoadedApp(classes, providers)
