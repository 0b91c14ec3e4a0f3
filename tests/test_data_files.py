"""tests/data/validate.py over the evaluation files: it passes on them, and it catches a broken line.

The held-out files and the near-miss / paraphrase sets of issue 19 are checked against the BBC corpus (answers
verbatim in their article, a near miss's "missing" token absent from its near article, articles used by no
other set, ...). validate.py is a script, not a pytest module; these tests run it as one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS, DEV_QUESTIONS, PROJECT, needs_corpus

DATA = PROJECT / "tests" / "data"
pytestmark = [needs_corpus, pytest.mark.skipif(not DEV_QUESTIONS.exists(), reason="../shared/eval is absent")]


def run_validate(data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(data / "validate.py"), "--corpus", str(CORPUS), "--dev", str(DEV_QUESTIONS)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_evaluation_files_validate() -> None:
    result = run_validate(DATA)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("OK")
    for name in ("near_miss_dev", "near_miss_heldout", "paraphrase_dev", "paraphrase_heldout", "no_question"):
        assert f"{name}.jsonl:" in result.stdout  # each new file is reported, i.e. checked


def test_validate_catches_broken_near_miss_and_paraphrase(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    near_path = data / "near_miss_dev.jsonl"
    near = [json.loads(line) for line in near_path.read_text(encoding="utf-8").splitlines()]
    article = (CORPUS / near[0]["near"]).read_text(encoding="utf-8")
    present = article.splitlines()[0].split()[0]  # the title's first word: in the article by construction
    near[0]["missing"] = present
    near[0]["q"] = f"{near[0]['q']} ({present})"
    near_path.write_text("".join(json.dumps(d) + "\n" for d in near), encoding="utf-8")
    para_path = data / "paraphrase_heldout.jsonl"
    para = [json.loads(line) for line in para_path.read_text(encoding="utf-8").splitlines()]
    para[0]["answers"] = ["a string no article holds 0xDEADBEEF"]
    para_path.write_text("".join(json.dumps(d) + "\n" for d in para), encoding="utf-8")
    (data / "no_question.jsonl").write_text('{"q": "source:bbc who won"}\n', encoding="utf-8")

    result = run_validate(data)

    assert result.returncode == 1
    assert f"missing {present!r} occurs in the near article {near[0]['near']}" in result.stdout
    assert "not verbatim in" in result.stdout
    assert "words left to search for: ['won']" in result.stdout
    assert "no_question.jsonl: 1 lines, expected 10" in result.stdout
