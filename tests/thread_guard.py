"""A leaked thread fails the run with the test that started it, instead of hanging the process at exit.

aiosqlite ran each connection in a non-daemon thread: a connection never closed kept the interpreter alive after
the last test (CI once waited out its 90 minutes on two of them after "799 passed"). The archive's connections
are daemon threads now (index/storage/sqlite/schema.py), and any other non-daemon thread a test leaves behind
is caught here: each test's new non-daemon threads are recorded; at the end of the session those still alive
are reported with their test, the run fails, and the process exits instead of waiting for them.
"""

from __future__ import annotations

import os
import sys
import threading

import pytest

# A thread being closed (aiosqlite's stop message queued) ends within milliseconds.
GRACE_SECONDS = float(os.environ.get("THREAD_GUARD_GRACE_SECONDS", "5"))

_started_by: dict[int, str] = {}  # thread ident -> the test during which it started


def _live_non_daemon() -> dict[int, threading.Thread]:
    return {
        thread.ident: thread
        for thread in threading.enumerate()
        if thread.ident is not None and not thread.daemon and thread is not threading.main_thread()
    }


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):  # type: ignore[no-untyped-def]
    before = set(_live_non_daemon())
    yield
    for ident in set(_live_non_daemon()) - before:
        _started_by.setdefault(ident, item.nodeid)


def leaked_threads() -> list[str]:
    """Non-daemon threads still alive after a grace period, each with the test that started it."""
    leaked = []
    for ident, thread in _live_non_daemon().items():
        thread.join(GRACE_SECONDS)
        if thread.is_alive():
            leaked.append(f"{thread.name} (started during {_started_by.get(ident, 'session set-up')})")
    return leaked


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leaked = leaked_threads()
    if not leaked:
        return
    print("\nthread_guard: non-daemon threads left running (the process would never exit):", file=sys.stderr)
    for line in leaked:
        print(f"  {line}", file=sys.stderr)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if any(thread.is_alive() for thread in _live_non_daemon().values()):
        # Reported above; leave now rather than wait for threads that will never end.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(pytest.ExitCode.TESTS_FAILED)
