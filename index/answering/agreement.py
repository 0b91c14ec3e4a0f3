"""Does the quote agree with the question? What the question's constraints (`constraints`) do to the answer.

Two steps, both pure and cheap (string look-ups on texts retrieval already read; no encoding):
1. Among the best-scored sentences, one whose article holds every constraint goes first when it scores at
   least `Rule.rerank_share` of the best: "the 2007 awards" prefers the article that says 2007.
2. The first sentence's constraints that its article does not hold at all decide the answer, by kind:
   "decline" (Not found, with the reason), "caveat" (answered, the missing thing said plainly) or "ignore".
   A constraint whose words are common in the archive (`Rule.min_rarity`: its IDF as a share of the IDF of
   a word in no passage, so the floor means the same in an archive of ten passages or a million) never counts.
The rule's values were chosen on the dev sets by `python -m bench.fit_constraints` (docs/quality.md, "Near
misses"); they are not set by hand to particular questions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from index._rows import ArticleRow, PassageRow
from index.answering.candidates import Scored
from index.answering.constraints import Check, Constraint, Evidence, check, reason
from index.answering.lexical import words

RERANK_DEPTH = 8  # the best-scored sentences looked at for one that agrees


@dataclass(frozen=True)
class Rule:
    """What a missing constraint does, by kind (`year`, `number`, `entity`, `place`, `qualifier`, `outcome`, and
    `context`: an entity of an earlier turn of the conversation)."""

    actions: Mapping[str, str] = field(default_factory=dict)  # kind -> "decline" | "caveat" | "ignore"
    min_rarity: float = 0.0
    rerank_share: float = 0.0  # 0: no reranking

    def action(self, item: Check) -> str:
        kind = "context" if item.constraint.origin == "context" else item.constraint.kind
        return self.actions.get(kind, "ignore")


# Chosen by `python -m bench.fit_constraints` on the dev sets (docs/quality.md, "Near misses").
FITTED = Rule(
    actions={
        "year": "decline",
        "number": "caveat",
        "entity": "caveat",
        "place": "decline",
        "qualifier": "decline",
        "outcome": "caveat",
        "context": "ignore",
    },
    min_rarity=0.0,
    rerank_share=0.0,
)


@dataclass(frozen=True)
class Verdict:
    """The first sentence's checks and what they mean for the answer."""

    checks: tuple[Check, ...] = ()
    counted: tuple[Check, ...] = ()  # the missing ones the rule counts
    not_found_reason: str | None = None  # set: decline the answer, saying this
    caveats: tuple[str, ...] = ()


class Agreement:
    """The question's constraints checked against the candidates of one retrieval (article checks cached)."""

    def __init__(
        self,
        constraints: Sequence[Constraint],
        passages: Mapping[int, PassageRow],
        articles: Mapping[int, ArticleRow],
        sentence_text: Mapping[tuple[int, int], str],
        weights: Mapping[str, float],
        passages_total: int = 0,
    ) -> None:
        self.constraints = tuple(constraints)
        self.articles = articles
        self.sentence_text = sentence_text
        self.weights = weights
        self.rarest = math.log(1 + (passages_total + 0.5) / 0.5) if passages_total else 0.0  # a word in no passage
        self._passage_of: dict[tuple[int, int], str] = {}
        for passage in passages.values():
            article = articles.get(passage.article_row)
            if article is None:
                continue
            for ordinal in range(passage.first_sentence, passage.last_sentence + 1):
                self._passage_of.setdefault((passage.article_row, ordinal), article.body[passage.start : passage.end])

    def rarity(self, constraint: Constraint) -> float:
        """The IDF of the constraint's rarest word as a share of the IDF of a word found in no passage (1.0)."""
        tokens = [word for form in constraint.forms[:1] for word in words(form)] or [constraint.text]
        idf = max((self.weights.get(token, self.rarest) for token in tokens), default=self.rarest)
        return min(1.0, idf / self.rarest) if self.rarest else 1.0

    def checks(self, key: tuple[int, int]) -> tuple[Check, ...]:
        article = self.articles[key[0]]
        sentence = self.sentence_text.get(key, "")
        evidence = Evidence(
            sentence, self._passage_of.get(key, sentence), article.title, article.body, article.published
        )
        return check(self.constraints, evidence)

    def counted(self, checks: Sequence[Check], rule: Rule) -> list[Check]:
        """The missing constraints the rule counts (rare enough, and of a kind it does not ignore)."""
        return [item for item in checks if item.missing and self.rarity(item.constraint) >= rule.min_rarity]


def agreeing_first(scored: list[Scored], agreement: Agreement, rule: Rule) -> list[Scored]:
    """The scored sentences with, first, the best one whose article misses fewest counted constraints among
    those scoring at least `rule.rerank_share` of the best."""
    if not scored or rule.rerank_share <= 0 or not agreement.constraints:
        return scored
    best = scored[0].score
    chosen, fewest = 0, None
    for position, item in enumerate(scored[:RERANK_DEPTH]):
        if item.score < best * rule.rerank_share:
            break
        missing = len(agreement.counted(agreement.checks(item.candidate.key), rule))
        if fewest is None or missing < fewest:
            chosen, fewest = position, missing
        if missing == 0:
            break
    if chosen == 0:
        return scored
    return [scored[chosen]] + scored[:chosen] + scored[chosen + 1 :]


def verdict(first: Scored, agreement: Agreement, rule: Rule, question: str) -> Verdict:
    """What the first sentence's missing constraints do to the answer."""
    if not agreement.constraints:
        return Verdict()
    checks = agreement.checks(first.candidate.key)
    title = agreement.articles[first.candidate.key[0]].title
    declined: list[str] = []
    caveats: list[str] = []
    counted = tuple(agreement.counted(checks, rule))
    for item in counted:
        action = rule.action(item)
        if action == "decline":
            declined.append(reason(item, question, title))
        elif action == "caveat":
            caveats.append(reason(item, question, title, quoted=True))
    if declined:
        return Verdict(checks, counted, "; ".join(declined[:2]))
    return Verdict(checks, counted, None, tuple(caveats))
