"""Settings from the environment (and `.env`), with sane defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from index._errors import ConfigurationError

BUNDLED_MODEL = "bundled:all-MiniLM-L6-v2"
HASH_MODEL = "hash"
# Articles with more sentences than this are skipped (a log dump, a word list, a book is not a news article).
MAX_ARTICLE_SENTENCES = 10_000

# The model ships with the package: never reach for the Hugging Face hub, and keep the tokenizers library's
# own thread pool off (it warns after a fork and competes with the encoder for the cores).
OFFLINE_ENVIRONMENT = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def use_offline_defaults(environ: MutableMapping[str, str] = os.environ) -> None:
    """Set OFFLINE_ENVIRONMENT's variables where the environment doesn't set them already (before
    transformers or tokenizers is imported: they read them once)."""
    for name, value in OFFLINE_ENVIRONMENT.items():
        environ.setdefault(name, value)


def user_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """This user's cache folder for Archivebot: `$XDG_CACHE_HOME/archivebot` (an absolute path, as the XDG
    spec asks), else `~/.cache/archivebot`."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base) if base and os.path.isabs(base) else Path.home() / ".cache") / "archivebot"


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def read_environment(environ: Mapping[str, str] | None = None, *, load_dotenv: bool = True) -> dict[str, str]:
    """The variables to configure from: `environ` if given, else the process environment after loading
    `.env` from the working directory (real environment variables win)."""
    if environ is not None:
        return dict(environ)
    if load_dotenv:
        try:
            from dotenv import load_dotenv as _load
        except ImportError:  # pragma: no cover - python-dotenv is a dependency
            pass
        else:
            _load(override=False)
    return dict(os.environ)


@dataclass(frozen=True)
class Environment:
    """The environment read once, with the typed readers every front end uses (the engine's settings, the
    bot's, the reading room's): each returns the default for an unset or blank variable and raises
    `ConfigurationError` with one line naming the variable and the bad value otherwise."""

    values: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None, *, load_dotenv: bool = True) -> Environment:
        return cls(read_environment(environ, load_dotenv=load_dotenv))

    def text(self, name: str, default: str = "") -> str:
        return self.values.get(name, "").strip() or default

    def whole_number(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError as error:
            raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from error
        if value < minimum:
            raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise ConfigurationError(f"{name} must be at most {maximum}, got {value}")
        return value

    def number(self, name: str, default: float, minimum: float | None = None, maximum: float | None = None) -> float:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError as error:
            raise ConfigurationError(f"{name} must be a number, got {raw!r}") from error
        if minimum is not None and value < minimum:
            raise ConfigurationError(f"{name} must not be below {minimum:g}, got {raw!r}")
        if maximum is not None and value > maximum:
            raise ConfigurationError(f"{name} must not be above {maximum:g}, got {raw!r}")
        return value

    def switch(self, name: str, default: bool) -> bool:
        raw = self.text(name).lower()
        if not raw:
            return default
        if raw in _TRUE:
            return True
        if raw in _FALSE:
            return False
        raise ConfigurationError(f"{name} must be 1 or 0 (true/false, yes/no, on/off), got {raw!r}")

    def choice(self, name: str, default: str, choices: Sequence[str]) -> str:
        raw = self.text(name).lower() or default
        if raw not in choices:
            listed = ", ".join(choices[:-1]) + f" or {choices[-1]}"
            raise ConfigurationError(f"{name} must be {listed}, got {raw!r}")
        return raw

    def ids(self, name: str) -> frozenset[int]:
        """A comma- (or space-) separated list of numeric ids, such as Discord channel ids."""
        raw = self.text(name)
        values = [part.strip() for part in raw.replace(";", ",").replace(" ", ",").split(",") if part.strip()]
        try:
            return frozenset(int(value) for value in values)
        except ValueError as error:
            raise ConfigurationError(
                f"{name} must be a comma-separated list of numeric Discord ids, got {raw!r}"
            ) from error


@dataclass(frozen=True)
class Settings:
    """Engine settings. Build with `Settings.from_env()`; every field has a default."""

    data_dir: Path = Path("data")
    archive_roots: tuple[Path, ...] = (Path("seeds"),)
    model: str = BUNDLED_MODEL
    precision: str = "auto"  # auto (onnx: int8; torch: bf16 where the CPU has it, else fp32) | fp32 | bf16 | int8
    torch_threads: int = 0  # threads of sentence-transformers/torch in this process; 0: torch's default
    onnx_threads: int = 0  # threads of ONNX Runtime in this process; 0: min(2, cores)
    embed_backend: str = "auto"  # auto (onnx when onnxruntime is installed, else torch) | onnx | torch
    embed_workers: int = (
        0  # processes for large embedding jobs (indexing): 0 = auto (onnx: 2, torch: 1), 1 = in-process
    )
    model_cache_dir: Path | None = None  # where the ONNX export is kept; None: the user's cache (model_cache())
    batch_size: int = 0  # 0 = auto (torch: 64; onnx: 32 texts of equal token count)
    min_confidence: float = 0.5
    max_file_bytes: int = 5_000_000
    max_question_chars: int = 1_000
    max_article_sentences: int = MAX_ARTICLE_SENTENCES  # longer "articles" are skipped with a warning
    faiss_factory: str = "auto"  # auto, or a FAISS index_factory string such as "HNSW32" or "IVF1024,SQ8"
    index_chunk_articles: int = 2000  # an index run commits every this many new articles (bounded memory)
    faiss_nprobe: int = 0  # IVF lists searched per question; 0: the built-in choice (~1.5% of the lists)
    faiss_ef_search: int = 0  # HNSW efSearch; 0: the built-in choice (256)
    # The embedded backend's passage search: auto (tantivy from 200,000 passages, FTS5 below) | tantivy | fts5
    full_text: str = "auto"
    passage_sentences: int = 3
    record_questions: bool = True  # keep declined and 👎 questions (text, time, server) for `archivebot gaps`
    retain_questions_days: int = 90  # recorded questions older than this are deleted
    # PostgreSQL + pgvector instead of the embedded SQLite + FAISS when set; out of repr (it may hold a password)
    database_url: str = field(default="", repr=False)
    # A streaming replica of that database for questions (votes, gaps, reindex and repairs stay on the primary)
    database_read_url: str = field(default="", repr=False)
    replica_max_lag: float = 30.0  # seconds of replay lag beyond which questions go to the primary

    def model_cache(self) -> Path:
        """Where the one-time ONNX export is kept, shared by every data directory of this user."""
        return self.model_cache_dir or user_cache_dir()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, load_dotenv: bool = True) -> Settings:
        """Read `ARCHIVEBOT_*` variables (after loading `.env` from the working directory, if present)."""
        return cls.from_environment(Environment.read(environ, load_dotenv=load_dotenv))

    @classmethod
    def from_environment(cls, env: Environment) -> Settings:
        precision = env.choice("ARCHIVEBOT_PRECISION", "auto", ("auto", "fp32", "bf16", "int8"))
        backend = env.choice("ARCHIVEBOT_EMBED_BACKEND", "auto", ("auto", "torch", "onnx"))
        if precision == "int8" and backend == "torch":
            raise ConfigurationError(
                "ARCHIVEBOT_PRECISION=int8 needs the onnx backend (ARCHIVEBOT_EMBED_BACKEND=onnx or auto)"
            )
        if precision == "bf16" and backend == "onnx":
            raise ConfigurationError("ARCHIVEBOT_PRECISION=bf16 needs ARCHIVEBOT_EMBED_BACKEND=torch")
        for name in ("ARCHIVEBOT_DATA_DIR", "ARCHIVEBOT_MODEL_CACHE"):
            folder = env.text(name)
            if folder and Path(folder).exists() and not Path(folder).is_dir():
                raise ConfigurationError(f"{name} must be a folder, but {folder} is a file")
        roots_raw = env.text("ARCHIVEBOT_ARCHIVE")
        roots = tuple(Path(p) for p in roots_raw.split(os.pathsep) if p) if roots_raw else (Path("seeds"),)
        model_cache = env.text("ARCHIVEBOT_MODEL_CACHE")
        database_url, database_read_url = env.text("ARCHIVEBOT_DATABASE_URL"), env.text("ARCHIVEBOT_DATABASE_READ_URL")
        if database_read_url:
            # Not at module level: index.storage imports this module.
            from index.storage.postgres.url import parse_database_url

            parse_database_url(database_read_url, "ARCHIVEBOT_DATABASE_READ_URL")
            if not database_url:
                raise ConfigurationError(
                    "ARCHIVEBOT_DATABASE_READ_URL names a replica but ARCHIVEBOT_DATABASE_URL (its primary) is not"
                    " set: set both, or unset ARCHIVEBOT_DATABASE_READ_URL"
                )
        return cls(
            data_dir=Path(env.text("ARCHIVEBOT_DATA_DIR", "data")),
            archive_roots=roots,
            model=env.text("ARCHIVEBOT_MODEL", BUNDLED_MODEL),
            precision=precision,
            torch_threads=env.whole_number("ARCHIVEBOT_TORCH_THREADS", 0),
            onnx_threads=env.whole_number("ARCHIVEBOT_ONNX_THREADS", 0),
            embed_backend=backend,
            embed_workers=env.whole_number("ARCHIVEBOT_EMBED_WORKERS", 0),
            model_cache_dir=Path(model_cache) if model_cache else None,
            batch_size=env.whole_number("ARCHIVEBOT_BATCH_SIZE", 0),
            min_confidence=env.number("ARCHIVEBOT_MIN_CONFIDENCE", cls.min_confidence, minimum=0, maximum=1),
            max_file_bytes=env.whole_number("ARCHIVEBOT_MAX_FILE_BYTES", 5_000_000, minimum=1),
            max_question_chars=env.whole_number("ARCHIVEBOT_MAX_QUESTION_CHARS", 1_000, minimum=10),
            max_article_sentences=env.whole_number(
                "ARCHIVEBOT_MAX_ARTICLE_SENTENCES", MAX_ARTICLE_SENTENCES, minimum=1
            ),
            faiss_factory=env.text("ARCHIVEBOT_FAISS_FACTORY", "auto"),
            index_chunk_articles=env.whole_number("ARCHIVEBOT_INDEX_CHUNK_ARTICLES", 2000, minimum=1),
            faiss_nprobe=env.whole_number("ARCHIVEBOT_FAISS_NPROBE", 0),
            faiss_ef_search=env.whole_number("ARCHIVEBOT_FAISS_EF_SEARCH", 0),
            full_text=env.choice("ARCHIVEBOT_FULL_TEXT", "auto", ("auto", "tantivy", "fts5")),
            passage_sentences=env.whole_number("ARCHIVEBOT_PASSAGE_SENTENCES", 3, minimum=1),
            record_questions=env.switch("ARCHIVEBOT_RECORD_QUESTIONS", True),
            retain_questions_days=env.whole_number("ARCHIVEBOT_RETAIN_QUESTIONS_DAYS", 90, minimum=1),
            database_url=database_url,
            database_read_url=database_read_url,
            replica_max_lag=env.number("ARCHIVEBOT_REPLICA_MAX_LAG", cls.replica_max_lag, minimum=0),
        )
