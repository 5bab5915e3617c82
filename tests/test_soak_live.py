"""The soak (scripts/soak.py) at CI's size: the same code, fewer nodes and less time.

8 real node processes on free ports and the `lan` preset, for 40 s: 10 % loss on every node through the
nodes' own fault injection, the last worker stopped and continued over and over, 50 writes a second
through every node, and a partition half-way that is held until each side has failed the other, then
lifted. The targets are the soak's: no member failed that was only slow, no acknowledged write missing
on any replica, membership and state back together within 2 push-pull intervals of the heal.

`lan` rather than `local`: `local` is memberlist's DefaultLocalConfig, two retransmits of each piece of
news and one ping-req helper, made for a loopback that loses nothing; under 10 % loss its refutations
miss nodes and healthy members are failed, as memberlist's would be.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
soak = importlib.import_module("soak")

pytestmark = pytest.mark.timeout(200)


def test_a_short_soak_meets_the_targets(tmp_path: Path) -> None:
    config = soak.SoakConfig(nodes=8, seconds=40.0, loss=0.10, rate=50.0, preset="lan", settle=30.0)
    report = soak.run_soak(config, tmp_path)
    soak.print_report(report)  # shown when the test fails
    assert not [note for note in report.notes if note.startswith("aborted")], report.notes
    assert report.stops, "the starved node was never stopped"
    assert report.writes_acked >= 0.95 * report.writes_offered > 0
    assert report.false_failures == []
    assert report.partition_failures > 0, "the partition was not found"
    assert report.replicas_checked == config.nodes
    assert report.lost_writes == 0, report.lost_examples
    assert report.heal_membership_s is not None and report.heal_membership_s <= report.heal_target_s
    assert report.heal_state_s is not None and report.heal_state_s <= report.heal_target_s
