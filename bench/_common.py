"""Shared helpers: progress on stderr, percentiles, RSS, the shared corpus and prebuilt index locations."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("ARCHIVEBOT_SHARED", REPO.parent / "shared"))
CORPUS = Path(os.environ.get("ARCHIVEBOT_BENCH_CORPUS", SHARED / "corpus" / "bbc-news"))
DEV_QUESTIONS = Path(os.environ.get("ARCHIVEBOT_BENCH_QUESTIONS", SHARED / "eval" / "dev_questions.jsonl"))
# A prebuilt index of seeds + the BBC corpus (real model). Only read: the benches copy it first.
PREBUILT = Path(os.environ.get("ARCHIVEBOT_BENCH_INDEX", REPO.parent / "cache" / "data-bbc"))
# An index built with fp32 vectors (ARCHIVEBOT_PRECISION=fp32 or the torch backend), for the fp32 encoders'
# answering figures; an index answers only with the kind of vectors it was built from.
PREBUILT_FP32 = Path(os.environ.get("ARCHIVEBOT_BENCH_INDEX_FP32", str(PREBUILT)))

# Our own held-out questions (tests/data), for the benches that report both sets.
HELD_OUT_QUESTIONS = REPO / "tests" / "data" / "heldout_questions.jsonl"

_START = time.monotonic()


def questions(*paths: Path) -> list[str]:
    """The "q" of every line of these JSONL question files (default: the dev questions); a missing file adds none."""
    out: list[str] = []
    for path in paths or (DEV_QUESTIONS,):
        if path.exists():
            out += [json.loads(line)["q"] for line in path.read_text().splitlines() if line.strip()]
    return out


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - _START:7.1f}s] {message}", file=sys.stderr, flush=True)


class Progress:
    """`done/total`, rate and ETA on stderr, at most every `every` seconds."""

    def __init__(self, what: str, total: int, every: float = 5.0) -> None:
        self.what, self.total, self.every = what, total, every
        self.started = self.last = time.monotonic()

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last < self.every and done < self.total:
            return
        self.last = now
        rate = done / (now - self.started) if now > self.started else 0.0
        eta = (self.total - done) / rate if rate else float("nan")
        log(f"{self.what}: {done}/{self.total} ({rate:.1f}/s, ETA {eta:.0f} s)")


def percentiles(values: list[float] | np.ndarray) -> dict[str, float]:
    array = np.asarray(values, dtype=np.float64)
    if not len(array):
        return {"n": 0}
    return {
        "n": int(len(array)),
        "p50": round(float(np.percentile(array, 50)), 3),
        "p95": round(float(np.percentile(array, 95)), 3),
        "max": round(float(array.max()), 3),
    }


def rss_mb() -> float:
    """Current resident set size of this process in MB."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except OSError:  # pragma: no cover - not Linux
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """VmHWM (peak RSS of this process image; unlike ru_maxrss it is not inherited across exec)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:  # pragma: no cover - not Linux
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def machine() -> dict[str, object]:
    import platform

    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        memory_gb = None
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in load] if load else None,
    }


class TreeMemory:
    """The largest summed RSS of a process and all its descendants (embedding workers are child processes,
    which the kernel's peak RSS of the parent leaves out), sampled from /proc every `every` seconds. With
    `pss`, also the largest summed PSS (shared pages divided among the processes that map them: a PostgreSQL
    server's backends all map its shared buffers, which a sum of RSS counts once per backend)."""

    def __init__(self, pid: int, every: float = 0.25, *, pss: bool = False) -> None:
        self.pid, self.every, self.pss = pid, every, pss
        self.peak_mb = self.peak_pss_mb = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._done.wait(self.every):
            tree = self._tree()
            self.peak_mb = max(self.peak_mb, round(sum(_rss_kb(pid) for pid in tree) / 1024, 1))
            if self.pss:
                self.peak_pss_mb = max(self.peak_pss_mb, round(sum(_pss_kb(pid) for pid in tree) / 1024, 1))

    def _tree(self) -> set[int]:
        parents: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as stat:
                        parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
        tree, grew = {self.pid}, True
        while grew:
            found = {pid for pid, parent in parents.items() if parent in tree} - tree
            tree |= found
            grew = bool(found)
        return tree


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def index_process(archive_dir: Path, environment: dict[str, str], *, echo: bool = False) -> dict[str, Any]:
    """`archivebot index ARCHIVE --json` as its own process, with only `environment`'s ARCHIVEBOT_ settings:
    its summary, wall time and peak RSS (the kernel's, from `wait4`). `echo`: its progress lines go to stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVEBOT_")}
    env.update(environment)
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "index", str(archive_dir), "--json"],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=None if echo else errors,
            text=True,
        )
        assert process.stdout is not None
        tree = TreeMemory(process.pid)
        output = process.stdout.read()  # to the end; the child is reaped below, with its resource usage
        tree.stop()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            errors.seek(0)
            raise RuntimeError(f"archivebot index failed ({process.returncode}): {errors.read()[-2000:]}")
    summary = json.loads(output)
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "peak_tree_rss_mb": tree.peak_mb,
        **{key: summary[key] for key in ("added", "updated", "unchanged", "passages_embedded", "sentences_embedded")},
    }
