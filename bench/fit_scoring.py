"""Fit the sentence scorer's weights (index/answering/scoring_model.py): fit on training data, choose on
development data, report on both and on held-out data, in one run.

    python -m bench.fit_scoring [--data-dir DIR] [--train CSV] [--dev CSV] [--report CSV ...] [--json]

Stage 1 (text relevance, `TEXT_FEATURES`) is FITTED on the public TREC answer-selection training file
(`../shared/eval/answer_selection_train.csv`, `qtext,label,atext`) and nothing else. Its L2 strength, whether
each question or each row weighs the same, and whether the 0/1 features are fitted raw or centred per pool are
CHOSEN on the TREC development file
(`../shared/eval/answer_selection_dev.csv`): the choice with the best development MAP (ties: the stronger
regularisation). The feature set was chosen the same way; the ablation printed below (each feature left out,
BM25 put back, refitted on the training file, measured on the development file) is the evidence. The result
is REPORTED on the development file and on the held-out files (default: our news fixture
`tests/data/answer_selection.csv`, never used to fit or choose; add a TREC test file with --report), beside
plain cosine and BM25 of the same vectors and words, with ties broken against the correct candidates.

Stage 2 (the archive features, `ARCHIVE_FEATURES`, with the stage-1 log-odds as one feature) needs an indexed
archive (--data-dir: seeds/ + the BBC corpus). It is fitted, as before, on the candidate pools the engine
builds for the development questions (`dev_questions.jsonl` and the first turns of `followup_questions.jsonl`;
a candidate is correct when it holds an expected answer and comes from the expected article; one holding the
answer in another article is left out), L2 = 1, every row weighing the same, with its leave-one-question-out
figure. The held-out questions (tests/data/) are used by neither stage.

Both stages are L2-regularised logistic regressions over pool-standardised features (numpy, Newton's method).
Printed: the choice grid, the ablation, the report table, and the weights to paste into scoring_model.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.answering import scoring_model as _scoring
from index.answering.lexical import stem, words
from index.operations.evaluation import (
    SentencePool,
    load_sentence_pairs,
    location_matches,
    ranking_quality,
    sentence_pools,
)

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "eval"
DEFAULT_TRAIN = SHARED / "answer_selection_train.csv"
DEFAULT_DEV = SHARED / "answer_selection_dev.csv"
DEFAULT_REPORT = [ROOT / "tests" / "data" / "answer_selection.csv"]
DEFAULT_QUESTIONS = [str(SHARED / "dev_questions.jsonl"), str(SHARED / "followup_questions.jsonl")]
TEXT = list(_scoring.TEXT_FEATURES)
ARCHIVE = ["text", *_scoring.ARCHIVE_FEATURES]
L2_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
WEIGHTINGS = ("question", "row")  # each question's rows sum to the same weight / every row weighs 1
BINARIES = ("raw", "centred")  # fit on 0/1 features, or on them centred per pool as the scorer applies them
# (centring shifts all of a question's candidates equally: the ranking by given weights is the same either way,
# but the fitted weights differ, since a pointwise fit on raw 0/1 also learns what kind of question has more
# correct candidates)
BM25_K1 = 1.2
BM25_B = 0.75

Group = tuple[np.ndarray, np.ndarray]  # features (standardised), labels (1, 0; -1 = left out)


@dataclass
class TextSet:
    """One answer-selection file as stage 1 sees it: per question, its features, labels and baselines."""

    name: str
    groups: list[Group]  # text features as the scorer sees them (plus "bm25" as the last column, for the ablation)
    raw_binary: list[Group]  # the same with the binary features not centred on the pool (a way to fit)
    cosines: list[np.ndarray]
    bm25: list[np.ndarray]


def bm25_scores(pool: SentencePool) -> np.ndarray:
    """BM25 of each candidate for the question's words, with the scorer's IDF (from the file's sentences)."""
    stems = [[stem(word) for word in words(candidate.text)] for candidate in pool.candidates]
    average = (sum(len(s) for s in stems) / len(stems)) or 1.0
    scores = []
    for items in stems:
        norm = BM25_K1 * (1 - BM25_B + BM25_B * max(len(items), 1) / average)
        scores.append(
            sum(
                weight * items.count(term) * (BM25_K1 + 1) / (items.count(term) + norm)
                for term, weight in pool.analysis.weights.items()
                if term in items
            )
        )
    return np.array(scores)


def z_scores(values: np.ndarray) -> np.ndarray:
    spread = float(values.std())
    return (values - values.mean()) / spread if spread > 1e-9 else np.zeros_like(values)


def text_set(path: Path, embedder: Any) -> TextSet:
    groups, raw_binary, cosines, bm25 = [], [], [], []
    binary = [i for i, name in enumerate(TEXT) if name not in _scoring.CONTINUOUS]
    for pool in sentence_pools(load_sentence_pairs(path), embedder):
        if not (any(pool.labels) and not all(pool.labels)):
            continue  # nothing to rank (and not counted by eval-sentences either)
        raw = _scoring.pool_features(pool.analysis, pool.question_vector, pool.candidates)
        scores = bm25_scores(pool)
        features = np.column_stack([_scoring.standardise(raw)[:, : len(TEXT)], z_scores(scores)])
        groups.append((features, np.array(pool.labels)))
        uncentred = features.copy()
        uncentred[:, binary] = raw[:, binary]
        raw_binary.append((uncentred, np.array(pool.labels)))
        cosines.append(raw[:, _scoring.FEATURES.index("dense")])
        bm25.append(scores)
    return TextSet(path.name, groups, raw_binary, cosines, bm25)


def fit_logistic(groups: Sequence[Group], l2: float = 1.0, weighting: str = "row") -> np.ndarray:
    """Weights of an L2-regularised logistic regression over the rows of all groups (labels -1 left out):
    minimises sum(sample weight x log loss) + l2/2 |w|^2 (the bias unpenalised), by Newton's method."""
    kept = [(x[y >= 0], y[y >= 0]) for x, y in groups if (y >= 0).any()]
    features = np.vstack([x for x, _ in kept])
    labels = np.concatenate([y for _, y in kept]).astype(float)
    if weighting == "question":
        sample = np.concatenate([np.full(len(y), 1.0 / len(y)) for _, y in kept])
        sample *= len(sample) / sample.sum()  # same total as "row": the same l2 means the same strength
    else:
        sample = np.ones(len(labels))
    design = np.column_stack([features, np.ones(len(labels))])
    penalty = np.diag([l2] * features.shape[1] + [0.0])
    theta = np.zeros(design.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(design @ theta)))
        gradient = design.T @ (sample * (p - labels)) + penalty @ theta
        hessian = (design * (sample * p * (1 - p))[:, None]).T @ design + penalty + 1e-9 * np.eye(len(theta))
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if float(np.abs(step).max()) < 1e-10:
            break
    weights: np.ndarray = theta[:-1]
    return weights


def quality(groups: Sequence[Group], weights: np.ndarray, columns: Sequence[int] | None = None) -> tuple[float, float]:
    """(MAP, MRR) of ranking each group's kept candidates by features @ weights, ties against the correct ones."""
    measured = []
    for features, labels in groups:
        kept = labels >= 0
        matrix = features[kept] if columns is None else features[kept][:, list(columns)]
        result = ranking_quality([float(s) for s in matrix @ weights], [int(v) for v in labels[kept]])
        if result:
            measured.append(result)
    return round(statistics.fmean(m[0] for m in measured), 4), round(statistics.fmean(m[1] for m in measured), 4)


def baseline(scores: list[np.ndarray], groups: list[Group]) -> tuple[float, float]:
    measured = [
        ranking_quality([float(s) for s in values], [int(v) for v in g[1]])
        for values, g in zip(scores, groups, strict=True)
    ]
    kept = [m for m in measured if m]
    return round(statistics.fmean(m[0] for m in kept), 4), round(statistics.fmean(m[1] for m in kept), 4)


def fitting_data(data: TextSet, binaries: str) -> list[Group]:
    return data.raw_binary if binaries == "raw" else data.groups


def choose(train: TextSet, dev: TextSet, columns: list[int]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Fit on train for every (binaries, weighting, l2) of the grid; the best development MAP wins (ties: larger
    l2). Measured as the scorer applies the weights (binaries centred: the ranking is the same as raw)."""
    grid = []
    for binaries in BINARIES:
        for weighting in WEIGHTINGS:
            for l2 in L2_GRID:
                weights = fit_logistic([(x[:, columns], y) for x, y in fitting_data(train, binaries)], l2, weighting)
                measured = quality(dev.groups, weights, columns)[0]
                grid.append({"binaries": binaries, "weighting": weighting, "l2": l2, "dev_map": measured})
    best = max(grid, key=lambda row: (row["dev_map"], row["l2"], row["weighting"] == "question"))
    return best, grid


def ablation(train: TextSet, dev: TextSet, chosen: dict[str, Any]) -> dict[str, float]:
    """Development MAP of the model refitted on train without each feature, and with BM25 put back."""
    everything = list(range(len(TEXT)))
    result = {}
    for variant, columns in [
        ("all", everything),
        *((f"without {name}", [c for c in everything if c != i]) for i, name in enumerate(TEXT)),
        ("with bm25", [*everything, len(TEXT)]),
    ]:
        groups = [(x[:, columns], y) for x, y in fitting_data(train, chosen["binaries"])]
        weights = fit_logistic(groups, chosen["l2"], chosen["weighting"])
        result[variant] = quality(dev.groups, weights, columns)[0]
    return result


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


def _table(report: dict[str, Any]) -> str:
    lines = [
        "| file | role | questions | plain cosine MAP / MRR | BM25 MAP / MRR | weights in scoring_model.py "
        "| fitted MAP / MRR |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["stage1_table"]:
        cells = [f"{row[k][0]:.3f} / {row[k][1]:.3f}" for k in ("cosine", "bm25", "current", "fitted")]
        lines.append(f"| {row['file']} | {row['role']} | {row['questions']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=Path, default=DEFAULT_TRAIN, help="CSV the text stage is fitted on")
    parser.add_argument("--dev", type=Path, default=DEFAULT_DEV, help="CSV its L2 / weighting are chosen on")
    parser.add_argument("--report", type=Path, nargs="*", default=DEFAULT_REPORT, help="held-out CSV files")
    parser.add_argument("--data-dir", type=Path, help="an indexed archive (BBC corpus + seeds) for stage 2")
    parser.add_argument("--questions", nargs="*", default=DEFAULT_QUESTIONS, help="stage 2's JSONL question files")
    parser.add_argument("--json", action="store_true", help="the report as JSON instead of tables")
    args = parser.parse_args()
    from index import Settings, make_embedder

    embedder = make_embedder(Settings.from_env({"ARCHIVEBOT_EMBED_WORKERS": "1"}, load_dotenv=False))
    train, dev = text_set(args.train, embedder), text_set(args.dev, embedder)
    reported = [text_set(path, embedder) for path in args.report if path.exists()]
    columns = list(range(len(TEXT)))
    best, grid = choose(train, dev, columns)
    fitted_on = [(x[:, columns], y) for x, y in fitting_data(train, best["binaries"])]
    text_weights = fit_logistic(fitted_on, best["l2"], best["weighting"])
    current = np.array([_scoring.TEXT_WEIGHTS[name] for name in TEXT])
    report: dict[str, Any] = {"chosen": best, "choice_grid": grid}
    report["ablation_dev_map"] = ablation(train, dev, best)
    report["stage1_table"] = [
        {
            "file": data.name,
            "role": role,
            "questions": len(data.groups),
            "cosine": baseline(data.cosines, data.groups),
            "bm25": baseline(data.bm25, data.groups),
            "current": quality(data.groups, current, columns),
            "fitted": quality(data.groups, text_weights, columns),
        }
        for data, role in [(train, "fit"), (dev, "choose"), *((data, "held out") for data in reported)]
    ]
    _scoring.TEXT_WEIGHTS = dict(zip(TEXT, (round(float(w), 2) for w in text_weights), strict=True))
    report["TEXT_WEIGHTS"] = _scoring.TEXT_WEIGHTS
    if args.data_dir:
        raw_pools = asyncio.run(archive_pools(args.data_dir, args.questions))
        pools: list[Group] = [(archive_row(raw), labels) for raw, labels in raw_pools]
        current = np.array([_scoring.ARCHIVE_WEIGHTS.get(name, 0.0) for name in ARCHIVE])
        archive_weights = fit_logistic(pools)
        report["stage2"] = {
            "questions": len(pools),
            "current_map_mrr": quality(pools, current),
            "leave_one_out_map_mrr": leave_one_out(pools),
            "fitted_map_mrr": quality(pools, archive_weights),
        }
        report["ARCHIVE_WEIGHTS"] = {name: round(float(w), 2) for name, w in zip(ARCHIVE, archive_weights, strict=True)}
    if args.json:
        json.dump(report, sys.stdout, indent=1)
        print()
        return
    chosen = f"binaries {best['binaries']}, {best['weighting']} weighting, l2={best['l2']}"
    print(f"Stage 1 fitted on {train.name}; chosen on {dev.name}: {chosen}")
    print(
        "choice grid (dev MAP):",
        ", ".join(f"{g['binaries']} {g['weighting']} l2={g['l2']}: {g['dev_map']:.4f}" for g in grid),
    )
    print("ablation (dev MAP):", ", ".join(f"{k}: {v:.4f}" for k, v in report["ablation_dev_map"].items()))
    print()
    print(_table(report))
    print()
    if "stage2" in report:
        print("Stage 2 (dev question pools over the archive):", json.dumps(report["stage2"]))
    print("TEXT_WEIGHTS =", json.dumps(report["TEXT_WEIGHTS"]))
    if "ARCHIVE_WEIGHTS" in report:
        print("ARCHIVE_WEIGHTS =", json.dumps(report["ARCHIVE_WEIGHTS"]))
    if any(not math.isfinite(w) for w in report["TEXT_WEIGHTS"].values()):
        sys.exit("the fit did not converge")


if __name__ == "__main__":
    main()
