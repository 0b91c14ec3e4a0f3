"""Retrieval and selection against the read interface alone: an in-memory reader, no SQLite, no FAISS."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest

from index._rows import ArticleRow, CopyRef, PassageRow, SentenceRow
from index.answering.candidates import Candidate, Scored
from index.answering.query import NO_VECTOR, Filters, Query
from index.answering.retrieval import DENSE_K, LEXICAL_K, Retrieval, rank_articles, retrieve
from index.answering.selection import _quotes, select
from index.reading.dates import DateRange
from index.storage.common import FILTERED_WIDENING


def _unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def _article(row: int, body: str, *, source: str = "bbc", published: str | None = None) -> ArticleRow:
    return ArticleRow(
        f"a{row}", f"news/a{row}.txt", f"/a{row}.txt", f"Title {row}", False, source, published,
        None, None, None, body, f"hash{row}", "2026-01-01", row, f"body{row}",
    )  # fmt: skip


class MemoryReader:
    """One passage of one sentence per article; lexical matching by plain word overlap."""

    def __init__(self, articles: list[tuple[ArticleRow, np.ndarray]], copies: Sequence[set[int]] = ()) -> None:
        self.meta = {"generation": "1"}
        self.articles = {article.row: article for article, _ in articles}
        self.vectors = {article.row: vector for article, vector in articles}
        self.asked_k: list[int] = []
        self.asked_within: list[Filters | None] = []
        self.copies = copies  # groups of rows that are copies of one story
        self.cheap_common_terms = False
        self.searched: list[list[str]] = []

    def articles_and_vectors(self) -> list[tuple[ArticleRow, np.ndarray]]:
        return [(article, self.vectors[row]) for row, article in self.articles.items()]

    async def nearest_passages(self, vector: np.ndarray, k: int, within: Filters | None = None) -> list[int]:
        self.asked_k.append(k)
        self.asked_within.append(within)
        ranked = sorted(self.vectors, key=lambda pid: -float(np.dot(self.vectors[pid], vector)))
        return ranked[:k]

    async def passage_vectors(self, passage_ids: Sequence[int]) -> dict[int, np.ndarray]:
        return {pid: self.vectors[pid] for pid in passage_ids}

    async def document_frequencies(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        bodies = [article.body.lower().split() for article in self.articles.values()]
        return {term: sum(term in body for body in bodies) for term in terms}, len(bodies)

    async def lexical_passages(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        self.asked_k.append(k)
        self.searched.append(list(terms))
        scores = {row: float(sum(t in a.body.lower().split() for t in terms)) for row, a in self.articles.items()}
        return sorted(((row, s) for row, s in scores.items() if s > 0), key=lambda item: -item[1])[:k]

    async def lexical_titles(self, terms: Sequence[str], k: int) -> list[tuple[str, float]]:
        return []

    async def keeps_common_terms(self) -> bool:
        return self.cheap_common_terms

    async def passages(self, passage_ids: Sequence[int]) -> dict[int, PassageRow]:
        return {pid: PassageRow(pid, pid, 0, len(self.articles[pid].body), 0, 0) for pid in passage_ids}

    async def articles_by_rows(self, rows: Sequence[int]) -> dict[int, ArticleRow]:
        return {row: self.articles[row] for row in rows}

    async def sentences_of(self, rows: Sequence[int]) -> dict[int, list[SentenceRow]]:
        return {
            row: [SentenceRow(row, row, 0, 0, len(self.articles[row].body), self.vectors[row])] for row in set(rows)
        }

    async def copies_of(self, rows: Sequence[int]) -> dict[int, list[CopyRef]]:
        found: dict[int, list[CopyRef]] = {}
        for row in rows:
            for group in self.copies:
                if row in group:
                    others = [self.articles[other] for other in sorted(group - {row})]
                    found[row] = [CopyRef(a.row, a.article_id, a.title, a.source, a.published) for a in others]
        return found


QUESTION = _unit(1.0, 0.0, 0.0)


def _reader() -> MemoryReader:
    return MemoryReader(
        [
            (_article(1, "The minister resigned on Monday after the vote", published="2005-03-02"), _unit(1, 0.1, 0)),
            (_article(2, "The minister resigned after a long inquiry", source="guardian"), _unit(1, 0.3, 0)),
            (_article(3, "Football results from the weekend", published="2004-01-05"), _unit(1, 0, 1)),
            (_article(4, "Rain and wind expected tomorrow"), _unit(0, 1, 0)),
        ]
    )


def _query(filters: Filters | None = None, period: DateRange | None = None) -> Query:
    return Query("When did the minister resign?", QUESTION, filters or Filters(), period)


def test_filters_widen_both_proposals_and_keep_only_allowed_articles() -> None:
    reader = _reader()
    plain = asyncio.run(retrieve(reader, _query()))
    assert reader.asked_k == [DENSE_K, LEXICAL_K]
    reader.asked_k.clear()
    filtered = asyncio.run(retrieve(reader, _query(Filters(source="guardian"))))
    # The vector search is handed the filters (a backend that cannot search inside them widens itself: the
    # embedded one, tests/test_vector_index.py); the full-text search asks for more.
    assert reader.asked_k == [DENSE_K, LEXICAL_K * FILTERED_WIDENING]
    assert reader.asked_within == [None, Filters(source="guardian")]
    assert {pid for pid, _ in plain.ranked} == {1, 2, 3, 4}
    assert [pid for pid, _ in filtered.ranked] == [2]


class _UnreadableFullText(MemoryReader):
    async def lexical_passages(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        raise RuntimeError("the full-text index is unreadable")


async def test_the_question_is_encoded_while_the_full_text_side_runs() -> None:
    reader = _reader()
    encoding = asyncio.get_running_loop().create_future()
    started = asyncio.ensure_future(retrieve(reader, replace(_query(), vector=NO_VECTOR), encoding=encoding))
    for _ in range(10):  # let the started retrieval run as far as it can without the vector
        await asyncio.sleep(0)
    assert reader.asked_k == [LEXICAL_K]  # the full-text side did not wait for the vector…
    encoding.set_result(QUESTION)
    waited = await started
    assert reader.asked_k == [LEXICAL_K, DENSE_K]  # …the vector side did
    assert waited.ranked == (await retrieve(_reader(), _query())).ranked


async def test_when_one_side_fails_nothing_of_the_question_keeps_running() -> None:
    reader = _UnreadableFullText(_reader().articles_and_vectors())
    encoding = asyncio.get_running_loop().create_future()  # an encoding that has not finished
    with pytest.raises(RuntimeError, match="unreadable"):
        await retrieve(reader, replace(_query(), vector=NO_VECTOR), encoding=encoding)
    assert encoding.cancelled()  # the vector side was cancelled, not left waiting on the reader
    assert all(task.done() for task in asyncio.all_tasks() if task is not asyncio.current_task())


def test_a_named_period_boosts_passages_inside_it_and_lowers_those_outside() -> None:
    reader = _reader()
    plain = dict(asyncio.run(retrieve(reader, _query())).ranked)
    period = DateRange("2004-01-01", "2004-12-31")
    boosted = dict(asyncio.run(retrieve(reader, _query(period=period))).ranked)
    assert boosted[3] > plain[3]  # dated inside 2004
    assert boosted[1] < plain[1]  # dated 2005
    assert boosted[2] == pytest.approx(plain[2])  # undated: unchanged


def test_selection_quotes_verbatim_only_when_sure_enough() -> None:
    reader = _reader()
    retrieval = asyncio.run(retrieve(reader, _query(), with_sentences=True))
    sure = select(_query(), retrieval, max_quotes=2, min_confidence=0.0)
    assert sure.answered and sure.quotes
    for quote in sure.quotes:
        article = next(a for a in reader.articles.values() if a.article_id == quote.article_id)
        assert article.body[quote.start : quote.end] == quote.text
    declined = select(_query(), retrieval, max_quotes=2, min_confidence=1.01)
    assert not declined.answered and declined.quotes == ()
    assert declined.confidence == pytest.approx(sure.confidence)
    assert [hit.article_id for hit in declined.closest] == [hit.article_id for hit in sure.closest]


def test_search_lists_each_article_once_within_the_filters() -> None:
    hits = asyncio.run(rank_articles(_reader(), _query(Filters(source="bbc")), limit=10))
    assert sorted(hit.article_id for hit in hits) == ["a1", "a3", "a4"]


def _syndicated_reader() -> MemoryReader:
    """Articles 1 and 5 are one story filed twice (article 5 in another source, with one word changed)."""
    base = _reader()
    copy = _article(5, "The minister resigned on Monday after the votes", source="wire", published="2005-03-02")
    articles = [(article, base.vectors[row]) for row, article in base.articles.items()]
    return MemoryReader([*articles, (copy, _unit(1, 0.1, 0))], copies=[{1, 5}])


def test_a_syndicated_story_is_quoted_once_with_its_other_copies_listed() -> None:
    reader = _syndicated_reader()
    retrieval = asyncio.run(retrieve(reader, _query(), with_sentences=True))
    selection = select(_query(), retrieval, max_quotes=3, min_confidence=0.0)
    quoted = [quote.article_id for quote in selection.quotes]
    assert len({"a1", "a5"} & set(quoted)) == 1  # one copy quoted, never both
    copy_quote = next(quote for quote in selection.quotes if quote.article_id in {"a1", "a5"})
    other = ({"a1", "a5"} - {copy_quote.article_id}).pop()
    assert [copy.article_id for copy in copy_quote.also_in] == [other]
    assert copy_quote.to_dict()["also_in"][0]["id"] == other
    closest = [hit.article_id for hit in selection.closest]
    assert len({"a1", "a5"} & set(closest)) == 1


def test_search_shows_a_syndicated_story_as_one_result_with_its_copies() -> None:
    hits = asyncio.run(rank_articles(_syndicated_reader(), _query(), limit=10))
    ids = [hit.article_id for hit in hits]
    assert len({"a1", "a5"} & set(ids)) == 1 and {"a2", "a3", "a4"} <= set(ids)
    story = next(hit for hit in hits if hit.article_id in {"a1", "a5"})
    assert [copy.article_id for copy in story.also_in] == [({"a1", "a5"} - {story.article_id}).pop()]
    assert all(hit.also_in == () for hit in hits if hit is not story)


def test_candidates_take_one_of_each_passage_of_a_story_held_in_many_copies():
    """Twenty copies of one story rank first: the quote candidates still reach the other passages."""
    from index._rows import ArticleRow, CopyRef, PassageRow
    from index.answering.retrieval import CANDIDATE_PASSAGES, Retrieval

    def article(row: int, body_hash: str) -> ArticleRow:
        return ArticleRow(
            f"a{row}", "", "", f"T{row}", False, None, None, None, None, None, "b", "", "", row, body_hash
        )

    articles = {row: article(row, "story") for row in range(1, 21)} | {100: article(100, "other")}
    passages, ranked = {}, []
    for row in range(1, 21):  # each copy's passages 0-99 and 100-199, the copies ranked first
        for number, start in enumerate((0, 100)):
            passage_id = row * 10 + number
            passages[passage_id] = PassageRow(passage_id, row, start, start + 99, number * 3, number * 3 + 2)
            ranked.append((passage_id, 1.0 - 0.01 * row - 0.001 * number))
    for number in range(20):  # a different story's passages after them
        passage_id = 1000 + number
        passages[passage_id] = PassageRow(passage_id, 100, number * 100, number * 100 + 99, number, number)
        ranked.append((passage_id, 0.5 - 0.01 * number))
    copies = {row: [CopyRef(other, f"a{other}", "", None, None) for other in range(1, 21) if other != row]
              for row in range(1, 21)}  # fmt: skip
    retrieval = Retrieval(ranked, passages, articles, [], {}, 0, {}, copies)
    chosen = [passage_id for passage_id, _ in retrieval.candidates]
    assert chosen[:2] == [10, 11]  # the best copy's two passages, once each
    assert chosen[2:] == [1000 + number for number in range(CANDIDATE_PASSAGES - 2)]


def _three_sentence_retrieval() -> tuple[Retrieval, list[str]]:
    sentences = ["Kuznetsova tested positive for a banned drug.", "It was the stimulant ephedrine.", "She denies it."]
    body = " ".join(sentences)
    starts = [body.index(sentence) for sentence in sentences]
    article = _article(1, body)
    rows = [
        SentenceRow(n, 1, n, start, start + len(s), _unit(1, 0, 0))
        for n, (start, s) in enumerate(zip(starts, sentences, strict=True))
    ]
    passage = PassageRow(1, 1, 0, len(body), 0, 2)
    return Retrieval([(1, 1.0)], {1: passage}, {1: article}, [], {}, 1, {1: rows}), sentences


def _scored(*probabilities: float) -> list[Scored]:
    """Sentence n of article 1 with probability `probabilities[n]`, best first."""
    items = [
        Scored(Candidate((1, ordinal), f"s{ordinal}", None), probability, 0.0, 0.0, 0.0, False)
        for ordinal, probability in enumerate(probabilities)
    ]
    return sorted(items, key=lambda item: -item.score)


def test_a_sentence_whose_next_sentence_is_nearly_as_likely_is_quoted_with_it() -> None:
    retrieval, sentences = _three_sentence_retrieval()
    # The lede restates the question; the next sentence holds the detail asked for, scored a hair lower.
    quotes = _quotes(_scored(0.962, 0.961, 0.2), retrieval, 3, lambda item: True)
    assert quotes[0].text == f"{sentences[0]} {sentences[1]}"  # one verbatim span, as the article has them
    assert all(quote.text != sentences[1] for quote in quotes)  # and not quoted a second time


def test_a_clearly_weaker_next_sentence_is_not_added() -> None:
    retrieval, sentences = _three_sentence_retrieval()
    quotes = _quotes(_scored(0.962, 0.90, 0.2), retrieval, 3, lambda item: True)
    assert quotes[0].text == sentences[0]


def test_a_next_sentence_scored_higher_is_its_own_quote_not_an_extension() -> None:
    retrieval, sentences = _three_sentence_retrieval()
    # Sentence 1 is best and quoted first; sentence 0 (its predecessor, nearly as likely) must not swallow it.
    quotes = _quotes(_scored(0.960, 0.962, 0.2), retrieval, 3, lambda item: True)
    assert quotes[0].text.startswith(sentences[1])
    assert sentences[0] in [quote.text for quote in quotes]


class _LargeArchive(MemoryReader):
    """The same articles, counted as a 1M-passage archive in which "minister" is in half the passages."""

    async def document_frequencies(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        return {term: 500_000 if term == "minister" else 10 for term in terms}, 1_000_000


@pytest.mark.parametrize("cheap", [False, True])
def test_at_scale_common_terms_are_searched_only_where_the_search_keeps_them_cheap(cheap: bool) -> None:
    reader = _LargeArchive(_reader().articles_and_vectors())
    reader.cheap_common_terms = cheap
    asyncio.run(retrieve(reader, Query("When did the minister resign from the cabinet?", QUESTION, Filters(), None)))
    [searched] = reader.searched
    assert ("minister" in searched) == cheap  # the embedded tantivy index: every term; else the rare ones
    assert "resign" in searched and "cabinet" in searched
