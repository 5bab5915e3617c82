"""Where a running cluster keeps its files, and the one piece of node state that must survive a restart.

Layout of a run directory (default `.cluster/<cluster name>/`):

    layout.yaml            the layout the cluster was started with (nodes restart from this copy)
    <node>.pid             pid of the node's process
    <node>.log             the node's log (stdout and stderr too)
    <node>.events.jsonl    the node's event log, one JSON object per line
    <node>.generation      the node's generation: grows by one at every start (architecture §3)
"""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from cluster.layout.loader import load_layout
from cluster.layout.model import Layout
from cluster.wire.keyring import KEY_SIZE, Keyring, KeyringError
from cluster.wire.seal import EPOCH_BITS, Sealing


@dataclass(frozen=True)
class RunDir:
    root: Path

    @classmethod
    def default_for(cls, cluster: str, base: Path | None = None) -> RunDir:
        return cls((base or Path.cwd()) / ".cluster" / cluster)

    @property
    def layout_file(self) -> Path:
        return self.root / "layout.yaml"

    @property
    def origin_file(self) -> Path:
        """The folder the copied layout came from: its `app.path` roots are relative to that folder."""
        return self.root / "layout-origin"

    @property
    def keyring_file(self) -> Path:
        """The cluster's keyring when its layout names none: made by `ensure_keyring`, mode 0600."""
        return self.root / "cluster.keys"

    def keyring_for(self, layout: Layout) -> Path | None:
        """Where the layout's nodes find their keyring: the one it names, else this directory's; None
        when it runs unsealed (`security: none`)."""
        if layout.keyring is not None:
            return layout.keyring
        return None if layout.security == "none" else self.keyring_file

    def keyring_made_for(self, layout: Layout) -> Path | None:
        """`keyring_for`, making this directory's keyring first when that is the one the layout's nodes
        use: what preparing a run (`prepare`, an in-process cluster) does, once, before any node starts."""
        path = self.keyring_for(layout)
        if path == self.keyring_file:
            self.ensure_keyring()
        return path

    def ensure_keyring(self) -> Path:
        """This directory's keyring, made with a new key if there is none yet (readable by its owner
        alone). Made once, by whoever prepares the run: every node of it then shares the key."""
        path = self.keyring_file
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(Keyring(secrets.token_bytes(KEY_SIZE)).to_text())
        return path

    def record_origin(self, layout_path: Path) -> None:
        _write_atomically(self.origin_file, str(layout_path.resolve().parent) + "\n")

    def load_layout(self, path: Path | None = None) -> Layout:
        """The layout at `path` (default this directory's copy), with the copy's `app.path` resolved where
        the original was."""
        path = path or self.layout_file
        relative_to = None
        if path.resolve() == self.layout_file.resolve() and self.origin_file.exists():
            relative_to = Path(self.origin_file.read_text().strip())
        return load_layout(path, relative_to=relative_to)

    def pid_file(self, node: str) -> Path:
        return self.root / f"{node}.pid"

    def log_file(self, node: str) -> Path:
        return self.root / f"{node}.log"

    def events_file(self, node: str) -> Path:
        return self.root / f"{node}.events.jsonl"

    def generation_file(self, node: str) -> Path:
        return self.root / f"{node}.generation"

    def read_pid(self, node: str) -> int | None:
        try:
            text = self.pid_file(node).read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def write_pid(self, node: str, pid: int) -> None:
        # Atomic but not synced: a pid outlives no crash of the machine, and 101 fsyncs queued behind
        # the starting nodes' own writes kept `clusterctl up` from looking at the cluster for 5 s.
        _write_atomically(self.pid_file(node), f"{pid}\n", durable=False)

    def next_generation(self, node: str) -> int:
        """Read, increment and persist the generation before the node says hello to anyone."""
        path = self.generation_file(node)
        try:
            previous = int(path.read_text().strip() or 0)
        except FileNotFoundError:
            previous = 0
        except ValueError as error:
            raise ValueError(f"{path}: generation file is corrupt: {error}") from error
        generation = previous + 1
        _write_atomically(path, f"{generation}\n")
        return generation


def load_sealing(path: Path, cluster: str, *, max_epochs: int) -> Sealing:
    """The sealing of one life (a node's, or one clusterctl's) under the keyring file at `path`: a fresh
    random epoch, so its nonces and sequence numbers are its own. KeyringError says what is wrong with
    the file, a missing one included."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise KeyringError(
            f"{path}: no keyring to seal with ({reason}); `clusterctl up` makes one, a layout names one "
            "with `keyring:`, or opts out with `security: none`"
        ) from None
    keyring = Keyring.from_text(text, str(path))
    return Sealing.of(keyring, cluster, epoch=secrets.randbits(EPOCH_BITS), max_epochs=max_epochs)


def _write_atomically(path: Path, text: str, *, durable: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # One temporary file per writer: the launcher and the node itself both write the pid file, at once.
    temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        if durable:
            os.fsync(handle.fileno())
    os.replace(temporary, path)
