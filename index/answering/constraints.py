"""Question constraints: what an answer must agree with, and whether the quoted article does.

"Who won best actor at the 2007 Bafta film awards?" quoted from the 2005 awards is a confident, wrong
answer: the sentence scorer sees the topic, not the one word that differs. This stage pulls from the
question the things an answer must agree with — years, numbers, named entities (capitalised spans: people,
organisations, places, events) and qualifiers (nationality, region, men's/women's) — and checks each
against the quoted sentence, its passage, its article (title and body) and the article's date. Paraphrase
is not a miss: "UK"/"British"/"Britain", "Mr Wong" for "Victor Wong", an article dated 2005 saying "this
year" for "in 2005". What a missing constraint does to the answer is decided in `selection` by a rule
fitted on data (`bench.fit_constraints`). Pure string work: no encoding, no I/O.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from index.answering import constraint_words as W
from index.answering.lexical import STOPWORDS, stem, words

# Where a constraint was found, narrowest first; "absent": nowhere in the article nor its date.
LEVELS = ("sentence", "passage", "article", "absent")


@dataclass(frozen=True)
class Constraint:
    """Something the answer must agree with: `kind` year | number | entity | place | qualifier | outcome; `text` as the
    question says it; `forms` the lower-case word sequences that count as saying it; `required` the tokens an
    article must hold (an entity: all its words); `origin` "question" or "context" (an earlier turn)."""

    kind: str
    text: str
    forms: tuple[str, ...]
    required: tuple[str, ...] = ()
    origin: str = "question"


@dataclass(frozen=True)
class Check:
    """A constraint checked against a quote: the narrowest `level` it was found at (LEVELS), and the values
    of the same kind the quote's sentence or article has instead (for the reason), best first."""

    constraint: Constraint
    level: str
    instead: tuple[str, ...] = ()
    instead_level: str = ""  # where `instead` was read: sentence, passage, article or date

    @property
    def missing(self) -> bool:
        return self.level == "absent"


@dataclass(frozen=True)
class Evidence:
    """The texts a quote stands in: its sentence, passage, article title and body, and the article's date."""

    sentence: str
    passage: str
    title: str
    body: str
    published: str | None = None


def extract(question: str, context_questions: Sequence[str] = ()) -> tuple[Constraint, ...]:
    """The question's constraints, then the named entities of the earlier turns it follows up (their subject
    is a constraint of the follow-up: "How much did they pay?" after "Who bought Bay Bakery?")."""
    found = list(_from_text(question))
    own = {form for constraint in found for form in constraint.forms}
    for earlier in context_questions:
        for constraint in _from_text(earlier):
            if constraint.kind == "entity" and not own.intersection(constraint.forms):
                own.update(constraint.forms)
                found.append(Constraint("entity", constraint.text, constraint.forms, constraint.required, "context"))
    return tuple(found)


def _from_text(question: str) -> Iterable[Constraint]:
    seen: set[str] = set()

    def new(constraint: Constraint) -> Constraint | None:
        key = constraint.kind + ":" + constraint.forms[0]
        if key in seen:
            return None
        seen.add(key)
        return constraint

    results: list[Constraint | None] = []
    years = {match.group(1) for match in W.YEAR.finditer(question)}
    for year in sorted(years):
        results.append(new(Constraint("year", year, (year,))))
    for match in W.NUMBER.finditer(question):
        value = match.group(1).replace(",", "")
        if value not in years:
            results.append(new(Constraint("number", match.group(1), (value,))))
    for word in words(question):
        if word in W.NUMBER_WORDS:
            results.append(new(Constraint("number", word, (word, W.NUMBER_WORDS[word]))))
        elif word in W.ORDINALS:
            results.append(new(Constraint("number", word, (word, W.ORDINALS[word]))))
        elif stem(word) in W.OUTCOME_OF:
            results.append(new(Constraint("outcome", word, W.OUTCOME_OF[stem(word)])))
    for match in W.REGION.finditer(question):
        results.append(new(Constraint("qualifier", match.group(0), (_region_key(match.group(0)),))))
    for word in words(question):
        if word in W.GENDER:
            results.append(new(Constraint("qualifier", word, (W.GENDER[word],))))
    for span in _entity_spans(question):
        results.append(new(span))
    return [c for c in results if c is not None]


def _region_key(text: str) -> str:
    lowered = text.lower().replace(" ", "-")
    return lowered[:-3] if lowered.endswith("ern") and "-" in lowered else lowered


def _entity_spans(question: str) -> Iterable[Constraint]:
    for match in W.SPAN.finditer(question):
        yield from _entities([_bare(token) for token in match.group(0).split()])


def _entities(tokens: list[str]) -> Iterable[Constraint]:
    """One span's constraints: a country or demonym inside it ("European EU members") is a place of its own."""
    whole = " ".join(tokens)
    if len(tokens) > 1 and whole not in W.PLACE_OF:
        for position in range(len(tokens)):
            for width in (2, 1):
                place = " ".join(tokens[position : position + width])
                if len(tokens[position : position + width]) == width and place in W.PLACE_OF:
                    yield from _entities(tokens[:position])
                    yield Constraint("place", place, W.PLACE_OF[place])
                    yield from _entities(tokens[position + width :])
                    return
    while tokens and (tokens[0] in W.NOT_NAMES or tokens[0] in W.TITLES):
        tokens = tokens[1:]
    while tokens and tokens[-1] in STOPWORDS:
        tokens = tokens[:-1]
    if not tokens:
        return
    text = " ".join(tokens)
    if text in W.PLACE_OF:
        yield Constraint("place", text, W.PLACE_OF[text])
        return
    required = tuple(
        w for t in tokens if t not in STOPWORDS and t not in W.TITLES for w in words(t) if len(w) > 1
    )  # "B&B": letters alone can't be checked
    if required and not all(t in W.NOT_NAMES for t in required):
        yield Constraint("entity", text, (text,), required)


def _bare(token: str) -> str:
    token = token.lower().replace("’", "'").strip('.,;:!?"()')
    return token[:-2] if token.endswith("'s") else token.rstrip("'")


# ---- checking ---------------------------------------------------------------------------------------


class _Text:
    """A text's lower-case words (as a set and joined) for cheap phrase and word look-ups."""

    def __init__(self, text: str) -> None:
        self.words = [_bare(w) for w in words(text)]
        self.set = set(self.words) | {stem(w) for w in self.words}
        self.joined = " " + " ".join(self.words) + " "
        self.raw = text

    def has_phrase(self, phrase: str) -> bool:
        return " " + " ".join(_bare(w) for w in words(phrase)) + " " in self.joined


@functools.lru_cache(maxsize=128)
def _text(text: str) -> _Text:
    """One `_Text` per text: a question's candidates share passages and articles, and building their word sets
    again for each was 0.7 of 2.7 s of selection in a profile of the 119 dev + held-out questions (BBC). A
    question checks ~7 distinct texts (an article's word list and sets are tens of kB): a small cache."""
    return _Text(text)


def check(constraints: Sequence[Constraint], evidence: Evidence) -> tuple[Check, ...]:
    """Each constraint checked against the evidence, narrowest level first."""
    if not constraints:
        return ()
    texts = {
        "sentence": _text(evidence.sentence),
        "passage": _text(evidence.passage),
        "article": _text(evidence.title + " \n " + evidence.body),
    }
    return tuple(_check_one(constraint, texts, evidence) for constraint in constraints)


def _check_one(constraint: Constraint, texts: dict[str, _Text], evidence: Evidence) -> Check:
    for level in ("sentence", "passage", "article"):
        if _holds(constraint, texts[level], level, evidence):
            return Check(constraint, level)
        if constraint.kind == "entity" and level != "article" and _by_surname(constraint, texts[level], texts):
            return Check(constraint, level)
    instead, where = _instead(constraint, texts)
    if not instead and constraint.kind == "year" and evidence.published and evidence.published[:4].isdigit():
        instead, where = (evidence.published[:4],), "date"  # the article's own date says which year it has
    return Check(constraint, "absent", instead, where)


def _by_surname(constraint: Constraint, text: _Text, texts: dict[str, _Text]) -> bool:
    """ "Mr Wong" in the sentence for "Victor Wong": its last word, when the article names the whole of it."""
    required = constraint.required
    return len(required) > 1 and stem(required[-1]) in text.set and _has_all(required, texts["article"])


def _has_all(tokens: Sequence[str], text: _Text) -> bool:
    return bool(tokens) and all(stem(token) in text.set or token in text.set for token in tokens)


def _holds(constraint: Constraint, text: _Text, level: str, evidence: Evidence) -> bool:
    kind = constraint.kind
    if kind == "year":
        year = int(constraint.forms[0])
        if _season_has(text.raw, year):
            return True
        return level == "article" and _dated(year, text.raw, evidence.published)
    if kind == "number":
        return any(form in _numbers(text) for form in constraint.forms)
    if kind == "outcome":
        return any(stem(form) in text.set for form in constraint.forms)
    if kind == "place":
        return _has_place(constraint.forms, text) or any(
            _demonym_root(form) in text.set for form in constraint.forms[:1] if form != "us"
        )
    if kind == "qualifier":
        key = constraint.forms[0]
        if key in W.GENDER_FORMS:
            return any(form in text.set for form in W.GENDER_FORMS[key])
        return any(_region_key(m.group(0)) == key for m in W.REGION.finditer(text.raw))
    return _has_all([_demonym_root(token) for token in constraint.required], text) or _has_all(
        constraint.required, text
    )


def _has_place(forms: Sequence[str], text: _Text) -> bool:
    """A form of the place in the text; "US" only in capitals ("us" is also a pronoun)."""
    if "us" in forms and re.search(r"\bU\.?S\.?A?\b", text.raw):
        return True
    return any(text.has_phrase(form) for form in forms if form != "us")


def _numbers(text: _Text) -> set[str]:
    return {n.replace(",", "") for n in W.NUMBER.findall(text.raw)} | text.set


def _demonym_root(word: str) -> str:
    """ "Malaysian" -> "malaysia", "Kenyan" -> "kenya": a people's adjective stands for its country."""
    if word.endswith("ian") and len(word) > 6:
        return word[:-1]
    if word.endswith("an") and len(word) > 5:
        return word[:-1]
    return word


def _season_has(text: str, year: int) -> bool:
    """The year written out, or inside a season ("2004-05", "2004/5") or an abbreviation ("'05")."""
    if re.search(rf"(?<!\d){year}(?!\d)", text):
        return True
    short = f"{year % 100:02d}"
    previous = year - 1
    return bool(
        re.search(rf"\b{previous}[-/–](?:{year}|{short}|{year % 10})\b", text) or re.search(rf"['’]{short}\b", text)
    )


def _dated(year: int, body: str, published: str | None) -> bool:
    """The article's date is that year, or is the year its "this year"/"last year"/"next year" means."""
    if not published or not published[:4].isdigit():
        return False
    published_year = int(published[:4])
    if published_year == year:
        return True
    lowered = body.lower()
    return any(phrase in lowered and published_year + shift == year for phrase, shift in W.RELATIVE_YEAR.items())


def _instead(constraint: Constraint, texts: dict[str, _Text]) -> tuple[tuple[str, ...], str]:
    """What the quote's sentence (then passage, then article) says in place of the missing value."""
    for level in ("sentence", "passage", "article"):
        raw = texts[level].raw
        if constraint.kind == "year":
            values = [m.group(1) for m in W.YEAR.finditer(raw) if m.group(1) != constraint.forms[0]]
        elif constraint.kind == "qualifier" and constraint.forms[0] in W.GENDER_FORMS:
            values = [key for key, forms in W.GENDER_FORMS.items() if any(f in texts[level].set for f in forms)]
        elif constraint.kind == "qualifier":
            values = [_region_key(m.group(0)) for m in W.REGION.finditer(raw)]
        elif constraint.kind == "place":
            values = [group[0] for group in W.PLACE_GROUPS if _has_place(group, texts[level])]
            values = [_place_name(v) for v in values if v not in constraint.forms]
        else:
            values = []
        if values:
            return tuple(dict.fromkeys(values)), level
    return (), ""


def _place_name(key: str) -> str:
    return {"uk": "the UK", "us": "the US", "eu": "the EU", "europe": "Europe"}.get(key, key.title())


# ---- reasons ----------------------------------------------------------------------------------------

_SUBJECT_AFTER_YEAR = re.compile(r"\b(?:19|20)\d\d\s+((?:[A-Za-z][\w'’-]*\s*){1,4})")
_SUBJECT_STOP = frozenset({"against", "in", "at", "on", "for", "to", "with", "from", "by", "was", "is", "did", "and"})


def reason(check_: Check, question: str, title: str, *, quoted: bool = False) -> str:
    """A plain sentence saying what the archive has instead of what was asked, as far as it can tell: of the
    closest article when declining, of the quoted one (`quoted`) in a caveat said with the answer."""
    constraint = check_.constraint
    instead = check_.instead[0] if check_.instead else None
    closest = f'The {"quoted" if quoted else "closest"} article ("{title}")'
    if constraint.kind == "year":
        subject = _year_subject(question, constraint.text)
        if instead and subject and check_.instead_level == "sentence":
            return f"The archive has the {subject} of {instead}, not {constraint.text}"
        if instead and check_.instead_level == "date":
            return f"{closest} is from {instead}, not {constraint.text}"
        if instead:
            return f"{closest} mentions {', '.join(check_.instead[:3])}, not {constraint.text}"
        return f"{closest} does not say it is about {constraint.text}"
    if constraint.kind == "place":
        asked = _place_name(constraint.forms[0])
        return f"{closest} is about {instead}, not {asked}" if instead else f"{closest} does not mention {asked}"
    if constraint.kind == "qualifier" and instead:
        return f"{closest} is about {instead}, not {constraint.text}"
    shown = constraint.text if constraint.kind != "entity" else _shown(constraint.text, question)
    return f"{closest} does not mention {shown}"


def _year_subject(question: str, year: str) -> str | None:
    for match in _SUBJECT_AFTER_YEAR.finditer(question):
        if not match.group(0).startswith(year):
            continue
        kept = []
        for token in match.group(1).split():
            bare = token.strip("?.,!;:")
            if bare.lower() in _SUBJECT_STOP:
                break
            kept.append(bare)
            if bare != token:
                break
        return " ".join(kept) or None
    return None


def _shown(text: str, question: str) -> str:
    """The entity as the question writes it (its capitals), else as extracted."""
    pattern = r"\s+".join(re.escape(token) + r"(?:['’]s)?" for token in text.split())
    match = re.search(pattern, question, re.I)
    return re.sub(r"['’]s$", "", match.group(0)) if match else text
