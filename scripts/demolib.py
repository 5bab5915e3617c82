"""What the scripted demos share: a cluster from a layout (on free ports when a test asks), always stopped.

Each demo is a readable script `scripts/demo_NAME.py` whose module docstring's first line says what it
shows (`clusterctl demo` lists them) and whose `main(argv)` returns 0 only when everything it claims held.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from actors import RunDir  # noqa: E402
from cluster import Cluster, prepare  # noqa: E402
from cluster.ops.client import ClusterClient  # noqa: E402
from cluster.ops.testing import on_free_ports  # noqa: E402


def arguments(description: str, argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--run-dir", help="where the nodes keep their logs and events (default: a temp dir)")
    parser.add_argument("--free-ports", action="store_true", help="move the layout to free ports (tests)")
    return parser.parse_args(argv)


def say(line: str = "") -> None:
    print(line, flush=True)


@contextlib.contextmanager
def running(layout_file: Path, args: argparse.Namespace) -> Iterator[tuple[Cluster, ClusterClient]]:
    """The layout up (cluster_started seen), then down whatever happens inside."""
    workdir = Path(args.run_dir) if args.run_dir else Path(tempfile.mkdtemp(prefix="demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if args.free_ports:
        layout_file = on_free_ports(layout_file, workdir)
    cluster = prepare(layout_file, RunDir(workdir / "run"))
    try:
        result = cluster.up(timeout=30, progress=lambda line: say(f"  {line}"))
        if not result.started:
            raise RuntimeError(f"the cluster did not start: {result.problems}")
        yield cluster, ClusterClient(cluster)
    finally:
        say("\n$ clusterctl down")
        cluster.down(progress=lambda line: say(f"  {line}"))
