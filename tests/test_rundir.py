"""The run directory: files that several processes write, and the generation that only grows."""

from __future__ import annotations

import threading
from pathlib import Path

from actors.rundir import RunDir


def test_run_dir_files_survive_concurrent_writers(tmp_path: Path) -> None:
    """The launcher and the node both write the node's pid file; neither may fail for the other."""
    run_dir = RunDir(tmp_path)
    errors: list[BaseException] = []

    def write(pid: int) -> None:
        try:
            for _ in range(200):
                run_dir.write_pid("worker-1", pid)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(pid,)) for pid in (11, 22, 33)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert errors == []
    assert run_dir.read_pid("worker-1") in (11, 22, 33)


def test_generation_grows_by_one_per_start_and_survives_restarts(tmp_path: Path) -> None:
    assert [RunDir(tmp_path).next_generation("manager") for _ in range(3)] == [1, 2, 3]
    assert RunDir(tmp_path).next_generation("worker-1") == 1
