"""Sealing: authenticated encryption of every packet under the cluster keyring.

**AES-256-GCM** (`cryptography`'s AESGCM). It is what memberlist and Serf seal with, so their keyrings'
behaviour carries over, and on any CPU with AES instructions (x86's AES-NI, ARMv8's crypto extensions) it
is the fastest AEAD `cryptography` offers; ChaCha20-Poly1305 would be the choice only without them.

A sealed packet is `version (1) | nonce (12) | ciphertext | tag (16)`: **29 bytes** over the plaintext,
memberlist's own overhead. The associated data binds the version, the channel (datagram or stream frame)
and the cluster's name, so a packet of one cluster never opens in another with the same key, and a
datagram is never taken as a frame.

**Nonces.** GCM fails badly if a nonce repeats under one key: the two plaintexts' XOR and the
authentication key leak. Random 96-bit nonces repeat with probability about M²/2⁹⁷ over M packets under a
key, which is why NIST SP 800-38D §8.3 caps them at 2³² packets per key, and a cluster of 100 nodes
sending 1,000 datagrams a second each reaches that in 16 months. So a nonce is a counter instead: each
sealer draws a random 64-bit *epoch* when it is made (once per node life) and counts up from
`epoch << 32` (`itertools.count`, atomic under the GIL, so the node's threads can share one sealer). A
sealer never repeats a nonce; two repeat one only if their epochs fall within 2³² counts of each other's
ranges, probability about E²/2⁶³ over E lives sealing under one key: 10⁻⁷ for a million lives. The epoch
and counter also travel as the packet's sequence number, which the receiver's replay window checks
(`cluster.wire.replay`, a step memberlist does not take).

Opening tries the primary and then each secondary key (`MAX_KEYS` at most), so a packet that opens under
none costs a bounded number of tag checks. Whatever does not open raises `Unsealed` with one of
`UNSEALED_REASONS`; callers count it and drop the packet. Pure: the epoch is given, nothing is read.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cluster.wire.keyring import Keyring
from cluster.wire.replay import ReplayGuard

__all__ = [
    "DATAGRAM",
    "FRAME",
    "OVERHEAD",
    "SEALED_MARK",
    "SEAL_VERSION",
    "UNSEALED_REASONS",
    "Opener",
    "Sealer",
    "Sealing",
    "Unsealed",
]

SEAL_VERSION = 1
SEALED_MARK = bytes((SEAL_VERSION,))
"""The first byte of every sealed packet; no message of ours starts with it (msgpack maps start at 0x80,
state datagrams with 0xC1), so a node that runs unsealed tells a sealed packet from garbage."""
NONCE_SIZE = 12
TAG_SIZE = 16
OVERHEAD = 1 + NONCE_SIZE + TAG_SIZE
"""Bytes a sealed packet has over its plaintext (memberlist's is the same: version, nonce, tag)."""

DATAGRAM = b"d"
FRAME = b"f"
"""The channels a packet may be sealed for; a packet opens only on its own."""

EPOCH_BITS = 63
"""Epochs are drawn below 2⁶³, so the counter (the low 32 bits) may carry into them for 2³¹ wraps."""

UNSEALED_REASONS = ("too-short", "unknown-version", "no-key", "bad-tag", "replayed")
"""Why a packet was dropped. `no-key` is counted by a node that runs unsealed (`security: none`) and is
sent a sealed packet (its first byte, `SEAL_VERSION`, is one no message of ours starts with); `bad-tag`
covers both a packet sealed under a key not installed here and one changed on the way, which GCM cannot
tell apart."""


class Unsealed(ValueError):
    """A packet that does not open; `reason` is one of `UNSEALED_REASONS`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


class Sealer:
    """Seals under the keyring's primary key. One per node life: its epoch is drawn once."""

    __slots__ = ("_ad", "_aead", "_count")

    def __init__(self, keyring: Keyring, cluster: str, *, epoch: int) -> None:
        if not 0 <= epoch < 1 << EPOCH_BITS:
            raise ValueError(f"an epoch is below 2**{EPOCH_BITS}, not {epoch}")
        self._aead = AESGCM(keyring.primary)
        self._ad = _associated_data(cluster)
        self._count = itertools.count(epoch << 32)

    def seal(self, channel: bytes, payload: bytes) -> bytes:
        nonce = next(self._count).to_bytes(NONCE_SIZE, "big")
        header = bytes((SEAL_VERSION,))
        return header + nonce + self._aead.encrypt(nonce, payload, header + channel + self._ad)


class Opener:
    """Opens packets sealed under any installed key, refusing replays when it has a `guard`
    (`cluster.wire.replay`). Stream frames are opened without one: TCP delivers a connection's frames
    in order and once, and a sender's frames to one node may travel on two connections, whose
    interleaving a window would take for replays; a recorded connection replayed whole is the
    handshake's to refuse."""

    __slots__ = ("_ad", "_aeads", "_guard")

    def __init__(self, keyring: Keyring, cluster: str, guard: ReplayGuard | None) -> None:
        self._aeads = [AESGCM(key) for key in keyring.keys]
        self._ad = _associated_data(cluster)
        self._guard = guard

    def open(self, channel: bytes, packet: bytes) -> bytes:
        if len(packet) < OVERHEAD:
            raise Unsealed("too-short", f"{len(packet)} bytes, a sealed packet has at least {OVERHEAD}")
        if packet[0] != SEAL_VERSION:
            raise Unsealed("unknown-version", f"version {packet[0]}, this node seals {SEAL_VERSION}")
        nonce, body = packet[1 : 1 + NONCE_SIZE], packet[1 + NONCE_SIZE :]
        ad = packet[:1] + channel + self._ad
        for aead in self._aeads:
            try:
                payload = aead.decrypt(nonce, body, ad)
            except InvalidTag:
                continue
            sequence = int.from_bytes(nonce, "big")
            if self._guard is not None and self._guard.seen(sequence >> 32, sequence & 0xFFFFFFFF):
                raise Unsealed("replayed", f"sequence {sequence:#x} was taken already")
            return payload
        raise Unsealed("bad-tag", "no installed key opens it")


def _associated_data(cluster: str) -> bytes:
    return b"pycluster\0" + cluster.encode("utf-8")


@dataclass(frozen=True, slots=True)
class Sealing:
    """A node's sealing: one sealer for everything it sends, an opener per channel."""

    sealer: Sealer
    datagrams: Opener
    frames: Opener

    @classmethod
    def of(cls, keyring: Keyring, cluster: str, *, epoch: int, max_epochs: int) -> Sealing:
        return cls(
            Sealer(keyring, cluster, epoch=epoch),
            Opener(keyring, cluster, ReplayGuard(max_epochs)),
            Opener(keyring, cluster, None),
        )
