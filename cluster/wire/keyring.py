"""A cluster keyring: one primary key that seals, and secondary keys that still open.

Rotation works as Serf's does: install a new key everywhere, make it primary everywhere, then remove the
old one; at every step each node opens what any other seals. The file format is Serf's keyring file too
(a JSON list of base64 keys, the primary first), so an operator who has rotated Serf's keys reads ours.
A value: every change returns a new keyring. Pure: no file is read or written here.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

__all__ = ["KEY_SIZE", "MAX_KEYS", "Keyring", "KeyringError", "decode_key", "encode_key"]

KEY_SIZE = 32
"""Bytes of a key: AES-256 (`cluster.wire.seal` says why AES-GCM)."""

MAX_KEYS = 8
"""Keys installed at once. A packet that opens under none is tried under each, so this bounds what one
garbled or forged packet costs (`cluster.wire.seal`); a rotation needs two."""


class KeyringError(ValueError):
    """A key or keyring that cannot be used, and why."""


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def decode_key(text: str, where: str = "key") -> bytes:
    """A key from its base64 form (what `clusterctl keygen` prints); KeyringError says what is wrong."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise KeyringError(f"{where}: not base64: {error}") from None
    if len(key) != KEY_SIZE:
        raise KeyringError(f"{where}: a key is {KEY_SIZE} bytes, this one is {len(key)}")
    return key


@dataclass(frozen=True, slots=True)
class Keyring:
    primary: bytes
    secondaries: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        for key in self.keys:
            if len(key) != KEY_SIZE:
                raise KeyringError(f"a key is {KEY_SIZE} bytes, not {len(key)}")
        if len(set(self.keys)) != len(self.keys):
            raise KeyringError("a key is installed twice")
        if len(self.keys) > MAX_KEYS:
            raise KeyringError(f"at most {MAX_KEYS} keys may be installed at once, not {len(self.keys)}")

    @property
    def keys(self) -> tuple[bytes, ...]:
        """Every key, the primary first: the order packets are tried in."""
        return (self.primary, *self.secondaries)

    def install(self, key: bytes) -> Keyring:
        """`key` opens packets too (already installed: unchanged)."""
        if key in self.keys:
            return self
        return Keyring(self.primary, (*self.secondaries, key))

    def use(self, key: bytes) -> Keyring:
        """`key`, installed already, seals from now on; the old primary still opens."""
        if key == self.primary:
            return self
        if key not in self.secondaries:
            raise KeyringError("the key to use is not installed; install it first")
        rest = tuple(k for k in self.secondaries if k != key)
        return Keyring(key, (self.primary, *rest))

    def remove(self, key: bytes) -> Keyring:
        """`key` no longer opens anything. The primary cannot be removed: use another key first."""
        if key == self.primary:
            raise KeyringError("the primary key cannot be removed; use another key first")
        if key not in self.secondaries:
            raise KeyringError("the key to remove is not installed")
        return Keyring(self.primary, tuple(k for k in self.secondaries if k != key))

    def to_text(self) -> str:
        return json.dumps([encode_key(key) for key in self.keys]) + "\n"

    @classmethod
    def from_text(cls, text: str, where: str) -> Keyring:
        """A keyring file's content (`where` names it in errors)."""
        try:
            listed = json.loads(text)
        except json.JSONDecodeError as error:
            raise KeyringError(f"{where}: not JSON: {error}") from None
        if not isinstance(listed, list) or not listed or not all(isinstance(k, str) for k in listed):
            raise KeyringError(f"{where}: a keyring is a JSON list of base64 keys, the primary first")
        keys = [decode_key(k, f"{where}[{i}]") for i, k in enumerate(listed)]
        try:
            return cls(keys[0], tuple(keys[1:]))
        except KeyringError as error:
            raise KeyringError(f"{where}: {error}") from None
