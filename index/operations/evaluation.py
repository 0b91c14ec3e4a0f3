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

from index._errors import ArchivebotError, QuestionError
from index.answering.candidates import Candidate, QuestionAnalysis
from index.answering.conversation import Turn
from index.answering.lexical import content_terms, words
from index.answering.sentence_scorer import score_candidates
from index.embedding.embedder import Embedder


@dataclass(frozen=True)
class EvalQuestion:
    question: str
    answers: tuple[str, ...]
    article: str | None
    kind: str | None = None  # a label to report figures by (the held-out set's hard cases)
    conversation: int | None = None  # the line of a `{"turns": [...]}` conversation it belongs to
    turn: int = 0  # its position in that conversation (0: the first question)
    near: str | None = None  # a near miss: the article that holds the topic but not what is asked


def _question(record: dict[str, Any], conversation: int | None = None, turn: int = 0) -> EvalQuestion:
    answers = tuple(record.get("answers") or ())
    return EvalQuestion(
        record["q"], answers, record.get("article"), record.get("kind"), conversation, turn, record.get("near")
    )


def load_questions(path: Path) -> list[EvalQuestion]:
    """`{"q", "answers", "article"}` lines, and conversations `{"turns": [{"q", "answers", "article"}, ...]}`."""
    questions: list[EvalQuestion] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if "turns" in record:
                    questions.extend(_question(turn, number, i) for i, turn in enumerate(record["turns"]))
                else:
                    questions.append(_question(record))
            except (ValueError, KeyError, TypeError, AttributeError) as error:
                raise ArchivebotError(
                    f"{path}:{number}: not a {{q, answers, article}} or {{turns: [...]}} record ({error})"
                ) from error
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


@dataclass(frozen=True)
class _Outcome:
    """How one question was answered."""

    item: EvalQuestion
    answered: bool
    found: bool = False  # some quote holds an expected answer
    found_first: bool = False  # the first quote holds one
    cited: bool = False  # the first quote cites the expected article
    rank: int | None = None  # of the expected article among the quoted, then the closest articles
    failure: dict[str, Any] | None = None
    caveated: bool = False  # answered, but with a caveat naming something the archive does not have
    no_question: bool = False  # refused as holding no question (QuestionError)

    @property
    def declined(self) -> bool:
        """Not answered, or answered only with a caveat (what a near miss should get)."""
        return not self.answered or self.caveated


async def _judge(item: EvalQuestion, answer: Any, location_of: Callable[[str], Any]) -> _Outcome:
    caveated = bool(getattr(answer, "caveats", ()))
    if not item.article:
        failure = None
        if answer.answered and not (item.near and caveated):
            quote = answer.quotes[0].text if answer.quotes else None
            problem = "answered a near miss" if item.near else "answered an unanswerable question"
            failure = {
                "q": item.question,
                "problem": problem,
                "quote": quote,
                "confidence": round(answer.confidence, 3),
            }
        return _Outcome(item, answer.answered, failure=failure, caveated=caveated)

    def holds_answer(text: str) -> bool:
        return any(expected.lower() in text.lower() for expected in item.answers)

    found = holds_answer(" ".join(quote.text for quote in answer.quotes))
    found_first = bool(answer.quotes) and holds_answer(answer.quotes[0].text)
    ranking = list(dict.fromkeys([q.article_id for q in answer.quotes] + [hit.article_id for hit in answer.closest]))
    rank = None
    for position, article_id in enumerate(ranking, start=1):
        if location_matches(await location_of(article_id), item.article):
            rank = position
            break
    cited = bool(answer.quotes) and location_matches(await location_of(answer.quotes[0].article_id), item.article)
    failure = None
    if not found or not cited:
        failure = {
            "q": item.question,
            "expected": list(item.answers),
            "article": item.article,
            "answered": answer.answered,
            "confidence": round(answer.confidence, 3),
            "quote": answer.quotes[0].text if answer.quotes else None,
            "article_rank": rank,
        }
    if failure is None and not found_first:
        failure = {
            "q": item.question,
            "problem": "the answer is not in the first quote",
            "expected": list(item.answers),
            "quote": answer.quotes[0].text if answer.quotes else None,
        }
    return _Outcome(item, answer.answered, found, found_first, cited, rank, failure, caveated)


def _share(count: float, total: int) -> float | None:
    return round(count / total, 4) if total else None


def _figures(outcomes: list[_Outcome]) -> dict[str, Any]:
    """The answer figures over some outcomes (see docs/quality.md for the definitions)."""
    answerable = [o for o in outcomes if o.item.article]
    unanswerable = [o for o in outcomes if not o.item.article]
    abstained = [o for o in outcomes if not o.answered]
    abstained_correct = sum(1 for o in abstained if not o.item.article)
    near = [o for o in outcomes if o.item.near]
    return {
        "questions": len(outcomes),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "answer_in_quote": _share(sum(o.found for o in answerable), len(answerable)),
        "answer_in_top_quote": _share(sum(o.found_first for o in answerable), len(answerable)),
        "citation_at_1": _share(sum(o.cited for o in answerable), len(answerable)),
        "mrr_article": _share(sum(1.0 / o.rank for o in answerable if o.rank is not None), len(answerable)),
        "abstain_precision": _share(abstained_correct, len(abstained)),
        "abstain_recall": _share(abstained_correct, len(unanswerable)),
        "declined_answerable": len(abstained) - abstained_correct,
        "answerable_declined": sum(1 for o in answerable if not o.answered),
        "answerable_caveated": sum(1 for o in answerable if o.answered and o.caveated),
        "near_misses": len(near),
        "near_miss_declined": _share(sum(o.declined for o in near), len(near)),
        "no_question": sum(o.no_question for o in outcomes),
    }


async def evaluate(
    archive: Any, questions: list[EvalQuestion], progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Ask every question and score the answers (see docs/quality.md for the definitions)."""
    latencies: list[float] = []
    outcomes: list[_Outcome] = []
    locations: dict[str, str] = {}

    async def location_of(article_id: str) -> str:
        if article_id not in locations:
            locations[article_id] = (await archive.article(article_id)).location
        return locations[article_id]

    history: list[Turn] = []  # the conversation so far, with the articles our answers cited
    alone: list[_Outcome] = []  # follow-ups asked without their history, for comparison
    for number, item in enumerate(questions, start=1):
        if item.conversation is None or item.turn == 0:
            history = []
        started = time.perf_counter()
        try:
            answer = (
                await archive.ask(item.question, history=list(history)) if history else await archive.ask(item.question)
            )
        except QuestionError:  # a message with no question in it: the short reply, never an answer
            outcomes.append(_Outcome(item, False, no_question=True))
            continue
        latencies.append((time.perf_counter() - started) * 1000)
        if progress:
            progress(number, len(questions))
        outcomes.append(await _judge(item, answer, location_of))
        if item.conversation is not None:
            if item.turn > 0:
                alone.append(await _judge(item, await archive.ask(item.question), location_of))
            cited = tuple(dict.fromkeys(quote.article_id for quote in answer.quotes))
            history.append(Turn(item.question, cited))
    result = _figures(outcomes)
    kinds = sorted({o.item.kind for o in outcomes if o.item.kind})
    if kinds:
        result["by_kind"] = {kind: _figures([o for o in outcomes if o.item.kind == kind]) for kind in kinds}
    followups = [o for o in outcomes if o.item.turn > 0 and o.item.article]
    if followups:
        answerable_alone = [o for o in alone if o.item.article]
        result.update(
            {
                "followups": len(followups),
                "followup_answer_in_quote": _share(sum(o.found for o in followups), len(followups)),
                "followup_citation_at_1": _share(sum(o.cited for o in followups), len(followups)),
                "followup_answer_in_quote_without_history": _share(
                    sum(o.found for o in answerable_alone), len(answerable_alone)
                ),
                "followup_citation_at_1_without_history": _share(
                    sum(o.cited for o in answerable_alone), len(answerable_alone)
                ),
            }
        )
    result.update(
        {
            "latency_ms_mean": round(statistics.fmean(latencies), 2) if latencies else None,
            "latency_ms_p50": round(_percentile(latencies, 0.5), 2),
            "latency_ms_p95": round(_percentile(latencies, 0.95), 2),
            "failures": [o.failure for o in outcomes if o.failure],
        }
    )
    return result


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


@dataclass(frozen=True)
class SentencePool:
    """One question of an answer-selection file, as the scorer sees it."""

    analysis: QuestionAnalysis
    question_vector: np.ndarray
    candidates: list[Candidate]  # key = (0, row number in the file)
    labels: list[int]


def sentence_pools(rows: list[tuple[str, int, str]], embedder: Embedder) -> list[SentencePool]:
    """Every question's candidates with their vectors; IDF over the file's candidate sentences."""
    from index.answering.sentence_scorer import idf_weights

    frequencies, total = _document_frequencies(text for _, _, text in rows)
    questions = list(dict.fromkeys(q for q, _, _ in rows))
    texts = list(dict.fromkeys([*questions, *(a for _, _, a in rows)]))
    vectors = embedder.embed(texts) if texts else np.zeros((0, 1), np.float32)
    vector_of = {text: vectors[i] for i, text in enumerate(texts)}
    by_question: dict[str, list[int]] = {}
    for index, (question, _, _) in enumerate(rows):
        by_question.setdefault(question, []).append(index)
    pools = []
    for question, indexes in by_question.items():
        analysis = QuestionAnalysis(question, idf_weights(frequencies, total, content_terms(question)))
        candidates = [
            Candidate(key=(0, i), text=rows[i][2], vector=vector_of[rows[i][2]], retrieval=0.0, ordinal=10**6)
            for i in indexes
        ]
        pools.append(SentencePool(analysis, vector_of[question], candidates, [rows[i][1] for i in indexes]))
    return pools


def ranking_quality(scores: list[float], labels: list[int]) -> tuple[float, float] | None:
    """(average precision, reciprocal rank) of the correct candidates, ties broken against them; None when
    all or none of the candidates are correct."""
    if not (any(labels) and not all(labels)):
        return None
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], labels[i]))  # ties: wrong candidates first
    hits = 0
    precisions = []
    first = 0
    for position, i in enumerate(order, start=1):
        if labels[i]:
            hits += 1
            precisions.append(hits / position)
            first = first or position
    return sum(precisions) / hits, 1.0 / first


def evaluate_sentences(rows: list[tuple[str, int, str]], embedder: Embedder) -> dict[str, Any]:
    """MAP and MRR of the engine's sentence scorer over question–candidate rows (ties broken against the
    correct candidates, so a scorer that can't tell them apart gets no credit from the file order), and
    of the plain cosine of the same vectors, measured in the same run."""
    scores = [0.0] * len(rows)
    qualities: list[tuple[float, float]] = []
    cosine_qualities: list[tuple[float, float]] = []
    for pool in sentence_pools(rows, embedder):
        for item in score_candidates(pool.analysis, pool.question_vector, pool.candidates):
            scores[item.candidate.key[1]] = item.score
        quality = ranking_quality([scores[c.key[1]] for c in pool.candidates], pool.labels)
        cosines = [float(np.dot(pool.question_vector, c.vector)) for c in pool.candidates if c.vector is not None]
        cosine_quality = ranking_quality(cosines, pool.labels)
        if quality and cosine_quality:
            qualities.append(quality)
            cosine_qualities.append(cosine_quality)

    def mean(values: list[tuple[float, float]], column: int) -> float | None:
        return round(statistics.fmean(v[column] for v in values), 4) if values else None

    return {
        "questions": len(qualities),
        "map": mean(qualities, 0),
        "mrr": mean(qualities, 1),
        "cosine_map": mean(cosine_qualities, 0),
        "cosine_mrr": mean(cosine_qualities, 1),
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
