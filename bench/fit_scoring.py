"""Fit the sentence scorer's weights (index/_scoring.py) and show how well they generalise.

    python -m bench.fit_scoring --data-dir /tmp/bbc [--selection FILE.csv[:WEIGHT] ...] [--questions FILE.jsonl ...]

Stage 1 (text relevance) is fitted on answer-selection CSV files (`qtext,label,atext`; default: the public
TREC development file and our own fixture, counted twice: it is news, the domain we serve). Stage 2 (the
archive features) is fitted on the candidate pools the engine builds for questions with known answers over
an indexed archive (default: the development questions and the first turns of the follow-up conversations;
a candidate is correct when it holds an expected answer and comes from the expected article; one holding
the answer in another article is left out). Both stages are L2-regularised logistic regressions, numpy only.

Printed: the out-of-fold MAP of leave-questions-out cross-validation (5 folds x 3 shuffles for stage 1,
leave-one-question-out for stage 2), the same figures for the weights currently in index/_scoring.py, and
the fitted weights to paste there. Held-out sets (tests/data/heldout_questions.jsonl) are not used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.answering import scoring_model as _scoring
from index.operations.evaluation import load_sentence_pairs, location_matches, ranking_quality, sentence_pools

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "eval"
DEFAULT_SELECTION = [f"{SHARED / 'answer_selection_dev.csv'}:1", f"{ROOT / 'tests/data/answer_selection.csv'}:2"]
DEFAULT_QUESTIONS = [str(SHARED / "dev_questions.jsonl"), str(SHARED / "followup_questions.jsonl")]
TEXT = list(_scoring.TEXT_FEATURES)
ARCHIVE = ["text", *_scoring.ARCHIVE_FEATURES]

Group = tuple[np.ndarray, np.ndarray, float]  # features (standardised), labels (1, 0; -1 = left out), weight


def fit_logistic(groups: Sequence[Group], l2: float = 1.0, steps: int = 4000, rate: float = 0.2) -> np.ndarray:
    """Weights of a logistic regression over the rows of all groups (labels -1 left out)."""
    rows = [(x[y >= 0], y[y >= 0], np.full(int((y >= 0).sum()), weight)) for x, y, weight in groups]
    features = np.vstack([r[0] for r in rows])
    labels = np.concatenate([r[1] for r in rows]).astype(float)
    sample = np.concatenate([r[2] for r in rows])
    weights = np.zeros(features.shape[1])
    bias = 0.0
    total = sample.sum()
    for _ in range(steps):
        error = (1.0 / (1.0 + np.exp(-(features @ weights + bias))) - labels) * sample
        weights -= rate * (features.T @ error / total + l2 * weights / total)
        bias -= rate * error.sum() / total
    return weights


def quality(groups: Sequence[Group], weights: np.ndarray) -> tuple[float, float]:
    """(MAP, share of questions whose best-scored candidate is correct), ties against the correct ones."""
    precisions, firsts = [], []
    for features, labels, _ in groups:
        kept = labels >= 0
        scores = list(features[kept] @ weights)
        measured = ranking_quality(scores, [int(v) for v in labels[kept]])
        if measured:
            precisions.append(measured[0])
            firsts.append(1.0 if measured[1] == 1.0 else 0.0)
    return round(statistics.fmean(precisions), 4), round(statistics.fmean(firsts), 4)


def cross_validate(named: dict[str, list[Group]], folds: int, shuffles: int) -> dict[str, float]:
    """Out-of-fold MAP per set: questions are held out, never single rows."""
    everything = [(name, i) for name, groups in named.items() for i in range(len(groups))]
    results: dict[str, list[float]] = {name: [] for name in named}
    for shuffle in range(shuffles):
        order = np.random.default_rng(shuffle).permutation(len(everything))
        for fold in range(folds):
            held = {everything[j] for j in order[fold::folds]}
            train = [g for name, gs in named.items() for i, g in enumerate(gs) if (name, i) not in held]
            weights = fit_logistic(train)
            for name, i in held:
                results[name].append(quality([named[name][i]], weights)[0])
    return {name: round(statistics.fmean(values), 4) for name, values in results.items()}


def selection_groups(path: str, embedder: Any) -> list[Group]:
    file, _, weight = path.partition(":")
    groups = []
    for pool in sentence_pools(load_sentence_pairs(Path(file)), embedder):
        if not (any(pool.labels) and not all(pool.labels)):
            continue  # nothing to rank (and not counted by eval-sentences either)
        raw = _scoring.pool_features(pool.analysis, pool.question_vector, pool.candidates)
        features = _scoring.standardise(raw)[:, : len(TEXT)]
        groups.append((features, np.array(pool.labels), float(weight or 1)))
    return groups


def archive_row(raw: np.ndarray) -> np.ndarray:
    """Stage-2 features of a pool: the stage-1 logit (current text weights) and the archive features."""
    standardised = _scoring.standardise(raw)
    columns = [_scoring.FEATURES.index(name) for name in _scoring.ARCHIVE_FEATURES]
    return np.column_stack([_scoring.text_logits(standardised), standardised[:, columns]])


def _turns(paths: Sequence[str]) -> list[dict[str, Any]]:
    """Answerable questions; of a conversation only its first turn (later ones need their history)."""
    items = []
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                first = record["turns"][0] if "turns" in record else record
                if first.get("article"):
                    items.append(first)
    return items


async def archive_pools(data_dir: Path, paths: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(raw features, labels) of the candidate pool the engine scores for each question."""
    from index import Archive, Settings

    recorded: list[tuple[list[Any], np.ndarray]] = []
    original = _scoring.pool_features

    def recording(analysis: Any, question_vector: Any, candidates: list[Any]) -> np.ndarray:
        raw = original(analysis, question_vector, candidates)
        recorded.append((candidates, raw))
        return raw

    _scoring.pool_features = recording  # type: ignore[assignment]  # a spy on the engine's own call
    pools = []
    archive = await Archive.open(Settings.from_env({"ARCHIVEBOT_DATA_DIR": str(data_dir)}, load_dotenv=False))
    try:
        await archive.warm_up()
        for item in _turns(paths):
            recorded.clear()
            await archive.ask(item["q"])
            if not recorded:
                continue
            candidates, raw = recorded[-1]
            labels = []
            for candidate in candidates:
                holds = any(answer.lower() in candidate.text.lower() for answer in item["answers"])
                async with archive._storage.reader() as reader:
                    article = await reader.articles_by_rows([candidate.key[0]])
                right = location_matches(article[candidate.key[0]].location, item["article"])
                labels.append(1 if holds and right else (-1 if holds else 0))
            if 1 in labels:
                pools.append((raw, np.array(labels)))
    finally:
        _scoring.pool_features = original  # type: ignore[assignment]
        await archive.close()
    return pools


def leave_one_out(groups: list[Group]) -> tuple[float, float]:
    scores = [quality([groups[i]], fit_logistic(groups[:i] + groups[i + 1 :])) for i in range(len(groups))]
    return round(statistics.fmean(s[0] for s in scores), 4), round(statistics.fmean(s[1] for s in scores), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="an indexed archive (BBC corpus + seeds)")
    parser.add_argument("--selection", nargs="*", default=DEFAULT_SELECTION, help="CSV[:WEIGHT] files")
    parser.add_argument("--questions", nargs="*", default=DEFAULT_QUESTIONS, help="JSONL question files")
    args = parser.parse_args()
    from index import Settings, make_embedder

    embedder = make_embedder(Settings.from_env({"ARCHIVEBOT_EMBED_WORKERS": "1"}, load_dotenv=False))
    named = {Path(path.partition(":")[0]).name: selection_groups(path, embedder) for path in args.selection}
    current_text = np.array([_scoring.TEXT_WEIGHTS[name] for name in TEXT])
    report: dict[str, Any] = {"stage1_current": {n: quality(g, current_text)[0] for n, g in named.items()}}
    report["stage1_cross_validated"] = cross_validate(named, folds=5, shuffles=3)
    text_weights = fit_logistic([g for groups in named.values() for g in groups])
    report["stage1_fitted"] = {n: quality(g, text_weights)[0] for n, g in named.items()}
    current_archive = np.array([_scoring.ARCHIVE_WEIGHTS[name] for name in ARCHIVE])
    raw_pools = asyncio.run(archive_pools(args.data_dir, args.questions))
    _scoring.TEXT_WEIGHTS = dict(zip(TEXT, (round(float(w), 2) for w in text_weights), strict=True))
    pools: list[Group] = [(archive_row(raw), labels, 1.0) for raw, labels in raw_pools]
    report["stage2_questions"] = len(pools)
    report["stage2_current_map_top1"] = quality(pools, current_archive)
    report["stage2_leave_one_out_map_top1"] = leave_one_out(pools)
    archive_weights = fit_logistic(pools)
    report["stage2_fitted_map_top1"] = quality(pools, archive_weights)
    report["TEXT_WEIGHTS"] = _scoring.TEXT_WEIGHTS
    report["ARCHIVE_WEIGHTS"] = {name: round(float(w), 2) for name, w in zip(ARCHIVE, archive_weights, strict=True)}
    json.dump(report, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
