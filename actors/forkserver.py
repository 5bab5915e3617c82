"""Start many nodes fast: one process imports the node code once, then forks a child per node.

A Python node spends most of its start-up importing modules and parsing the layout (about 0.4 s of CPU
each, measured by scripts/bench_startup.py); 51 nodes spawned one by one on 2 cores need 10 s before the
last one listens. Here that work is done once. The rule of architecture §2 still holds: this process is itself
started with `subprocess`, and it forks only while it runs no thread (pykka and the reactor start in
the child, after the fork). It exits once every child is forked; the children run on in their own sessions.

Every child waits at a gate (a pipe) until the last one is forked. Started one by one, the early children
took the CPU from the forkserver itself: each fork then waited in the run queue behind them, and forking
101 nodes took 9 s of which 0.2 s was forking. Held, all 101 are forked in a fifth of a second.

Each node's sockets are bound here, before it is forked, and handed to it alone (`actors.node_sockets`):
released at once, the children still reach their own binding over a second apart on 2 cores, and a peer
that dials or greets one before then would otherwise be refused and wait out a backoff.

    python -m actors.forkserver --layout FILE --run-dir DIR NODE [NODE ...]

prints `NODE PID` per child on stdout, and writes each pid file.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import traceback
from pathlib import Path

from actors.node import EXIT_BAD_LAYOUT, EXIT_CRASHED, run
from actors.node_sockets import NodeSockets, bind_node_sockets
from actors.rundir import RunDir
from cluster.layout.loader import LayoutError
from cluster.layout.model import Layout

MAX_INHERITED_FD = 1024


def fork_node(
    layout: Layout,
    run_dir: RunDir,
    name: str,
    gate: tuple[int, int] | None = None,
    sockets: NodeSockets | None = None,
) -> int:
    """Fork the node `name`; with `gate` (a pipe's read and write ends), the child waits until the
    forkserver closes the write end before it starts. `sockets`, bound for it in advance, go to the child
    alone: this process closes its copies once the child has them."""
    if threading.active_count() != 1:
        raise RuntimeError("refusing to fork: this process runs threads")
    log_fd = os.open(run_dir.log_file(name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    pid = os.fork()
    if pid:
        os.close(log_fd)
        if sockets is not None:
            sockets.close()
        return pid
    code = EXIT_CRASHED
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        # The pipe to clusterctl and anything else inherited, but the node's own sockets and the gate,
        # before waiting at the gate: clusterctl reads the pipe to its end, and 101 children each closing
        # it only once the CPU reached them after the gate opened kept `up` waiting 5 s (32 s at 201).
        keep = (*(sockets.fds() if sockets is not None else ()), *(gate or ()))
        _close_descriptors_but(keep)
        if gate is not None:
            _wait_at(*gate)
        code = run(layout, name, run_dir, sockets=sockets)
    except BaseException as error:
        traceback.print_exc()
        print(f"node {name} failed: {error!r}", file=sys.stderr, flush=True)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m actors.forkserver", description=__doc__.splitlines()[0])
    parser.add_argument("--layout", required=True)
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("nodes", nargs="+")
    args = parser.parse_args(argv)
    run_dir = RunDir(Path(args.run_dir))
    try:
        layout = run_dir.load_layout(Path(args.layout))
        for name in args.nodes:
            layout.node(name)
    except (LayoutError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_LAYOUT
    run_dir.root.mkdir(parents=True, exist_ok=True)
    # Worked out once here and inherited by every child, rather than once in each (5 ms of a node's start,
    # half a core-second for 101 nodes starting together).
    _ = layout.digest
    gate, release = os.pipe()
    forked = []
    try:
        for name in args.nodes:
            sockets = _bind_in_advance(layout, name)
            pid = fork_node(layout, run_dir, name, (gate, release), sockets)
            # Recorded here, while no node runs yet: once they start, each syncs its generation file,
            # and a pid file written by clusterctl then waited on the file system's journal (5 s at 101).
            run_dir.write_pid(name, pid)
            forked.append((name, pid))
        # Said before the gate opens: once 101 nodes run, this process would wait seconds for the CPU.
        print("".join(f"{name} {pid}\n" for name, pid in forked), end="", flush=True)
    except BaseException:
        os.close(release)  # every child forked so far starts, and is reported by `up` as it would be
        raise
    # The gate opens: every child starts now. Then straight out, without the interpreter's clean-up: from
    # here this is one thread among the children's thousands, and clusterctl waits for it to end.
    os.close(release)
    sys.stderr.flush()
    os._exit(0)


def _bind_in_advance(layout: Layout, name: str) -> NodeSockets | None:
    """The node's sockets, bound before any node runs (`actors.node_sockets` says why); None when they
    cannot be bound, and the child then tries again itself and reports the failure as a lone node would
    (a port in use, by name, with its own exit code)."""
    spec = layout.node(name)
    try:
        return bind_node_sockets(spec.host, spec.port, spec.metrics_port)
    except OSError:
        return None


def _close_descriptors_but(keep: tuple[int, ...]) -> None:
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, MAX_INHERITED_FD)


def _wait_at(gate: int, release: int) -> None:
    """Block until the pipe's write end is closed everywhere: the child's own copy first, then (at EOF)
    the forkserver's. Children forked earlier closed theirs before waiting, so only the forkserver's is
    left to close."""
    os.close(release)
    while os.read(gate, 1):
        pass


if __name__ == "__main__":
    sys.exit(main())
