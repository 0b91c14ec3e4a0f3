"""Words: tokenising, stop words, a light stemmer, FTS5 query building and answer-type cues."""

from __future__ import annotations

import functools
import re
import unicodedata

STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "aren't",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "say",
        "said",
        "says",
        "tell",
        "told",
        "according",
        "did",
        "does",
        "do",
        "also",
        "get",
        "got",
        "would",
        "many",
        "much",
        "one",
        "ever",
    ]
)

_ZERO_WIDTH = re.compile("[\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff\u00ad]")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)


def clean_text(text: str) -> str:
    """NFKC-normalise, drop zero-width and bidi control characters, collapse white space."""
    text = unicodedata.normalize("NFKC", text)
    text = _ZERO_WIDTH.sub("", text)
    text = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in text)
    return re.sub(r"\s+", " ", text).strip()


def words(text: str) -> list[str]:
    if "\u0130" in text or "\u03a3" in text:  # "İ" and "Σ": the only letters whose lower case depends on
        return [w.lower().replace("’", "'") for w in _WORD.findall(text)]  # what is around them
    # Otherwise lowering the whole text first finds the same words (a quarter less time over the BBC corpus:
    # 0.19 s against 0.25 s, the same words for every article).
    return _WORD.findall(text.lower().replace("’", "'"))


@functools.lru_cache(maxsize=1024)
def stemmed_words(text: str) -> frozenset[str]:
    """The stems of a text's words, kept for the texts one question reads again and again: scoring one
    question's ~125 candidates re-read the same sentences, titles and article bodies, and tokenising them
    was 1.2 of 2.7 s of selection in a profile of the 119 dev + held-out questions (BBC archive). A question
    reads ~60 distinct texts: the cache holds the last dozen questions' (a few MB at most), not the archive's."""
    return frozenset(map(stem, words(text)))


@functools.lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """A light suffix stripper: enough to match "sales"/"sale", "suspended"/"suspend", "growing"/"grow"."""
    word = word.lower().replace("’", "'")
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) <= 3 or word.isdigit():
        return word
    for suffix, replacement in (
        ("ies", "y"),
        ("ied", "y"),
        ("sses", "ss"),
        ("ments", "ment"),
        ("ings", ""),
        ("ing", ""),
        ("edly", ""),
        ("ed", ""),
        ("es", ""),
        ("s", ""),
        ("ly", ""),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                continue
            if suffix == "es" and not word.endswith(("ches", "shes", "xes", "sses", "zes")):
                word = word[:-1]
                break
            word = word[: len(word) - len(suffix)] + replacement
            break
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]  # "propose" and "proposed" meet at "propos"
    return word


def content_terms(text: str) -> list[str]:
    """The question's searchable words, in order, without stop words (duplicates removed)."""
    seen: dict[str, None] = {}
    for word in words(text):
        if word in STOPWORDS or (len(word) < 2 and not word.isdigit()):
            continue
        seen.setdefault(word, None)
    return list(seen)


LEXICAL_MAX_SHARE = 0.01  # above LEXICAL_LIMIT_FROM passages, terms in more than this share are not searched
LEXICAL_LIMIT_FROM = 200_000
LEXICAL_MIN_TERMS = 2


def lexical_terms(terms: list[str], frequencies: dict[str, int], total: int) -> list[str]:
    """The question's terms worth a full-text search. BM25 must score every passage a term matches, so in a
    large archive one very common word costs more than all the rare ones: at 1M passages the OR-query of all
    terms took 116/324 ms p50/p95, of the terms in at most 1% of passages 24/42 ms, document-frequency counts
    included (`python -m bench --parts lexical`).
    Leaving them out costs recall (forced on the 19k-passage BBC archive: held-out answer-in-quote 0.867 ->
    0.833), so it applies only above LEXICAL_LIMIT_FROM passages, and never keeps fewer than the two rarest.
    A reader whose search does not pay for common words (`ArchiveReader.keeps_common_terms`: the embedded
    tantivy index, PostgreSQL) is sent every term instead: at 1M passages that gave the development sets their
    answers back (dev answer in the first quote, embedded 0.773 -> 0.864 for 1-4 ms; PostgreSQL 0.682 -> 0.773
    for 12-24 ms p95; bench/HISTORY.md, 2026-12-08). So only FTS5 answering above the limit (the embedded
    backend with `ARCHIVEBOT_FULL_TEXT=fts5`, or without a current tantivy generation) leaves them out."""
    if total <= LEXICAL_LIMIT_FROM:
        return terms
    kept = [term for term in terms if frequencies.get(term, 0) <= LEXICAL_MAX_SHARE * total]
    if len(kept) < min(LEXICAL_MIN_TERMS, len(terms)):
        rarest = sorted(terms, key=lambda term: frequencies.get(term, 0))[:LEXICAL_MIN_TERMS]
        kept = [term for term in terms if term in rarest]
    return kept


# ---- answer types ---------------------------------------------------------------------------------

_NUMBER = re.compile(
    r"(?:[$£€¥]\s?\d|\d[\d,.]*\s?(?:%|bn|m\b|k\b|billion|million|thousand|per cent|percent)|\b\d[\d,.]*\b)"
)
PENCE_FIGURE = r"\b\d+(?:\.\d+)?p\b"  # "44p": a UK share price or fare, an amount (not "3pm": no boundary after p)
_MONEY = re.compile(
    rf"(?:[$£€¥]\s?\d|\d[\d,.]*\s?(?:bn|m)\b|{PENCE_FIGURE}"
    r"|\b(?:billion|million|dollars|pounds|euros|francs|yen|pence|cents)\b)",
    re.I,
)
_PERCENT = re.compile(r"\d\s?(?:%|per ?cent)", re.I)
_YEAR_OR_DATE = re.compile(
    r"\b(?:1[89]\d\d|20\d\d)\b|\b(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|yesterday|today|tomorrow|last week|"
    r"next week|last year|next year)\b",
    re.I,
)
_TIME = re.compile(
    r"\b\d{1,2}(?:[:.]\d{2})?\s?(?:am|pm|a\.m\.|p\.m\.)|\b\d{1,2}[:.]?\d{2}\s?(?:GMT|BST|CET|EST|PST|hours|hrs)\b|\b(?:midnight|noon|midday)\b",
    re.I,
)
_SCORE = re.compile(r"\b\d{1,3}\s?[-–]\s?\d{1,3}\b")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z'’]+(?:\s+(?:[A-Z][a-z'’]+|van|de|der|von|du))*")


def answer_type(question: str) -> str | None:
    """What kind of answer the question wants: money, percent, number, date, score, name, place or None."""
    q = question.lower()
    if re.search(r"\b(score|scoreline|result)\b", q) and re.search(r"\b(what|final)\b", q):
        return "score"
    if re.search(r"\b(what share|what proportion|what percentage|how many per ?cent|what rate)\b", q):
        return "percent"
    if re.search(r"\bhow much\b|\bwhat (?:price|value|amount|sum|fee|salary|cost)\b|\bhow (?:expensive|costly)\b", q):
        return "money"
    if re.search(
        r"\bhow (?:many|fast|far|long|big|large|high|old|tall|heavy)\b"
        r"|\bwhat (?:growth|number|ages?|speed|size|height|distance)\b|\bby how much\b",
        q,
    ):
        return "number"
    if re.search(r"\b(?:at )?what time\b", q):
        return "time"
    if re.search(r"^\s*when\b|\bwhat (?:year|month|day|date)\b|\bin which year\b", q):
        return "date"
    if re.search(r"^\s*where\b|\bwhich (?:city|country|town|constituency|club|team|stadium|county)\b", q):
        return "place"
    if re.search(
        r"^\s*(?:who|whom|whose)\b|\bwhich (?:\w+ )?(?:player|players|man|woman|person|people|minister|director"
        r"|actor|actress|singer|band|company|firm|magazine|newspaper)\b",
        q,
    ):
        return "name"
    return None


def has_answer_type(kind: str | None, sentence: str, question: str) -> bool:
    """Whether the sentence holds something of that kind which the question itself does not mention."""
    if kind is None:
        return False
    question_lower = question.lower()
    if kind == "money":
        return any(m.group(0).lower() not in question_lower for m in _MONEY.finditer(sentence)) or bool(
            _PERCENT.search(sentence)
        )
    if kind == "percent":
        return bool(_PERCENT.search(sentence))
    if kind == "number":
        return any(m.group(0).lower().strip() not in question_lower for m in _NUMBER.finditer(sentence))
    if kind == "date":
        return any(m.group(0).lower() not in question_lower for m in _YEAR_OR_DATE.finditer(sentence))
    if kind == "time":
        return bool(_TIME.search(sentence))
    if kind == "score":
        return bool(_SCORE.search(sentence))
    if kind in {"name", "place"}:
        question_words = set(words(question_lower))
        for match in _NAME.finditer(sentence):
            name_words = set(words(match.group(0))) - _CALENDAR - STOPWORDS
            if name_words and not name_words <= question_words:
                return True
    return False


STRONG_TYPES = frozenset({"money", "percent", "number", "date", "score", "time"})
_CALENDAR = frozenset(
    [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "mr",
        "mrs",
        "ms",
        "dr",
        "sir",
    ]
)
