"""Settings from the environment (and `.env`), with sane defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
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


def _int(env: dict[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from error
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as error:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from error


def _switch(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name} must be 1 or 0 (true/false, yes/no, on/off), got {raw!r}")


def read_environment(environ: dict[str, str] | None = None, *, load_dotenv: bool = True) -> dict[str, str]:
    """The variables to configure from: `environ` if given, else the process environment after loading
    `.env` from the working directory (real environment variables win)."""
    if environ is not None:
        return environ
    if load_dotenv:
        try:
            from dotenv import load_dotenv as _load
        except ImportError:  # pragma: no cover - python-dotenv is a dependency
            pass
        else:
            _load(override=False)
    return dict(os.environ)


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
    passage_sentences: int = 3
    record_questions: bool = True  # keep declined and 👎 questions (text, time, server) for `archivebot gaps`
    retain_questions_days: int = 90  # recorded questions older than this are deleted
    extra: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def model_cache(self) -> Path:
        """Where the one-time ONNX export is kept, shared by every data directory of this user."""
        return self.model_cache_dir or user_cache_dir()

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, *, load_dotenv: bool = True) -> Settings:
        """Read `ARCHIVEBOT_*` variables (after loading `.env` from the working directory, if present)."""
        env = read_environment(environ, load_dotenv=load_dotenv)
        precision = env.get("ARCHIVEBOT_PRECISION", "auto").strip().lower() or "auto"
        if precision not in {"auto", "fp32", "bf16", "int8"}:
            raise ConfigurationError(f"ARCHIVEBOT_PRECISION must be auto, fp32, bf16 or int8, got {precision!r}")
        backend = env.get("ARCHIVEBOT_EMBED_BACKEND", "").strip().lower() or "auto"
        if backend not in {"auto", "torch", "onnx"}:
            raise ConfigurationError(f"ARCHIVEBOT_EMBED_BACKEND must be auto, torch or onnx, got {backend!r}")
        if precision == "int8" and backend == "torch":
            raise ConfigurationError(
                "ARCHIVEBOT_PRECISION=int8 needs the onnx backend (ARCHIVEBOT_EMBED_BACKEND=onnx or auto)"
            )
        if precision == "bf16" and backend == "onnx":
            raise ConfigurationError("ARCHIVEBOT_PRECISION=bf16 needs ARCHIVEBOT_EMBED_BACKEND=torch")
        roots_raw = env.get("ARCHIVEBOT_ARCHIVE", "").strip()
        roots = tuple(Path(p) for p in roots_raw.split(os.pathsep) if p) if roots_raw else (Path("seeds"),)
        return cls(
            data_dir=Path(env.get("ARCHIVEBOT_DATA_DIR", "").strip() or "data"),
            archive_roots=roots,
            model=env.get("ARCHIVEBOT_MODEL", "").strip() or BUNDLED_MODEL,
            precision=precision,
            torch_threads=_int(env, "ARCHIVEBOT_TORCH_THREADS", 0),
            onnx_threads=_int(env, "ARCHIVEBOT_ONNX_THREADS", 0),
            embed_backend=backend,
            embed_workers=_int(env, "ARCHIVEBOT_EMBED_WORKERS", 0),
            model_cache_dir=Path(env["ARCHIVEBOT_MODEL_CACHE"].strip())
            if env.get("ARCHIVEBOT_MODEL_CACHE", "").strip()
            else None,
            batch_size=_int(env, "ARCHIVEBOT_BATCH_SIZE", 0),
            min_confidence=_float(env, "ARCHIVEBOT_MIN_CONFIDENCE", cls.min_confidence),
            max_file_bytes=_int(env, "ARCHIVEBOT_MAX_FILE_BYTES", 5_000_000, minimum=1),
            max_question_chars=_int(env, "ARCHIVEBOT_MAX_QUESTION_CHARS", 1_000, minimum=10),
            max_article_sentences=_int(env, "ARCHIVEBOT_MAX_ARTICLE_SENTENCES", MAX_ARTICLE_SENTENCES, minimum=1),
            faiss_factory=env.get("ARCHIVEBOT_FAISS_FACTORY", "").strip() or "auto",
            index_chunk_articles=_int(env, "ARCHIVEBOT_INDEX_CHUNK_ARTICLES", 2000, minimum=1),
            faiss_nprobe=_int(env, "ARCHIVEBOT_FAISS_NPROBE", 0),
            faiss_ef_search=_int(env, "ARCHIVEBOT_FAISS_EF_SEARCH", 0),
            passage_sentences=_int(env, "ARCHIVEBOT_PASSAGE_SENTENCES", 3, minimum=1),
            record_questions=_switch(env, "ARCHIVEBOT_RECORD_QUESTIONS", True),
            retain_questions_days=_int(env, "ARCHIVEBOT_RETAIN_QUESTIONS_DAYS", 90, minimum=1),
            extra={k: v for k, v in env.items() if k.startswith(("ARCHIVEBOT_", "DISCORD_"))},
        )
