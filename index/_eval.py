"""Evaluation: end-to-end answers (`eval`), answer-sentence selection (`eval-sentences`) and
headline-to-article retrieval (`eval-headlines`)."""

from __future__ import annotations

import csv
import json
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._answer import Candidate, QuestionAnalysis, score_candidates
from ._embed import Embedder
from ._errors import ArchivebotError
from ._lexical import content_terms, words


@dataclass(frozen=True)
class EvalQuestion:
    question: str
    answers: tuple[str, ...]
    article: str | None


def load_questions(path: Path) -> list[EvalQuestion]:
    questions = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                questions.append(EvalQuestion(record["q"], tuple(record.get("answers") or ()), record.get("article")))
            except (ValueError, KeyError, TypeError) as error:
                raise ArchivebotError(f"{path}:{number}: not a {{q, answers, article}} record ({error})") from error
    return questions


def location_matches(location: str, expected: str) -> bool:
    """`expected` is a path relative to an indexed root folder, or "seeds" for anything under seeds/."""
    if expected == "seeds":
        return location.startswith("seeds/")
    _, _, relative = location.partition("/")
    return relative == expected or location == expected


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    return float(np.percentile(np.asarray(values), share * 100))


async def evaluate(
    archive: Any, questions: list[EvalQuestion], progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Ask every question and score the answers (see docs/quality.md for the definitions)."""
    answerable = [q for q in questions if q.article]
    unanswerable = [q for q in questions if not q.article]
    in_quote = cited = 0
    reciprocal_ranks: list[float] = []
    abstained_total = abstained_correct = 0
    latencies: list[float] = []
    failures: list[dict[str, Any]] = []
    locations: dict[str, str] = {}

    async def location_of(article_id: str) -> str:
        if article_id not in locations:
            locations[article_id] = (await archive.article(article_id)).location
        return locations[article_id]

    for number, item in enumerate(questions, start=1):
        started = time.perf_counter()
        answer = await archive.ask(item.question)
        latencies.append((time.perf_counter() - started) * 1000)
        if progress:
            progress(number, len(questions))
        if not answer.answered:
            abstained_total += 1
            if not item.article:
                abstained_correct += 1
        if not item.article:
            if answer.answered:
                failures.append(
                    {
                        "q": item.question,
                        "problem": "answered an unanswerable question",
                        "quote": answer.quotes[0].text if answer.quotes else None,
                    }
                )
            continue
        quoted = " ".join(quote.text for quote in answer.quotes).lower()
        found = any(expected.lower() in quoted for expected in item.answers)
        in_quote += found
        ranking: list[str] = []
        for article_id in [q.article_id for q in answer.quotes] + [hit.article_id for hit in answer.closest]:
            if article_id not in ranking:
                ranking.append(article_id)
        rank = None
        for position, article_id in enumerate(ranking, start=1):
            if location_matches(await location_of(article_id), item.article):
                rank = position
                break
        reciprocal_ranks.append(1.0 / rank if rank else 0.0)
        top_ok = bool(answer.quotes) and location_matches(await location_of(answer.quotes[0].article_id), item.article)
        cited += top_ok
        if not found or not top_ok:
            failures.append(
                {
                    "q": item.question,
                    "expected": list(item.answers),
                    "article": item.article,
                    "answered": answer.answered,
                    "confidence": round(answer.confidence, 3),
                    "quote": answer.quotes[0].text if answer.quotes else None,
                    "article_rank": rank,
                }
            )
    return {
        "questions": len(questions),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "answer_in_quote": round(in_quote / len(answerable), 4) if answerable else None,
        "citation_at_1": round(cited / len(answerable), 4) if answerable else None,
        "mrr_article": round(sum(reciprocal_ranks) / len(reciprocal_ranks), 4) if reciprocal_ranks else None,
        "abstain_precision": round(abstained_correct / abstained_total, 4) if abstained_total else None,
        "abstain_recall": round(abstained_correct / len(unanswerable), 4) if unanswerable else None,
        "declined_answerable": abstained_total - abstained_correct,
        "latency_ms_mean": round(statistics.fmean(latencies), 2) if latencies else None,
        "latency_ms_p50": round(_percentile(latencies, 0.5), 2),
        "latency_ms_p95": round(_percentile(latencies, 0.95), 2),
        "failures": failures,
    }


# ---- answer-sentence selection --------------------------------------------------------------------


def load_sentence_pairs(path: Path) -> list[tuple[str, int, str]]:
    """Rows of the classic answer-selection CSV: header `qtext,label,atext`."""
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"qtext", "label", "atext"} - set(reader.fieldnames or [])
        if missing:
            raise ArchivebotError(
                f"{path}: the CSV header needs qtext,label,atext (missing {', '.join(sorted(missing))})"
            )
        rows = []
        for number, row in enumerate(reader, start=2):
            try:
                rows.append((row["qtext"], int(row["label"]), row["atext"]))
            except (TypeError, ValueError) as error:
                raise ArchivebotError(f"{path}:{number}: label must be 0 or 1") from error
    return rows


def _document_frequencies(texts: Iterable[str]) -> tuple[dict[str, int], int]:
    frequencies: dict[str, int] = {}
    total = 0
    for text in texts:
        total += 1
        for word in set(words(text)):
            frequencies[word] = frequencies.get(word, 0) + 1
    return frequencies, total


def evaluate_sentences(rows: list[tuple[str, int, str]], embedder: Embedder) -> dict[str, Any]:
    """MAP and MRR of the engine's sentence scorer over question–candidate rows (ties broken against the
    correct candidates, so a scorer that can't tell them apart gets no credit from the file order)."""
    from ._answer import idf_weights

    frequencies, total = _document_frequencies(text for _, _, text in rows)
    questions = list(dict.fromkeys(q for q, _, _ in rows))
    texts = list(dict.fromkeys([*questions, *(a for _, _, a in rows)]))
    vectors = embedder.embed(texts) if texts else np.zeros((0, 1), np.float32)
    vector_of = {text: vectors[i] for i, text in enumerate(texts)}
    scores = [0.0] * len(rows)
    by_question: dict[str, list[int]] = {}
    for index, (question, _, _) in enumerate(rows):
        by_question.setdefault(question, []).append(index)
    average_precisions: list[float] = []
    reciprocal_ranks: list[float] = []
    for question, indexes in by_question.items():
        terms = content_terms(question)
        analysis = QuestionAnalysis(question, idf_weights(frequencies, total, terms))
        candidates = [
            Candidate(key=(0, i), text=rows[i][2], vector=vector_of[rows[i][2]], retrieval=0.0, ordinal=10**6)
            for i in indexes
        ]
        for item in score_candidates(analysis, vector_of[question], candidates):
            scores[item.candidate.key[1]] = item.score
        labels = [rows[i][1] for i in indexes]
        if not (any(labels) and not all(labels)):
            continue
        order = sorted(indexes, key=lambda i: (-scores[i], rows[i][1]))  # ties: wrong candidates first
        hits = 0
        precisions = []
        first = None
        for position, i in enumerate(order, start=1):
            if rows[i][1]:
                hits += 1
                precisions.append(hits / position)
                first = first or position
        average_precisions.append(sum(precisions) / hits)
        reciprocal_ranks.append(1.0 / first)
    return {
        "questions": len(average_precisions),
        "map": round(statistics.fmean(average_precisions), 4) if average_precisions else None,
        "mrr": round(statistics.fmean(reciprocal_ranks), 4) if reciprocal_ranks else None,
        "scores": [round(s, 6) for s in scores],
    }


async def evaluate_headlines(archive: Any, directory: Path, limit: int | None = None) -> dict[str, Any]:
    """Each file's first line (its headline) as a search query: is that article ranked first?"""
    files = sorted(p for p in Path(directory).rglob("*.txt") if p.is_file())
    if limit:
        files = files[:limit]
    first = 0
    in_top10 = 0
    misses = []
    latencies = []
    root_name = Path(directory).resolve().name
    for path in files:
        headline = path.read_text(encoding="utf-8", errors="replace").split("\n", 1)[0].strip()
        if not headline:
            continue
        started = time.perf_counter()
        hits = await archive.search(headline, limit=10)
        latencies.append((time.perf_counter() - started) * 1000)
        expected = f"{root_name}/{path.relative_to(Path(directory)).as_posix()}"
        locations = [hit.location for hit in hits]
        if locations and locations[0] == expected:
            first += 1
        elif expected in locations:
            misses.append({"headline": headline, "rank": locations.index(expected) + 1})
        else:
            misses.append({"headline": headline, "rank": None})
        in_top10 += expected in locations
    count = len(latencies)
    return {
        "articles": count,
        "hit_at_1": round(first / count, 4) if count else None,
        "hit_at_10": round(in_top10 / count, 4) if count else None,
        "latency_ms_p50": round(_percentile(latencies, 0.5), 2),
        "misses": misses[:50],
    }
