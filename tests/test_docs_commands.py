"""No drift between the docs and the command line: every `archivebot …` command written in README.md and
docs/cli.md (code blocks, command tables and inline code) must parse against the real click CLI — the command
exists, every option it names exists on that command, the arguments fit — and the cheap ones run for real
(the fake embedder, a temporary data directory) and succeed.

The docs' own notation is understood: `[optional parts]`, placeholders in capitals (`QUESTION`, `FILE.jsonl`,
`ID_OR_TITLE`, `FOLDER…`), `--a/--b` for several options, `run | console` for alternatives, shell comments,
pipes and redirections around the command."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import PROJECT, SEEDS

from bot.cli import cli
from index import HashEmbedder, Settings

DOCUMENTS = ("README.md", "docs/cli.md")
SEED_ID = "63d4a59526eba1f7"  # the seed article's id (derived from its file and text, not the embedder)
RUN_FOR_REAL = ("index", "ask", "search", "stats", "article", "doctor", "gaps")
_PLACEHOLDER = re.compile(r"^(?:[A-Z][A-Z_:]*(?:\.[a-z]+)?…?|YYYY-MM-DD)$")
_SHELL_BREAKS = {"|", "||", "&", "&&", ";", "<", ">", ">>", "(", ")", "$("}


@dataclass(frozen=True)
class Documented:
    """One documented command line: where it is written, and its words after `archivebot`."""

    where: str
    words: tuple[str, ...]
    reference: bool = False  # a command named in prose (`archivebot migrate`), not a line to run

    def __str__(self) -> str:
        return f"{self.where}: archivebot {' '.join(self.words)}"


def _code_spans(text: str) -> Iterator[tuple[int, str, bool]]:
    """(line number, text, in prose) of every line of a fenced block and of every inline `code` span (the first
    cell of a table row is not prose: the command tables are syntax)."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            yield number, line, False
        else:
            for span in re.findall(r"`([^`]+)`", line):
                yield number, span, not line.startswith(f"| `{span}`")


def _words(line: str) -> list[list[str]]:
    """The words after each `archivebot` in a shell line, comments, pipes and redirections cut off;
    `a | b` between two of the CLI's commands is read as alternatives (one list each)."""
    lexer = shlex.shlex(line.replace("$ ", "", 1), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        tokens = list(lexer)
    except ValueError:  # an unbalanced quote: prose, not a command
        return []
    found: list[list[str]] = []
    for start, token in enumerate(tokens):
        if token != "archivebot":
            continue
        rest = tokens[start + 1 :]
        if len(rest) >= 3 and rest[1] == "|" and rest[0] in cli.commands and rest[2] in cli.commands:
            found.extend([[rest[0]], [rest[2]]])  # `archivebot run | console`
            continue
        words: list[str] = []
        for word in rest:
            if word in _SHELL_BREAKS or word.startswith(("|", "<", ">", ")")):
                break
            words.append(word)
        if words:
            found.append(words)
    return found


def documented_commands() -> list[Documented]:
    commands: list[Documented] = []
    for name in DOCUMENTS:
        text = (PROJECT / name).read_text(encoding="utf-8")
        for number, line, prose in _code_spans(text):
            if "archivebot" in line:
                for words in _words(line):
                    commands.append(Documented(f"{name}:{number}", tuple(words), prose and len(words) == 1))
    return commands


def _command_path(words: tuple[str, ...]) -> tuple[list[str], click.Command, list[str]]:
    """(the command's names, the click command, the words after them)."""
    command: click.Command = cli
    names: list[str] = []
    rest = list(words)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.commands.get(rest[0])
        if sub is None:
            raise AssertionError(f"no command `{' '.join(['archivebot', *names, rest[0]])}`")
        names.append(rest.pop(0))
        command = sub
    return names, command, rest


def _options(command: click.Command) -> dict[str, click.Option]:
    return {name: p for p in command.params if isinstance(p, click.Option) for name in p.opts + p.secondary_opts}


class Concrete:
    """Turns the docs' notation into real arguments: placeholders become real values (files that exist where
    the command checks that they do)."""

    def __init__(self, tmp: Path) -> None:
        questions = tmp / "questions.jsonl"
        questions.write_text(json.dumps({"q": "What did Obama propose?", "answers": ["liaison office"]}) + "\n")
        pairs = tmp / "pairs.csv"
        pairs.write_text("qtext,label,atext\nWhat did Obama propose?,1,A liaison office.\n")
        self.values = {
            "QUESTION": "What did Obama propose to North Korea?",
            "QUERY": "North Korea",
            "ID_OR_TITLE": SEED_ID,
            "ID": SEED_ID,
            "FOLDER…": str(SEEDS),
            "FOLDER": str(SEEDS),
            "FILE.jsonl": str(questions),
            "FILE.csv": str(pairs),
            "DIR": str(SEEDS),
            "D": "2009-01-01",
            "YYYY-MM-DD": "2009-01-01",
            "S": "Washington Times",
            "N": "3",
            "H": "127.0.0.1",
            "P": "0",
            "HOST:PORT": "127.0.0.1:0",
            "NAME": "archive",
            "URL": "https://news.example/rss.xml",
            "MINUTES": "30",
        }
        self.option_values = {
            "--source": "Washington Times",
            "--after": "2000-01-01",
            "--before": "2030-12-31",
            "--since": "2009-01-01",
        }

    def arguments(self, command: click.Command, words: list[str]) -> list[str]:
        options = _options(command)
        argv: list[str] = []
        for word in (w.strip("[]") for w in words):
            if not word or word == "…":
                continue
            names = word.split("/") if word.startswith("--") and "/--" in word else [word]
            if len(names) > 1 and all(n in options and not options[n].is_flag for n in names):
                for name in names:  # `--source/--after/--before`: each, with a value
                    argv += [name, self.option_values.get(name, "x")]
                continue
            if word in self.values:
                argv.append(self.values[word])
            elif _PLACEHOLDER.match(word):
                raise AssertionError(f"a placeholder the test does not know: {word} (add it to Concrete.values)")
            else:
                argv.append(word)
        return argv


def _parse(names: list[str], command: click.Command, argv: list[str]) -> None:
    """Parse `archivebot NAMES ARGV` with click itself (unknown options, missing or extra arguments, bad
    values all raise click's UsageError), without running anything."""
    context = click.Context(cli, info_name="archivebot")
    group: click.Command = cli
    for name in names[:-1]:
        assert isinstance(group, click.Group)
        group = group.commands[name]
        context = click.Context(group, info_name=name, parent=context)
    with command.make_context(names[-1], argv, parent=context):
        pass


DOCUMENTED = documented_commands()


def test_the_docs_document_commands() -> None:
    """The extraction itself, and drift the other way: every command of the CLI is written in these docs."""
    named = {words[0] for words in (d.words for d in DOCUMENTED)}
    assert set(cli.commands) <= named, f"commands no doc shows: {sorted(set(cli.commands) - named)}"
    assert {d.where.split(":")[0] for d in DOCUMENTED} == set(DOCUMENTS)
    assert len(DOCUMENTED) >= 30


@pytest.mark.parametrize("documented", DOCUMENTED, ids=str)
def test_documented_command_parses(documented: Documented, tmp_path: Path) -> None:
    names, command, rest = _command_path(documented.words)
    assert names, f"{documented}: no subcommand"
    help_result = CliRunner().invoke(cli, [*names, "--help"], obj={})
    assert help_result.exit_code == 0, help_result.output
    options = _options(command)
    for word in rest:
        for name in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", word.strip("[]")):
            assert name in options or name in ("-h", "--help"), f"{documented}: `{name}` is not an option of it"
            assert name in help_result.output, f"{documented}: `{name}` missing from `--help`"
    if documented.reference:
        return  # `archivebot migrate` in a sentence names the command; its options are documented elsewhere
    try:
        _parse(names, command, Concrete(tmp_path).arguments(command, rest))
    except click.UsageError as error:
        raise AssertionError(f"{documented}: {error.format_message()}") from error


def _runnable() -> list[Documented]:
    """The cheap documented commands, the index commands first (the others need a built archive)."""
    chosen = [d for d in DOCUMENTED if d.words[0] in RUN_FOR_REAL and "--repair" not in d.words]
    return sorted(chosen, key=lambda d: d.words[0] != "index")


def test_cheap_documented_commands_run(tmp_path: Path) -> None:
    """Each documented index/ask/search/stats/article/doctor/gaps line, run as written against the seeds with
    the fake embedder: exit 0, and JSON where the line asks for it."""
    settings = Settings(data_dir=tmp_path / "data", model="hash:256", archive_roots=(SEEDS,), min_confidence=0.05)
    concrete = Concrete(tmp_path)
    runnable = _runnable()
    assert {d.words[0] for d in runnable} == set(RUN_FOR_REAL)
    for documented in runnable:
        names, command, rest = _command_path(documented.words)
        argv = concrete.arguments(command, rest)
        # `ask --json - < questions.txt`: the questions come from stdin
        stdin = "What did Obama propose to North Korea?\n" if "-" in argv else None
        obj = {"settings": settings, "embedder": HashEmbedder(256)}
        result = CliRunner().invoke(cli, [*names, *argv], obj=obj, input=stdin)
        assert result.exit_code == 0, f"{documented} → {[*names, *argv]}: {result.output}"
        assert result.stdout.strip(), f"{documented}: printed nothing"
        if "--json" in argv:
            for line in result.stdout.strip().splitlines():
                json.loads(line)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors: set[str] = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        fenced = fenced != line.startswith("```")
        heading = re.match(r"#+ (.*)", line)
        if heading and not fenced:
            anchors.add(_slug(heading.group(1)))
    return anchors


def test_relative_links_and_anchors_resolve() -> None:
    """A page split or a heading renamed (docs/performance.md → bench/HISTORY.md) leaves no dead link."""
    pages = [PROJECT / "README.md", PROJECT / "CONTRIBUTING.md", *sorted((PROJECT / "docs").glob("*.md"))]
    pages += [PROJECT / "bench" / "HISTORY.md"] if (PROJECT / "bench" / "HISTORY.md").exists() else []
    dead: list[str] = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto: not checked here
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            if not resolved.exists():
                dead.append(f"{page.relative_to(PROJECT)}: {target} (no such file)")
            elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
                dead.append(f"{page.relative_to(PROJECT)}: {target} (no such heading)")
    assert not dead, "\n".join(dead)
