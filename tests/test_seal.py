"""The sealing layer (issue 11 §2, §4): any single-bit change fails to open, nonces never repeat within a
sealer's life, the overhead is as stated, replays are refused, and a rotation opens what either key seals."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.wire.keyring import KEY_SIZE, MAX_KEYS, Keyring, KeyringError, decode_key, encode_key
from cluster.wire.replay import WINDOW, ReplayGuard
from cluster.wire.seal import DATAGRAM, FRAME, NONCE_SIZE, OVERHEAD, Opener, Sealer, Unsealed

KEY_A, KEY_B, KEY_C = (bytes([n]) * KEY_SIZE for n in (1, 2, 3))


def pair(keyring: Keyring, cluster: str = "c", epoch: int = 7) -> tuple[Sealer, Opener]:
    return Sealer(keyring, cluster, epoch=epoch), Opener(keyring, cluster, ReplayGuard(16))


def reason(opener: Opener, channel: bytes, packet: bytes) -> str:
    with pytest.raises(Unsealed) as refused:
        opener.open(channel, packet)
    return refused.value.reason


@given(st.binary(max_size=1400))
def test_a_sealed_packet_opens_to_what_was_sealed_at_29_bytes_more(payload: bytes) -> None:
    sealer, opener = pair(Keyring(KEY_A))
    packet = sealer.seal(DATAGRAM, payload)
    assert len(packet) == len(payload) + OVERHEAD == len(payload) + 29
    assert opener.open(DATAGRAM, packet) == payload


@settings(max_examples=300)
@given(st.binary(min_size=0, max_size=200), st.data())
def test_any_single_bit_changed_anywhere_fails_to_open(payload: bytes, data: st.DataObject) -> None:
    sealer, opener = pair(Keyring(KEY_A))
    packet = bytearray(sealer.seal(DATAGRAM, payload))
    bit = data.draw(st.integers(0, len(packet) * 8 - 1))
    packet[bit // 8] ^= 1 << (bit % 8)
    assert reason(opener, DATAGRAM, bytes(packet)) in ("bad-tag", "unknown-version")


def test_nonces_never_repeat_within_a_sealers_life_and_lives_do_not_share_them() -> None:
    sealer = Sealer(Keyring(KEY_A), "c", epoch=5)
    nonces = {sealer.seal(DATAGRAM, b"")[1 : 1 + NONCE_SIZE] for _ in range(20_000)}
    assert len(nonces) == 20_000
    other = Sealer(Keyring(KEY_A), "c", epoch=6)
    assert not nonces & {other.seal(DATAGRAM, b"")[1 : 1 + NONCE_SIZE] for _ in range(1_000)}


def test_a_replayed_packet_is_refused_and_reordering_within_the_window_is_not() -> None:
    sealer, opener = pair(Keyring(KEY_A))
    packets = [sealer.seal(DATAGRAM, bytes([i])) for i in range(WINDOW + 10)]
    assert opener.open(DATAGRAM, packets[1]) == b"\x01"
    assert opener.open(DATAGRAM, packets[0]) == b"\x00"  # late, but within the window
    assert reason(opener, DATAGRAM, packets[1]) == "replayed"
    opener.open(DATAGRAM, packets[-1])
    assert reason(opener, DATAGRAM, packets[2]) == "replayed"  # fell out of the window: cannot be told apart


def test_a_packet_of_another_cluster_or_channel_or_key_does_not_open() -> None:
    sealer, _ = pair(Keyring(KEY_A), cluster="c")
    packet = sealer.seal(DATAGRAM, b"news")
    _, elsewhere = pair(Keyring(KEY_A), cluster="other")
    assert reason(elsewhere, DATAGRAM, packet) == "bad-tag"
    _, here = pair(Keyring(KEY_A), cluster="c")
    assert reason(here, FRAME, packet) == "bad-tag"
    _, wrong_key = pair(Keyring(KEY_B), cluster="c")
    assert reason(wrong_key, DATAGRAM, packet) == "bad-tag"
    assert reason(here, DATAGRAM, packet[: OVERHEAD - 1]) == "too-short"
    assert reason(here, DATAGRAM, b"\x02" + packet[1:]) == "unknown-version"


def test_a_rotation_opens_what_either_key_seals_at_every_step() -> None:
    """Serf's rotation: install the new key everywhere, use it everywhere, remove the old one."""
    old = Keyring(KEY_A)
    installed = old.install(KEY_B)
    used = installed.use(KEY_B)
    assert used.keys == (KEY_B, KEY_A)
    for sealing in (old, installed, used):
        for opening in (installed, used):
            sealer, _ = pair(sealing, epoch=random.Random(1).getrandbits(32))
            _, opener = pair(opening)
            assert opener.open(DATAGRAM, sealer.seal(DATAGRAM, b"x")) == b"x"
    done = used.remove(KEY_A)
    assert done.keys == (KEY_B,)
    with pytest.raises(KeyringError, match="primary key cannot be removed"):
        done.remove(KEY_B)
    with pytest.raises(KeyringError, match="not installed"):
        done.use(KEY_C)


def test_a_keyring_reads_back_from_its_file_and_a_bad_one_says_what_is_wrong() -> None:
    ring = Keyring(KEY_A, (KEY_B,))
    assert Keyring.from_text(ring.to_text(), "keys/cluster.keys") == ring
    assert decode_key(encode_key(KEY_C)) == KEY_C
    with pytest.raises(KeyringError, match=r"keys/x\[1\]: a key is 32 bytes, this one is 3"):
        Keyring.from_text('["' + encode_key(KEY_A) + '", "AAAA"]', "keys/x")
    with pytest.raises(KeyringError, match="not JSON"):
        Keyring.from_text("{", "keys/x")
    with pytest.raises(KeyringError, match="JSON list of base64 keys"):
        Keyring.from_text("[]", "keys/x")
    with pytest.raises(KeyringError, match="installed twice"):
        Keyring(KEY_A, (KEY_A,))
    with pytest.raises(KeyringError, match=f"at most {MAX_KEYS}"):
        Keyring(KEY_A, tuple(bytes([n]) * KEY_SIZE for n in range(10, 10 + MAX_KEYS)))


def test_the_replay_guard_holds_a_bounded_number_of_epochs() -> None:
    guard = ReplayGuard(max_epochs=3)
    for epoch in range(10):
        assert not guard.seen(epoch, 1)
    assert len(guard) == 3
    assert guard.seen(9, 1) and not guard.seen(0, 1)  # epoch 0 was pushed out: what the guard gives up
