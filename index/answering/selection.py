"""Selection: from the retrieved passages, the sentences that answer and the quotes to show.

Pure (no I/O): it reads only the `Retrieval` (passages, articles and their sentences from one
snapshot). The sentence scorer it uses (`sentence_scorer`) is a module of pure functions over candidates.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from index._models import ArticleHit, Quote
from index.answering.agreement import FITTED, Agreement, Rule, Verdict, agreeing_first, verdict
from index.answering.answer_phrase import answer_span
from index.answering.candidates import Candidate, QuestionAnalysis, Scored
from index.answering.constraints import extract
from index.answering.query import Query
from index.answering.retrieval import Retrieval, article_hit, period_factor, recency_factor
from index.answering.sentence_scorer import (
    confidence,
    idf_weights,
    leans_on_previous,
    near_duplicate,
    needs_predecessor,
    score_candidates,
)

FOLLOWING_QUOTE_SHARE = 0.8  # a second or third quote must score at least this share of the best
# Log-odds: a sentence whose next sentence scores within this below it is quoted with it (a lede restating the
# question, then the detail asked for). Chosen on the development sets (`archivebot eval`): the first quote held
# the answer for 19 -> 20 of 22 development questions at 0.1-1.0, one more own paraphrase at 0.2 and up; the
# smallest of that plateau, as it lengthens the fewest quotes (2 of 59 first quotes on the development sets).
SUCCESSOR_MARGIN = 0.2
SAME_ARTICLE_PENALTY = 0.03  # later quotes: subtracted from a sentence of the best quote's article
CLOSEST_ARTICLES = 5
RERANK_TEXTS = 32  # the best-scored sentences whose text the agreement check may read


@dataclass(frozen=True)
class Selection:
    """What the archive says to a question: quotes when sure enough, the closest articles always."""

    answered: bool
    confidence: float
    quotes: tuple[Quote, ...]
    closest: tuple[ArticleHit, ...]
    caveats: tuple[str, ...] = ()  # answered, but the quoted article lacks something the question names
    not_found_reason: str | None = None  # declined because the article lacks something the question names
    verdict: Verdict = Verdict()  # the first sentence's constraint checks (for evaluation and fitting)


def select(
    query: Query, retrieval: Retrieval, *, max_quotes: int, min_confidence: float, rule: Rule = FITTED
) -> Selection:
    """Score the candidates' sentences; quote the best ones if the best is likely to answer and its article
    agrees with what the question names (`agreement`)."""
    closest = closest_articles(retrieval)
    if not retrieval.ranked:
        return Selection(False, 0.0, (), closest)
    idf = idf_weights(retrieval.frequencies, retrieval.total, retrieval.terms)
    analysis = QuestionAnalysis(query.text, idf, query.context.terms)
    scored = _dated(score_candidates(analysis, query.vector, _candidates(analysis, retrieval)), query, retrieval)
    if not scored:
        return Selection(False, 0.0, (), closest)
    agreement = Agreement(
        extract(query.text, query.context.questions),
        retrieval.passages,
        retrieval.articles,
        {item.candidate.key: item.candidate.text for item in scored[:RERANK_TEXTS]},
        idf,
        retrieval.total,
    )
    scored = agreeing_first(scored, agreement, rule)
    sure = confidence(scored[0])  # uses the article coverage the candidate already carries
    if sure < min_confidence:
        return Selection(False, sure, (), closest)
    judged = verdict(scored[0], agreement, rule, query.text)
    if judged.not_found_reason:
        return Selection(False, sure, (), closest, not_found_reason=judged.not_found_reason, verdict=judged)
    quotes = _marked(
        _quotes(scored, retrieval, max_quotes, _agreeing_with_first(scored[0], agreement, rule)), query.text
    )
    return Selection(True, sure, quotes, closest, judged.caveats, verdict=judged)


def _marked(quotes: tuple[Quote, ...], question: str) -> tuple[Quote, ...]:
    """The first quote with its answer phrase marked, when the question asks for one and it holds one."""
    span = answer_span(question, quotes[0].text) if quotes else None
    if span is None:
        return quotes
    return (replace(quotes[0], answer_start=span[0], answer_end=span[1]), *quotes[1:])


def _dated(scored: list[Scored], query: Query, retrieval: Retrieval) -> list[Scored]:
    """A period the question names ("this year") or "the latest" also shapes which sentence is quoted, not only
    which passages are retrieved: the same factors as in retrieval, on the sentence's probability."""
    if query.period is None and not (query.recent and query.newest):
        return scored
    adjusted = []
    for item in scored:
        published = retrieval.articles[item.candidate.key[0]].published
        factor = period_factor(query, published, reward_inside=False) * recency_factor(
            query, published, at_most_one=True
        )
        adjusted.append(replace(item, score=item.score * factor))
    return sorted(adjusted, key=lambda item: -item.score)


def _candidates(analysis: QuestionAnalysis, retrieval: Retrieval) -> list[Candidate]:
    """Every sentence of the candidate passages once, with its neighbours' text and its passage's rank."""
    best_fused = retrieval.ranked[0][1]
    candidates: dict[tuple[int, int], Candidate] = {}
    coverage_of: dict[int, float] = {}
    for passage_id, fused in retrieval.candidates:
        passage = retrieval.passages[passage_id]
        article = retrieval.articles[passage.article_row]
        if passage.article_row not in coverage_of:
            coverage_of[passage.article_row] = analysis.coverage(article.title, article.body)
        article_sentences = retrieval.sentences.get(passage.article_row, [])
        for sentence in article_sentences[passage.first_sentence : passage.last_sentence + 1]:
            key = (passage.article_row, sentence.ordinal)
            if key in candidates:
                continue
            previous = article_sentences[sentence.ordinal - 1] if sentence.ordinal > 0 else None
            candidates[key] = Candidate(
                key=key,
                text=article.body[sentence.start : sentence.end],
                vector=sentence.vector,
                previous_text=article.body[previous.start : previous.end] if previous else "",
                title=article.title,
                lede_text=article.body[article_sentences[0].start : article_sentences[0].end]
                if sentence.ordinal > 1
                else "",
                retrieval=fused / best_fused if best_fused > 0 else 0.0,
                article_coverage=coverage_of[passage.article_row],
                ordinal=sentence.ordinal,
            )
    return list(candidates.values())


def _agreeing_with_first(first: Scored, agreement: Agreement, rule: Rule) -> Callable[[Scored], bool]:
    """Whether a later quote's article holds every constraint the first quote's article holds: after "Who
    bought Bay Bakery?", "When was it announced?" quotes no other company's announcement."""
    held = {check.constraint for check in agreement.checks(first.candidate.key) if not check.missing}
    if not held:
        return lambda item: True

    def agrees(item: Scored) -> bool:
        missing = {check.constraint for check in agreement.counted(agreement.checks(item.candidate.key), rule)}
        return not (missing & held)

    return agrees


def _quotes(
    scored: list[Scored], retrieval: Retrieval, max_quotes: int, agrees: Callable[[Scored], bool]
) -> tuple[Quote, ...]:
    quotes: list[Quote] = []
    used: list[tuple[int, int, int]] = []  # (article row, start, end)
    seen_stories: dict[str, int] = {}
    best = scored[0].score
    by_key = {item.candidate.key: item for item in scored}

    def overlaps_a_quote(row: int, start: int, end: int) -> bool:
        return any(r == row and start < e and s < end for r, s, e in used)

    for item in _quote_order(scored):
        if len(quotes) >= max_quotes:
            break
        if quotes and (item.score < best * FOLLOWING_QUOTE_SHARE or not agrees(item)):
            continue
        row, ordinal = item.candidate.key
        article = retrieval.articles[row]
        if seen_stories.setdefault(retrieval.story(row), row) != row:
            continue  # a syndicated copy of an article already quoted (it is listed under that quote)
        article_sentences = retrieval.sentences[row]
        sentence = article_sentences[ordinal]
        start, end = sentence.start, sentence.end
        if ordinal > 0 and (needs_predecessor(item.candidate.text) or leans_on_previous(item)):
            start = article_sentences[ordinal - 1].start
        if overlaps_a_quote(row, start, end):
            continue
        successor = by_key.get((row, ordinal + 1))
        if successor is not None and 0 <= _log_odds(item.score) - _log_odds(successor.score) <= SUCCESSOR_MARGIN:
            # The next sentence is nearly as likely to answer (a lede restating the question, then the detail
            # asked for): quote the two as the article has them, unless the next is quoted already.
            following = article_sentences[ordinal + 1].end
            if not overlaps_a_quote(row, start, following):
                end = following
        text = article.body[start:end]
        if any(near_duplicate(text, quote.text) for quote in quotes):
            continue
        used.append((row, start, end))
        quotes.append(
            Quote(
                text,
                article.article_id,
                article.title,
                article.source,
                article.published,
                start,
                end,
                round(item.score, 4),
                retrieval.also_in(row),
            )
        )
    return tuple(quotes)


def _log_odds(probability: float) -> float:
    clipped = min(max(probability, 1e-9), 1 - 1e-9)
    return math.log(clipped / (1 - clipped))


def _quote_order(scored: list[Scored]) -> list[Scored]:
    """The best sentence first; then the rest with a small penalty for repeating the best one's article, so
    a broad question draws on several articles when they are about as good (maximal marginal relevance, lite)."""
    first_row = scored[0].candidate.key[0]
    return [scored[0]] + sorted(
        scored[1:], key=lambda s: -(s.score - (SAME_ARTICLE_PENALTY if s.candidate.key[0] == first_row else 0.0))
    )


def closest_articles(retrieval: Retrieval, limit: int = CLOSEST_ARTICLES) -> tuple[ArticleHit, ...]:
    """The best-ranked articles (one hit each, syndicated copies once), shown when nothing is quoted."""
    hits: list[ArticleHit] = []
    seen_rows: set[int] = set()
    seen_stories: set[str] = set()
    for passage_id, score in retrieval.ranked:
        row = retrieval.passages[passage_id].article_row
        if row in seen_rows:
            continue
        seen_rows.add(row)
        if retrieval.story(row) in seen_stories:
            continue
        seen_stories.add(retrieval.story(row))
        hits.append(article_hit(retrieval.articles[row], score, retrieval.also_in(row)))
        if len(hits) >= limit:
            break
    return tuple(hits)
