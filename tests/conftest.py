from __future__ import annotations

from pathlib import Path

import pykka
import pytest

from actors.testkit import layout_with_ports
from cluster.layout.loader import load_layout, parse_layout
from cluster.layout.model import Layout

ROOT = Path(__file__).resolve().parent.parent
LAYOUTS = ROOT / "layouts"


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
