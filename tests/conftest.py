from __future__ import annotations

import compileall
from pathlib import Path

import pykka
import pytest

from actors.testkit import layout_with_ports
from cluster.layout.loader import load_layout, parse_layout
from cluster.layout.model import Layout

ROOT = Path(__file__).resolve().parent.parent
LAYOUTS = ROOT / "layouts"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile the packages once, before the tests spawn hundreds of `clusterctl` and node processes.

    An editable install leaves no bytecode, and where PYTHONDONTWRITEBYTECODE is set (as on this project's
    CI machines) no process writes any: each of those processes then compiled every module it imported
    again, about 0.2 s of CPU per `clusterctl` call, which is most of its start. Bytecode that exists is
    read whatever that variable says."""
    for package in ("cluster", "actors", "tests"):
        compileall.compile_dir(ROOT / package, quiet=1)


def shipped_layout_on_free_ports(name: str, **overrides: object) -> Layout:
    """A layout from layouts/ moved to free ports, as every test that opens sockets must."""
    return parse_layout(
        layout_with_ports(load_layout(LAYOUTS / name), **overrides), source=f"{name} (free ports)"
    )


@pytest.fixture
def zeek_small() -> Layout:
    return shipped_layout_on_free_ports("zeek-small.yaml")


@pytest.fixture(autouse=True)
def no_actor_outlives_its_test() -> object:
    """A failed test must not leave actors running into the next test."""
    yield
    pykka.ActorRegistry.stop_all(block=True, timeout=5)
