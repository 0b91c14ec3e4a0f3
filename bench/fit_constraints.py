"""Choose what a missing question constraint does to the answer (index/answering/agreement.py, `FITTED`).

    python -m bench.fit_constraints --data-dir /tmp/bbc [--questions FILE.jsonl ...]

Each dev question is parsed and retrieved once over an indexed archive (follow-up turns with the earlier
turns as history); then every rule of a small grid is applied to the same retrievals by the engine's own
`select`: rerank share {0, 0.3, 0.5, 0.7} x minimum rarity {0, .2, .3, .4} (a constraint's IDF as a share
of an unseen word's) x an action for each kind of constraint (year, number, entity, place, qualifier,
outcome, context) in {ignore, caveat, decline}. The rule chosen: fewest answerable questions declined, then
most near misses declined (or caveated), then fewest answerable questions caveated, then most answers in
the first quote, then most near misses said "Not found" (rather than answered with a caveat: the issue's
default), then the simplest (fewest kinds acted on, lower share and rarity). Printed: the chosen rule and,
for it and for the rule in the engine, the figures per set.
Held-out sets (`*_heldout.jsonl`, tests/data/heldout_questions.jsonl) are refused: they are only measured.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from index.answering.agreement import FITTED, Rule
from index.answering.conversation import Turn
from index.answering.query import Query
from index.answering.retrieval import Retrieval, retrieve
from index.answering.selection import select
from index.operations.evaluation import EvalQuestion, load_questions, location_matches

ROOT = Path(__file__).resolve().parent.parent
SHARED = next((p / "shared" / "eval" for p in ROOT.parents if (p / "shared" / "eval").is_dir()), ROOT / "eval")
DEFAULT_QUESTIONS = [
    str(SHARED / "dev_questions.jsonl"),
    str(SHARED / "near_miss_dev.jsonl"),
    str(SHARED / "followup_questions.jsonl"),
    str(ROOT / "tests/data/near_miss_own_dev.jsonl"),
    str(ROOT / "tests/data/near_miss_dev.jsonl"),
    str(ROOT / "tests/data/paraphrase_dev.jsonl"),
    str(ROOT / "tests/data/paraphrase_own_dev.jsonl"),
]
KINDS = ("year", "number", "entity", "place", "qualifier", "outcome", "context")
ACTIONS = ("ignore", "caveat", "decline")
SHARES = (0.0, 0.3, 0.5, 0.7)
MIN_RARITIES = (0.0, 0.2, 0.3, 0.4)


@dataclass(frozen=True)
class Case:
    item: EvalQuestion
    set_name: str
    query: Query
    retrieval: Retrieval


@dataclass(frozen=True)
class Seen:
    """One case under one (share, min_rarity): what select saw before the actions decide."""

    confident: bool
    missing_kinds: frozenset[str]
    found: bool
    found_first: bool


async def gather(data_dir: Path, paths: Sequence[str]) -> tuple[list[Case], float]:
    from index import Archive, Settings

    archive = await Archive.open(Settings.from_env({"ARCHIVEBOT_DATA_DIR": str(data_dir)}, load_dotenv=False))
    cases: list[Case] = []
    try:
        await archive.warm_up()
        for path in paths:
            if not Path(path).exists():
                continue
            history: list[Turn] = []
            for item in load_questions(Path(path)):
                if item.conversation is None or item.turn == 0:
                    history = []
                query = await archive._query(item.question, None, None, None, list(history))
                async with archive._reader() as reader:
                    retrieval = await retrieve(reader, query, with_sentences=True)
                cases.append(Case(item, f"{Path(path).parent.name}/{Path(path).stem}", query, retrieval))
                if item.conversation is not None:
                    answer = await archive.ask(item.question, history=list(history))
                    history.append(Turn(item.question, tuple(dict.fromkeys(q.article_id for q in answer.quotes))))
        return cases, archive.settings.min_confidence
    finally:
        await archive.close()


def observe(case: Case, share: float, min_rarity: float, min_confidence: float) -> Seen:
    every = Rule({kind: "caveat" for kind in KINDS}, min_rarity, share)
    selection = select(case.query, case.retrieval, max_quotes=3, min_confidence=min_confidence, rule=every)
    missing = frozenset(
        "context" if c.constraint.origin == "context" else c.constraint.kind for c in selection.verdict.counted
    )
    answers = [a.lower() for a in case.item.answers]
    texts = [q.text.lower() for q in selection.quotes]
    locations = {a.article_id: a.location for a in case.retrieval.articles.values()}
    found = bool(answers) and any(a in t for a in answers for t in texts)
    first = bool(answers and texts) and any(a in texts[0] for a in answers)
    if case.item.article and selection.quotes:
        first = first and location_matches(locations.get(selection.quotes[0].article_id, ""), case.item.article)
    return Seen(selection.answered, missing, found, first)


def figures(cases: Sequence[Case], seen: Sequence[Seen], actions: dict[str, str]) -> dict[str, dict[str, Any]]:
    by_set: dict[str, dict[str, Any]] = {}
    for case, item in zip(cases, seen, strict=True):
        row = by_set.setdefault(
            case.set_name,
            {
                "answerable": 0,
                "declined": 0,
                "caveated": 0,
                "in_quote": 0,
                "in_top": 0,
                "near": 0,
                "near_declined": 0,
                "near_said_not_found": 0,
            },
        )
        acted = {actions[kind] for kind in item.missing_kinds}
        declined = not item.confident or "decline" in acted
        caveated = not declined and "caveat" in acted
        if case.item.near:
            row["near"] += 1
            row["near_declined"] += declined or caveated
            row["near_said_not_found"] += declined
        elif case.item.article:
            row["answerable"] += 1
            row["declined"] += declined
            row["caveated"] += caveated
            row["in_quote"] += item.found and not declined
            row["in_top"] += item.found_first and not declined
    return by_set


def objective(by_set: dict[str, dict[str, Any]], actions: dict[str, str], share: float, min_rarity: float) -> tuple:
    total = {key: sum(row[key] for row in by_set.values()) for key in next(iter(by_set.values()))}
    acted = sum(1 for a in actions.values() if a != "ignore")
    return (
        -total["declined"],
        total["near_declined"],
        -total["caveated"],
        total["in_top"],
        total["near_said_not_found"],
        -acted,
        -share,
        -min_rarity,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--questions", nargs="*", default=DEFAULT_QUESTIONS)
    args = parser.parse_args()
    for path in args.questions:
        if "heldout" in Path(path).name:
            raise SystemExit(f"{path}: held-out sets are measured, never fitted on")
    cases, min_confidence = asyncio.run(gather(args.data_dir, args.questions))
    best: tuple[tuple, dict[str, Any]] | None = None
    for share, min_rarity in itertools.product(SHARES, MIN_RARITIES):
        seen = [observe(case, share, min_rarity, min_confidence) for case in cases]
        for choice in itertools.product(ACTIONS, repeat=len(KINDS)):
            actions = dict(zip(KINDS, choice, strict=True))
            by_set = figures(cases, seen, actions)
            key = objective(by_set, actions, share, min_rarity)
            if best is None or key > best[0]:
                best = (key, {"actions": actions, "rerank_share": share, "min_rarity": min_rarity, "by_set": by_set})
    assert best is not None
    print(json.dumps({"chosen": best[1]}, indent=1))
    seen = [observe(case, FITTED.rerank_share, FITTED.min_rarity, min_confidence) for case in cases]
    engine = {"actions": dict(FITTED.actions), "rerank_share": FITTED.rerank_share, "min_rarity": FITTED.min_rarity}
    print(json.dumps({"engine": engine | {"by_set": figures(cases, seen, dict(FITTED.actions))}}, indent=1))


if __name__ == "__main__":
    main()
