"""The million-passage bench's archive generator (bench/million.py): exact copies as before, near copies that
differ from each other yet stay readable, parse with their own source and date, and are deterministic."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from bench.million import build_archive, copy_source, near_copy, sentences_of

ARTICLE = (
    "Shell pays $1m to former finance chief\n\n"
    "Shell is to pay $1m (£522,000) to the ex-finance chief who stepped down from her post in April 2004 after "
    "the firm over-stated its reserves. Judy Boynton finally left the firm on 31 December, having spent the "
    'intervening time as a special advisor to the chief executive. She was leaving "by mutual agreement", the '
    "firm said in a statement.\n\n"
    "The revelation that Shell had inflated its reserves led to the resignation of its chairman, Sir Phil "
    "Watts. An investigation commissioned by Shell found that Ms Boynton had to share responsibility for the "
    "company's behaviour. Despite receiving an email which said the firm had fooled the market, she did "
    "nothing to inquire further. The oil giant has since rebuilt its reserves figures from the ground up.\n"
)
SPORT = (
    "Robben earns Chelsea late win\n\n"
    "Arjen Robben scored a late winner as Chelsea beat Portsmouth 2-0 at Stamford Bridge on Saturday. The "
    "Dutch winger curled a shot into the far corner with four minutes left. Joe Cole added a second in the "
    "final minute to seal a win that kept the leaders five points clear at the top of the table.\n"
)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "business").mkdir(parents=True)
    (root / "sport").mkdir()
    (root / "business" / "shell.txt").write_text(ARTICLE)
    (root / "sport" / "robben.txt").write_text(SPORT)
    return root


def _body(text: str) -> str:
    return text.split("---\n", 2)[2].strip() if text.startswith("---\n") else text.partition("\n")[2].strip()


def test_exact_copies_keep_the_bodies_and_number_the_headlines(corpus: Path, tmp_path: Path) -> None:
    assert build_archive(tmp_path / "out", 3, corpus=corpus) == 6
    for copy in range(3):
        text = (tmp_path / "out" / f"copy{copy:03d}" / "business" / "shell.txt").read_text()
        assert text.startswith(f"Shell pays $1m to former finance chief (edition {copy})\n")
        assert _body(text) == _body(ARTICLE)


def test_near_copies_differ_from_each_other_but_only_a_little(corpus: Path, tmp_path: Path) -> None:
    assert build_archive(tmp_path / "out", 6, variation="near", corpus=corpus) == 12
    original = tmp_path / "out" / "copy000" / "business" / "shell.txt"
    assert original.read_text() == ARTICLE  # copy 0 is the corpus as it is
    copies = [(tmp_path / "out" / f"copy{c:03d}" / "business" / "shell.md").read_text() for c in range(1, 6)]
    bodies = [_body(text) for text in copies]
    assert len(set(bodies)) == len(bodies)  # no two copies alike
    original_words = _body(ARTICLE).split()
    for body in bodies:
        assert body != _body(ARTICLE)
        kept = Counter(body.split()) & Counter(original_words)
        assert 0.9 <= sum(kept.values()) / len(original_words) <= 1.0  # a few % of the words dropped at most
        assert not Counter(body.split()) - Counter(original_words)  # no word that was not there
        # the facts stay: numbers, names and the quoted words
        for fact in ("$1m", "(£522,000)", "April 2004", "Judy Boynton", "Sir Phil", '"by'):
            assert fact in body
    # some copy has a pair of sentences swapped somewhere, some copy has words dropped
    original_sentences = [sentences_of(p) for p in _body(ARTICLE).split("\n\n")]
    assert any([sentences_of(p) for p in body.split("\n\n")] != original_sentences for body in bodies)
    assert any(len(body.split()) < len(original_words) for body in bodies)


def test_near_copies_stay_readable(corpus: Path, tmp_path: Path) -> None:
    build_archive(tmp_path / "out", 8, variation="near", corpus=corpus)
    for path in (tmp_path / "out").rglob("*.md"):
        body = _body(path.read_text())
        paragraphs = body.split("\n\n")
        assert len(paragraphs) == len(_body(ARTICLE if "shell" in path.name else SPORT).split("\n\n"))
        for paragraph in paragraphs:
            assert "  " not in paragraph and paragraph == paragraph.strip()
            for sentence in sentences_of(paragraph):
                assert re.match(r'["“‘]?[A-Z0-9]', sentence), sentence  # starts like a sentence
                assert sentence.rstrip("\"”’'").endswith((".", "!", "?")), sentence  # and ends like one


def test_near_copies_are_deterministic_in_the_seed(corpus: Path, tmp_path: Path) -> None:
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        build_archive(tmp_path / name, 4, variation="near", seed=seed, corpus=corpus)

    def files(name: str) -> dict[str, str]:
        root = tmp_path / name
        return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}

    assert files("a") == files("b")
    assert files("a") != files("c")
    assert near_copy(ARTICLE, 3, "k", seed=5) == near_copy(ARTICLE, 3, "k", seed=5)
    assert near_copy(ARTICLE, 3, "k", seed=5) != near_copy(ARTICLE, 4, "k", seed=5)


async def test_near_copies_parse_with_their_own_headline_source_and_date(corpus: Path, tmp_path: Path) -> None:
    from index import Archive, HashEmbedder, Settings

    build_archive(tmp_path / "out", 4, variation="near", corpus=corpus)
    settings = Settings(data_dir=tmp_path / "data", archive_roots=(tmp_path / "out",), model="hash:32")
    archive = await Archive.open(settings, embedder=HashEmbedder(32))
    try:
        summary = await archive.reindex([tmp_path / "out"])
        assert summary.added == 8
        hits = await archive.search("Shell finance chief Boynton reserves", limit=10)
        # the near copies may be listed as one story's copies ("also in"): count those too
        shell = [
            (item.source, item.date)
            for hit in hits
            for item in (hit, *hit.also_in)
            if item.title == "Shell pays $1m to former finance chief"
        ]
        assert len(shell) == 4  # every copy, each with the original headline
        sources = {source for source, _ in shell}
        dates = {day for _, day in shell}
        assert {copy_source(c) for c in (1, 2, 3)} <= sources
        assert len(dates) == 4 and None in dates  # copy 0 is undated, the three near copies on three days
    finally:
        await archive.close()
