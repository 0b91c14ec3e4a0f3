"""Shared fixtures: a deterministic fake embedder, the seed archive, temporary data directories."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

# Helper modules the test modules import: their asserts get pytest's explanations too (and pytest does not
# warn that a module it loads as a plugin, `pytest_plugins = ["bot_fixtures"]`, was imported before).
pytest.register_assert_rewrite("bot_fixtures", "fake_discord")
pytest_plugins = ["thread_guard"]  # a leaked non-daemon thread fails the run, naming its test, instead of hanging it

from index import Archive, HashEmbedder, Settings  # noqa: E402 - after the assert rewrite registration
from index._settings import use_offline_defaults  # noqa: E402

use_offline_defaults()  # before any test imports transformers or tokenizers

PROJECT = Path(__file__).resolve().parent.parent
SEEDS = PROJECT / "seeds"
SEED_FILE = SEEDS / "000_b9ba399012d8b909.txt"
SHARED = PROJECT.parent / "shared"
CORPUS = SHARED / "corpus" / "bbc-news"
DEV_QUESTIONS = SHARED / "eval" / "dev_questions.jsonl"


def copy_corpus_articles(relatives, target: Path) -> Path:
    """Copy BBC articles (paths relative to the corpus) into `target`, keeping their folders."""
    for relative in relatives:
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(CORPUS / relative, destination)
    return target


needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is absent")


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    return HashEmbedder(256)


@pytest.fixture
def seed_archive_dir(tmp_path: Path) -> Path:
    """A writable copy of seeds/ (tests may change or delete files in it)."""
    target = tmp_path / "seeds"
    shutil.copytree(SEEDS, target)
    return target


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The confidence threshold is calibrated for the real model (docs/quality.md); the fake
    # embedder's cosines are lower, so fake-embedder archives use a low threshold.
    return Settings(data_dir=tmp_path / "data", model="hash:256", archive_roots=(SEEDS,), min_confidence=0.05)


@pytest.fixture
async def archive(settings: Settings, hash_embedder: HashEmbedder):
    """An empty archive (nothing indexed yet) using the fake embedder."""
    opened = await Archive.open(settings, embedder=hash_embedder)
    yield opened
    await opened.close()


@pytest.fixture
async def seeded(archive: Archive, seed_archive_dir: Path) -> Archive:
    """The fake-embedder archive with the seed article indexed."""
    await archive.reindex([seed_archive_dir])
    return archive


@pytest.fixture(scope="session")
def real_embedder(tmp_path_factory: pytest.TempPathFactory):
    """The embedder as shipped (the bundled all-MiniLM-L6-v2 on the default backend: ONNX Runtime int8 when
    onnxruntime is installed), in-process, loaded once per test session (the ONNX export is made once here)."""
    from index.embedding.embedder import make_embedder

    cache = tmp_path_factory.mktemp("models")
    return make_embedder(Settings(data_dir=cache, model_cache_dir=cache, embed_workers=1))


@pytest.fixture(scope="session")
def torch_embedder():
    """The bundled all-MiniLM-L6-v2 on sentence-transformers/torch in fp32: the reference the other paths match."""
    from index import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(precision="fp32", threads=2)


from postgres_support import postgres_server, postgres_url  # noqa: E402, F401 - fixtures for the PostgreSQL tests

BACKENDS = ("sqlite", "postgres")


@pytest.fixture(params=BACKENDS)
def archive_backend(request: pytest.FixtureRequest) -> str:
    """Each storage backend in turn: a test that takes it (or `backend_settings`) runs against both."""
    return str(request.param)


@pytest.fixture
def backend_settings(tmp_path: Path, archive_backend: str, request: pytest.FixtureRequest) -> Settings:
    """`settings` on the backend under test: the embedded data directory, or a fresh PostgreSQL database
    (the data directory then only holds the model cache)."""
    url = request.getfixturevalue("postgres_url") if archive_backend == "postgres" else ""
    return Settings(
        data_dir=tmp_path / "data", model="hash:256", archive_roots=(SEEDS,), min_confidence=0.05, database_url=url
    )
