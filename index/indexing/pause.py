"""A test hook for the crash-safety tests: stop an index run at a named point so a test can kill it there."""

from __future__ import annotations

import os
import time
from pathlib import Path


def pause_for_tests(point: str) -> None:
    """Inert unless `ARCHIVEBOT_TEST_PAUSE_AT` names `point`.

    Points: `embed` (after the first embedded batch was staged), `commit:rows` (inside the commit
    transaction, rows written), `commit:vectors` (the next vector file written and the generation recorded,
    not yet committed), `commit:full-text` (the embedded backend's next tantivy generation in place too, not
    yet committed) and `committed` (after COMMIT, before clean-up). When it matches, the process writes
    its pid to the file `ARCHIVEBOT_TEST_PAUSE_FILE` and waits (at most 10 minutes) until that file is
    deleted: the test can SIGKILL it exactly there, or delete the file to let it go on."""
    if os.environ.get("ARCHIVEBOT_TEST_PAUSE_AT") != point:
        return
    marker = Path(os.environ.get("ARCHIVEBOT_TEST_PAUSE_FILE", "archivebot-test-pause"))
    marker.write_text(f"{os.getpid()}\n")
    deadline = time.monotonic() + 600
    while marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
