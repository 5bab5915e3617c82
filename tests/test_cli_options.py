"""`clusterctl`'s common options go before the verb or after it, as a user types them."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from cluster.ops.cli import build_parser
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    "argv",
    [
        ["--run-dir", "D", "--cluster", "c", "--json", "status"],
        ["status", "--run-dir", "D", "--cluster", "c", "--json"],
        ["--run-dir", "D", "status", "--cluster", "c", "--json"],
        ["members", "--node", "w", "--run-dir", "D", "--cluster", "c", "--json"],
        ["state", "get", "k", "--run-dir", "D", "--json", "--cluster", "c"],
        ["state", "--run-dir", "D", "set", "k", "v", "--cluster", "c", "--json"],
        ["events", "-f", "--json", "--run-dir", "D", "--cluster", "c"],
    ],
)
def test_common_options_are_read_wherever_they_stand(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.run_dir, args.cluster, args.json) == ("D", "c", True)


def test_without_them_the_defaults_hold() -> None:
    args = build_parser().parse_args(["kill", "worker-1"])
    assert (args.run_dir, args.cluster, args.json) == (None, None, False)


def test_an_option_after_the_verb_reaches_the_command(tmp_path: object) -> None:
    # The reported failure: `clusterctl status --run-dir DIR` said "unrecognized arguments".
    result = subprocess.run(
        [sys.executable, "-m", "cluster.ops.cli", "status", "--run-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert result.returncode == 1
    assert "no cluster was started here" in result.stderr and "unrecognized" not in result.stderr


def verb_paths(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every verb and sub-verb the parser knows, so a help text added later is checked too."""
    found = [path]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += verb_paths(sub, (*path, name))
    return found


def test_every_verb_prints_its_help() -> None:
    # The reported failure: a bare "10%" in the loss verb's help made `clusterctl --help` a traceback.
    for path in verb_paths(build_parser()):
        with pytest.raises(SystemExit) as exited:
            build_parser().parse_args([*path, "--help"])
        assert exited.value.code == 0, path


def test_keygen_prints_a_new_32_byte_key_each_time() -> None:
    from cluster.wire.keyring import decode_key

    command = [sys.executable, "-m", "cluster.ops.cli", "keygen"]
    keys = [subprocess.run(command, capture_output=True, text=True, timeout=30, cwd=ROOT) for _ in range(2)]
    assert all(k.returncode == 0 for k in keys)
    first, second = (decode_key(k.stdout) for k in keys)
    assert len(first) == 32 and first != second


def test_up_warns_when_an_unsealed_layout_listens_beyond_loopback() -> None:
    from cluster.layout.loader import parse_layout
    from cluster.ops.cli import unsealed_exposure

    head = "cluster: c\nnodes:\n  manager: {role: manager, host: 127.0.0.1, port: 9000}\n"
    wide = "  worker: {role: worker, host: 10.1.2.3, port: 9001}\n"
    assert unsealed_exposure(parse_layout(head + wide + "security: none\n")) == ["worker (10.1.2.3)"]
    assert unsealed_exposure(parse_layout(head + "security: none\n")) == []
