"""The curated surface: what `cluster` and `actors` export, and that the pure packages stay pure."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

import actors
import cluster
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(60)

PURE = (
    "cluster",
    "cluster.wire",
    "cluster.core",
    "cluster.layout",
    "cluster.readiness",
    "cluster.membership",
    "cluster.state",
    "cluster.control",
    "cluster.app",
    "cluster.sim",
)


@pytest.mark.parametrize("package", [cluster, actors])
def test_every_exported_name_resolves(package: object) -> None:
    names = package.__all__  # type: ignore[attr-defined]
    assert names and len(set(names)) == len(names)
    for name in names:
        assert getattr(package, name) is not None, name


def test_importing_the_pure_packages_loads_no_io_machinery() -> None:
    # The import-layer contract (lint-imports) checks the import statements; this checks what an import
    # actually runs, package __init__ files included.
    modules = "; ".join(f"import {name}" for name in PURE)
    forbidden = ("pykka", "actors", "socket", "threading", "selectors", "subprocess", "cluster.ops")
    check = f"import sys; {modules}; print([m for m in {forbidden!r} if m in sys.modules])"
    loaded = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, cwd=ROOT, timeout=30
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "[]"


def test_the_readme_imports_only_the_surface() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    assert blocks
    for block in blocks:
        for module, names in re.findall(r"^from ([\w.]+) import (.+)$", block, re.MULTILINE):
            if module.split(".")[0] not in ("cluster", "actors"):
                continue  # the standard library
            assert module in ("cluster", "actors"), f"README imports from {module}"
            exported = cluster.__all__ if module == "cluster" else actors.__all__
            assert {n.strip() for n in names.split(",")} <= set(exported), names
