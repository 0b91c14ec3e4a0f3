"""A short run of the soak test (`make soak` runs 2,000 requests): mixed requests from many users with a reindex
in the middle, through the fake Discord; no failures, nothing logged as an error, every message within limits."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
PROJECT = Path(__file__).resolve().parent.parent


async def test_short_soak_has_no_failures():
    if str(PROJECT) not in sys.path:
        sys.path.insert(0, str(PROJECT))
    from bench.soak import soak

    args = argparse.Namespace(
        requests=120,
        concurrency=8,
        users=20,
        user_rate=1000,
        new_articles=3,
        timeout=20.0,
        corpus=None,
        corpus_limit=0,
        real_model=False,
        seed=3,
        view_timeout=None,
        answers_capacity=None,
    )
    report = await soak(args)
    assert report["failures"] == 0, report["failure_examples"]
    assert report["errors_logged"] == 0, report["error_examples"]
    assert report["messages_over_limits_or_pinging"] == 0, report["limit_examples"]
    assert report["requests"] == 120
    assert "3 added" in report["reindex"]["summary"]
    assert report["ok"]
