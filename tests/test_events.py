"""The event catalogue: records as the event log writes them, read back, and the README's table."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from cluster.core.events import (
    CATALOGUE,
    ClusterDegradedEvent,
    ClusterStartLearnedEvent,
    MemberSuspectEvent,
    ReadinessRefusedEvent,
    StateChangedEvent,
    event_from_record,
    event_record,
)
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(30)


def test_a_record_is_ts_node_event_then_the_fields_in_order() -> None:
    record = event_record(
        "w-1", MemberSuspectEvent(member="w-2", id="ab", incarnation=3, by="w-3"), 12.3456789
    )
    assert list(record) == ["ts", "node", "event", "member", "id", "incarnation", "by"]
    assert record["ts"] == 12.345679 and record["event"] == "member_suspect"


def test_an_optional_field_without_a_value_is_left_out() -> None:
    assert "by" not in event_record("n", MemberSuspectEvent(member="m", id="i", incarnation=0), 0.0)
    refused = ReadinessRefusedEvent(what="cluster_started", name="proxy-1", reason="not the manager")
    assert list(refused.fields) == ["what", "name", "reason"]


def test_a_value_of_none_that_is_data_is_kept() -> None:
    gone = StateChangedEvent(provider="kv", key="k", value=None, owner="n", version=4)
    assert gone.fields["value"] is None and "value" in event_record("n", gone, 0.0)


def test_a_keyword_field_is_written_without_its_underscore() -> None:
    assert ClusterStartLearnedEvent(from_="worker-1").fields == {"from": "worker-1"}


@pytest.mark.parametrize(
    "event",
    [
        MemberSuspectEvent(member="w-2", id="ab", incarnation=3, by="w-3"),
        ClusterDegradedEvent(missing=("w-1",), lost_links={"w-2": ("w-1", "p-1")}),
        ClusterStartLearnedEvent(from_="worker-1"),
        StateChangedEvent(provider="kv", key="k", value={"a": [1, 2]}, owner="n", version=4),
    ],
)
def test_records_read_back_through_json(event: object) -> None:
    record = json.loads(json.dumps(event_record("n", event, 1.0)))  # type: ignore[arg-type]
    again = event_from_record(record)
    assert again is not None and again.fields == event.fields  # type: ignore[attr-defined]
    assert type(again) is type(event)


def test_a_record_of_an_unknown_or_malformed_event_reads_as_none() -> None:
    assert event_from_record({"ts": 0, "node": "n", "event": "from_a_future_version"}) is None
    assert event_from_record({"ts": 0, "node": "n", "event": "member_failed", "member": "m"}) is None


def test_the_readme_lists_every_event_with_its_fields() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `([a-z_]+)` \| ([a-z_?, ]+) \|", readme, re.MULTILINE)
    documented = {name: [field.strip() for field in fields.split(",")] for name, fields in rows}
    declared = {
        name: [f.name.rstrip("_") + ("?" if f.default is None else "") for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        for name, cls in CATALOGUE.items()
    }
    assert documented == declared
