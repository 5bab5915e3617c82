"""A sealed cluster (its layout names a keyring): it forms and replicates with every datagram and frame
sealed, and what is not sealed with its key is dropped and counted, never taken."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cluster.control.protocol import StateEntries, StateGetRequest, StateSetRequest, StateWritten
from cluster.ops.control_client import request
from cluster.ops.testing import LiveCluster
from cluster.wire.codec import encode
from cluster.wire.keyring import KEY_SIZE, Keyring
from cluster.wire.messages import Suspect
from cluster.wire.seal import Sealing

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parent.parent
LAYOUT = ROOT / "layouts" / "local.yaml"


def eventually(check: Callable[[], object], *, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not true within {timeout}s"
        time.sleep(0.05)


def sealed_layout(tmp_path: Path, key: bytes = b"\x07" * KEY_SIZE) -> Path:
    keys = tmp_path / "keys" / "cluster.keys"
    keys.parent.mkdir()
    keys.write_text(Keyring(key).to_text())
    layout = tmp_path / "sealed.yaml"
    layout.write_text(LAYOUT.read_text() + "keyring: keys/cluster.keys\n")
    return layout


def test_a_sealed_cluster_forms_replicates_and_drops_what_is_not_sealed_with_its_key(
    cluster_processes: Callable[..., LiveCluster], tmp_path: Path
) -> None:
    live = cluster_processes(sealed_layout(tmp_path))
    written = live.cluster.ask("worker-1", StateSetRequest("kv", "sealed", "yes"), StateWritten)
    for node in live.layout.names:
        eventually(
            lambda n=node: (
                "sealed" in live.cluster.ask(n, StateGetRequest("kv", "sealed"), StateEntries).entries
            )
        )
    spec = live.layout.node("worker-2")
    # a plain datagram, and one sealed under another key: neither opens
    other = Sealing.of(Keyring(b"\x08" * KEY_SIZE), live.layout.cluster, epoch=1, max_epochs=1)
    forged = Suspect("worker-2", 0, "manager")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as attacker:
        attacker.sendto(encode(forged), (spec.host, spec.port))
        attacker.sendto(other.sealer.seal(b"d", encode(forged)), (spec.host, spec.port))
    dropped = lambda: live.cluster.status("worker-2").dropped or {}  # noqa: E731
    eventually(lambda: dropped().get("datagram unsealed: bad-tag", 0) >= 1)
    eventually(lambda: dropped().get("datagram unsealed: unknown-version", 0) >= 1)  # the plain one
    # a control request without the key gets nothing it can read, and changes nothing
    # a control request without the key, or with another, is told why in the clear and changes nothing
    plain = request(spec.host, spec.port, "state-set", {"provider": "kv", "key": "sealed", "value": "no"})
    assert (
        not plain.ok
        and plain.error == "this cluster is sealed, and the request does not open (unknown-version)"
    )
    wrong = request(spec.host, spec.port, "status", sealing=other)
    assert not wrong.ok and wrong.error == "this cluster is sealed, and the request does not open (bad-tag)"
    assert dropped().get("frame unsealed: bad-tag", 0) >= 1
    seen = live.cluster.ask("worker-2", StateGetRequest("kv", "sealed"), StateEntries).entries["sealed"]
    assert (seen.value, seen.version) == ("yes", written.version)
    assert not live.events("member_failed") and not live.events("member_suspect")


def test_a_cluster_that_opted_out_counts_sealed_packets_as_no_key(
    cluster_in_process: Callable[..., LiveCluster], tmp_path: Path
) -> None:
    layout = tmp_path / "unsealed.yaml"
    layout.write_text(LAYOUT.read_text() + "security: none\n")
    live = cluster_in_process(layout)
    assert live.cluster.sealing is None
    spec = live.layout.node("worker-1")
    keyed = Sealing.of(Keyring(b"\x09" * KEY_SIZE), live.layout.cluster, epoch=1, max_epochs=1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as member_with_a_key:
        member_with_a_key.sendto(
            keyed.sealer.seal(b"d", encode(Suspect("worker-1", 0, "manager"))), (spec.host, spec.port)
        )
    eventually(
        lambda: (live.cluster.status("worker-1").dropped or {}).get("datagram unsealed: no-key", 0) == 1
    )
