"""Parsing archive files into articles: the seed's shape, the BBC shape, Markdown, JSON, JSONL and HTML."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from conftest import CORPUS, SEED_FILE, needs_corpus

from index._models import ParsedArticle
from index.reading.article import article_id_for
from index.reading.files import ArchiveFile
from index.reading.parse import parse_file
from index.reading.text import split_sentences

LIMIT = 10_000_000


def parse(root: Path, path: Path) -> list[ParsedArticle]:
    articles, warnings = parse_file(ArchiveFile(root, path), LIMIT)
    assert not warnings, warnings
    return articles


def parse_one(root: Path, path: Path) -> ParsedArticle:
    articles = parse(root, path)
    assert len(articles) == 1
    return articles[0]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ---- the seed ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed() -> ParsedArticle:
    return parse_one(SEED_FILE.parent, SEED_FILE)


def test_seed_metadata(seed: ParsedArticle) -> None:
    assert seed.source == "The Washington Times"
    assert seed.published == "2009-12-19"
    assert seed.dateline == "SEOUL"
    assert seed.location == "seeds/" + SEED_FILE.name
    assert seed.path == str(SEED_FILE)


def test_seed_title_is_derived_from_the_lede_and_flagged(seed: ParsedArticle) -> None:
    assert seed.title_derived is True
    assert seed.title
    assert len(seed.title) <= 81
    assert seed.title.rstrip("…") in seed.body[:200]
    assert "Obama" in seed.title and "North Korea" in seed.title


def test_seed_body_starts_after_the_dateline_and_has_no_boilerplate(seed: ParsedArticle) -> None:
    body = seed.body
    assert body.startswith("President Obama has proposed setting up a liaison office")
    assert "SEOUL |" not in body
    assert "The Washington Times - Saturday" not in body
    for junk in ("Copyright", "©", "Comment Policy", "Click to", "Click here", "Spot.im", "reprint permission"):
        assert junk not in body, junk
    assert body.rstrip().endswith("as he prepares for succession in Asia’s only communist dynasty.")


def test_seed_keeps_curly_quotes_and_apostrophes_verbatim(seed: ParsedArticle) -> None:
    assert "Mr. Obama’s first envoy" in seed.body
    assert "“North Korea is looking for a way to justify their return to the talks,”" in seed.body
    assert "“military-first”" in seed.body


def test_ids_and_hashes_are_stable_and_follow_the_location(seed: ParsedArticle, tmp_path: Path) -> None:
    again = parse_one(SEED_FILE.parent, SEED_FILE)
    assert again.article_id == seed.article_id
    assert again.content_hash == seed.content_hash
    assert seed.article_id == article_id_for(seed.location)
    # The documented id: the first 16 hex digits of the SHA-1 of "<folder name>/<relative path>".
    assert seed.location == f"{SEED_FILE.parent.name}/{SEED_FILE.name}"
    assert seed.article_id == hashlib.sha1(seed.location.encode("utf-8")).hexdigest()[:16]
    # The same archive folder somewhere else on disk: the same id.
    moved_root = tmp_path / "elsewhere" / "seeds"
    shutil.copytree(SEED_FILE.parent, moved_root)
    moved = parse_one(moved_root, moved_root / SEED_FILE.name)
    assert moved.article_id == seed.article_id
    assert moved.content_hash == seed.content_hash
    # Another file name: another id.
    renamed = moved_root / "renamed.txt"
    shutil.copy(SEED_FILE, renamed)
    assert parse_one(moved_root, renamed).article_id != seed.article_id


def test_content_hash_changes_with_the_body(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    path = write(root / "a.txt", "Headline here\n\nFirst paragraph of the story.\n")
    before = parse_one(root, path)
    write(path, "Headline here\n\nFirst paragraph of the story, corrected.\n")
    after = parse_one(root, path)
    assert after.article_id == before.article_id
    assert after.content_hash != before.content_hash


def test_seed_shape_with_a_byline_and_a_differently_spelled_header(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    path = write(
        root / "story.txt",
        "- The Daily Courier - Tuesday, March 4, 2008\n\nBy Jane Q. Doe\n\n"
        "LONDON | The bank raised rates by half a point on Tuesday.\n\nMarkets fell.\n\n"
        "Copyright © 2008 The Daily Courier. All rights reserved.\n",
    )
    article = parse_one(root, path)
    assert article.source == "The Daily Courier"
    assert article.published == "2008-03-04"
    assert article.dateline == "LONDON"
    assert article.byline == "Jane Q. Doe"
    assert article.body == "The bank raised rates by half a point on Tuesday.\n\nMarkets fell."
    assert article.title_derived


def test_a_paragraph_about_copyright_is_news_not_a_footer(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    path = write(
        root / "music.txt",
        "Music firms win download case\n\nA court ruled against the file-sharing network on Monday.\n\n"
        "Copyright holders said the ruling would protect artists. The network said it would appeal.\n\n"
        "Shares in record labels rose after the decision.\n\n"
        "Copyright (c) 2005 Example News. All rights reserved.\n",
    )
    body = parse_one(root, path).body
    assert "Copyright holders said the ruling would protect artists." in body
    assert body.endswith("Shares in record labels rose after the decision.")
    assert "All rights reserved" not in body


# ---- the BBC shape -----------------------------------------------------------------------------------


def test_bbc_shape_headline_becomes_the_title(tmp_path: Path) -> None:
    root = tmp_path / "bbc-news"
    path = write(
        root / "business" / "rates.txt",
        "Rates held at 4.75%\n\nThe Bank of England has kept interest rates on hold at 4.75%.\n\n"
        "The decision was widely expected by economists.\n",
    )
    article = parse_one(root, path)
    assert article.title == "Rates held at 4.75%"
    assert article.title_derived is False
    assert article.body.startswith("The Bank of England has kept")
    assert "Rates held at" not in article.body
    assert article.location == "bbc-news/business/rates.txt"
    assert article.published is None


@needs_corpus
def test_every_bbc_article_parses_with_its_headline_as_title() -> None:
    paths = sorted(CORPUS.rglob("*.txt"))
    assert len(paths) > 2000
    wrong = []
    for path in paths:
        article = parse_one(CORPUS, path)
        raw = path.read_text(encoding="utf-8")
        headline = " ".join(raw.split("\n", 1)[0].split())
        if article.title != headline or article.title_derived or article.body.startswith(headline):
            wrong.append((path.name, headline, article.title))
    assert wrong == []


def test_question_and_ellipsis_headlines_are_headlines(tmp_path: Path) -> None:
    root = tmp_path / "bbc-news"
    for name, headline in [
        ("q.txt", "Could Yukos be a blessing in disguise?"),
        ("e.txt", "Rivals of the £400 Apple..."),
    ]:
        path = write(root / name, f"{headline}\n\nThe first paragraph of the story. It goes on.\n\nA second one.\n")
        article = parse_one(root, path)
        assert (article.title, article.title_derived) == (headline, False)
        assert article.body.startswith("The first paragraph")


# ---- Markdown, JSON, JSONL ---------------------------------------------------------------------------


def test_markdown_with_front_matter(tmp_path: Path) -> None:
    root = tmp_path / "notes"
    path = write(
        root / "bridge.md",
        '---\ntitle: "Harbour bridge reopens"\ndate: 2021-03-04\nsource: Port Gazette\n'
        "url: https://example.com/bridge\nauthor: Jane Doe\n---\n\n"
        "The harbour bridge reopened on **Monday** after two years of repairs. See [the report](http://x.example) "
        "for details.\n\n![a photo](bridge.png)\n\nOfficials said traffic would return to normal.\n",
    )
    article = parse_one(root, path)
    assert article.title == "Harbour bridge reopens"
    assert not article.title_derived
    assert article.published == "2021-03-04"
    assert article.source == "Port Gazette"
    assert article.url == "https://example.com/bridge"
    assert article.byline == "Jane Doe"
    assert "---" not in article.body and "title:" not in article.body
    assert "reopened on Monday after" in article.body  # emphasis markers gone
    assert "See the report for details." in article.body  # link text kept, target gone
    assert "bridge.png" not in article.body and "http://x.example" not in article.body


def test_markdown_without_front_matter_takes_its_heading_as_title(tmp_path: Path) -> None:
    root = tmp_path / "notes"
    path = write(root / "plain.md", "# Council approves budget\n\nThe council approved the budget on Monday.\n")
    article = parse_one(root, path)
    assert article.title == "Council approves budget"
    assert article.body == "The council approved the budget on Monday."
    assert article.source == "notes"  # the archive folder's name stands in for a missing source


def test_json_array_of_records(tmp_path: Path) -> None:
    root = tmp_path / "feeds"
    records = [
        {
            "title": "Mayor resigns",
            "text": "The mayor resigned on Friday. She cited health reasons.",
            "date": "2020-01-02",
            "source": "City News",
            "url": "https://example.com/mayor",
        },
        {"title": "Second story", "body": "A second body of text. With two sentences.", "date": "5 March 2019"},
    ]
    path = write(root / "feed.json", json.dumps(records))
    first, second = parse(root, path)
    assert (first.title, first.source, first.published, first.url) == (
        "Mayor resigns",
        "City News",
        "2020-01-02",
        "https://example.com/mayor",
    )
    assert first.body == "The mayor resigned on Friday. She cited health reasons."
    assert (second.title, second.published, second.body) == (
        "Second story",
        "2019-03-05",
        "A second body of text. With two sentences.",
    )
    assert first.article_id != second.article_id
    assert first.path == second.path == str(path)
    # Ids are stable across parses.
    assert [a.article_id for a in parse(root, path)] == [first.article_id, second.article_id]


def test_single_json_object(tmp_path: Path) -> None:
    root = tmp_path / "feeds"
    path = write(root / "one.json", json.dumps({"title": "Only one", "body": "Just this text here."}))
    article = parse_one(root, path)
    assert (article.title, article.body) == ("Only one", "Just this text here.")


def test_jsonl_records(tmp_path: Path) -> None:
    root = tmp_path / "feeds"
    lines = [
        {"title": "One", "text": "First record body. It is fine.", "date": "2018-06-07", "source": "Wire"},
        {"title": "Two", "body": "Second record body.", "url": "https://example.com/2"},
        {"text": "A record without a title gets one from its first sentence. And more text follows."},
    ]
    path = write(root / "feed.jsonl", "\n".join(json.dumps(line) for line in lines) + "\n\n")
    one, two, three = parse(root, path)
    assert (one.title, one.body, one.published, one.source) == (
        "One",
        "First record body. It is fine.",
        "2018-06-07",
        "Wire",
    )
    assert (two.title, two.url, two.source) == ("Two", "https://example.com/2", "feeds")
    assert three.title_derived and three.title.startswith("A record without a title")
    assert len({one.article_id, two.article_id, three.article_id}) == 3
    # Adding a record in front does not change the id of a record keyed by its url.
    path.write_text("\n".join(json.dumps(line) for line in [lines[2], *lines]), encoding="utf-8")
    reparsed = parse(root, path)
    assert two.article_id in {a.article_id for a in reparsed}


# ---- HTML ----------------------------------------------------------------------------------------------

_PARAGRAPHS = [
    "Heavy rain caused floods across the valley on Tuesday, forcing hundreds of residents to leave their homes "
    "and seek shelter in schools and church halls.",
    "Emergency services said the water level had begun to fall by the evening, but warned that more rain was "
    "expected overnight across the whole region.",
    "The council opened three rest centres and asked people to avoid travelling unless their journey was "
    "absolutely necessary.",
]


def _html(head: str = "") -> str:
    paragraphs = "".join(f"<p>{p}</p>\n" for p in _PARAGRAPHS)
    return (
        f"<!doctype html><html><head><title>Floods hit valley | Daily Planet</title>{head}"
        "<style>.hidden { display: none } body { color: red }</style>"
        "<script>var tracking = 'SCRIPT_SECRET'; window.alert('SCRIPT_ALERT');</script></head>"
        "<body><nav><a href='/'>Home</a> | <a href='/news'>News</a></nav>"
        f"<article><h1>Floods hit valley</h1>\n{paragraphs}</article>"
        "<script>document.write('INLINE_SCRIPT')</script>"
        "<footer>Copyright 2020 Daily Planet. All rights reserved.</footer></body></html>"
    )


def test_html_main_text_without_script_or_style(tmp_path: Path) -> None:
    root = tmp_path / "web"
    path = write(root / "floods.html", _html())
    article = parse_one(root, path)
    assert article.title == "Floods hit valley"
    for paragraph in _PARAGRAPHS:
        assert paragraph in article.body
    for junk in ("SCRIPT_SECRET", "SCRIPT_ALERT", "INLINE_SCRIPT", "display: none", "color: red", "<p>", "Copyright"):
        assert junk not in article.body, junk


def test_html_date_comes_from_the_page_metadata(tmp_path: Path) -> None:
    root = tmp_path / "web"
    path = write(root / "dated.html", _html('<meta property="article:published_time" content="2021-05-06T10:00:00Z">'))
    assert parse_one(root, path).published == "2021-05-06"


def test_html_without_a_date_gets_none_not_a_guess_from_the_copyright_line(tmp_path: Path) -> None:
    root = tmp_path / "web"
    path = write(root / "undated.html", _html())
    assert parse_one(root, path).published is None


def test_htm_suffix_and_offsets_into_the_clean_body(tmp_path: Path) -> None:
    root = tmp_path / "web"
    path = write(root / "floods.htm", _html())
    article = parse_one(root, path)
    texts = [article.body[s.start : s.end] for s in split_sentences(article.body)]
    assert _PARAGRAPHS[2] in texts
