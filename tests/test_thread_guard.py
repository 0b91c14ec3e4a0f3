"""The suite's thread guard (tests/thread_guard.py): a test that leaves a non-daemon thread running fails the run,
named, and the process exits instead of hanging (CI once waited out its 90 minutes after "799 passed")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent

LEAKING = """
import threading

pytest_plugins = ["thread_guard"]
STOP = threading.Event()


def test_leaks_a_thread():
    threading.Thread(target=STOP.wait, name="leaked-worker").start()


def test_clean():
    assert True
"""


def test_a_leaked_thread_fails_the_run_with_its_test_and_the_process_exits(tmp_path: Path) -> None:
    (tmp_path / "test_leak.py").write_text(LEAKING)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,  # without the guard the process never exits
        env={"PYTHONPATH": str(TESTS), "PATH": "/usr/bin:/bin", "THREAD_GUARD_GRACE_SECONDS": "0.2"},
        cwd=tmp_path,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "2 passed" in run.stdout
    assert "leaked-worker (started during test_leak.py::test_leaks_a_thread)" in run.stderr
