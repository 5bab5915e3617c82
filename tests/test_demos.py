"""Every scripted demo in scripts/ runs end to end (on free ports) and says it held; `clusterctl demo`
lists them all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMOS = sorted((ROOT / "scripts").glob("demo_*.py"))


@pytest.mark.timeout(180)
@pytest.mark.parametrize("script", DEMOS, ids=[script.stem for script in DEMOS])
def test_the_demo_runs_end_to_end(script: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(script), "--free-ports", "--run-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=170,
        cwd=ROOT,
    )
    assert result.returncode == 0, f"{script.name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert "stopped" in result.stdout  # it brought its cluster down


def test_clusterctl_demo_lists_every_demo() -> None:
    command = [sys.executable, "-m", "cluster.ops.cli", "demo"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0
    for script in DEMOS:
        assert script.stem.removeprefix("demo_") in result.stdout
    assert "quickstart" in result.stdout
