"""Is that pid still our node? Checks that survive zombies and pid reuse.

`os.kill(pid, 0)` alone says yes to a zombie and to an unrelated process that inherited a recycled pid;
`clusterctl` must never signal either, so liveness also reads /proc (Linux) for the state and the command
line.
"""

from __future__ import annotations

import os
from pathlib import Path


def node_process_alive(pid: int | None, node: str | None = None) -> bool:
    if pid is None or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    proc = Path("/proc") / str(pid)
    if not proc.exists():
        return True  # no /proc (not Linux): os.kill is all we can go by
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return False
    if state in ("Z", "X"):
        return False
    if b"actors.node" not in cmdline and b"actors.forkserver" not in cmdline:
        return False
    return node is None or node.encode() in cmdline


def process_state(pid: int) -> str:
    """'R', 'S', 'T' (stopped), ... or '?' when unknown."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "?"
