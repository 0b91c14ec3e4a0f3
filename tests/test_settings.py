"""Settings: every engine knob is read from the environment by `Settings.from_env` and reaches the code that
uses it as a value (no module reads `os.environ` itself)."""

from __future__ import annotations

from pathlib import Path

import pytest

from index import Archive, ConfigurationError, HashEmbedder, Settings, make_embedder
from index._settings import MAX_ARTICLE_SENTENCES, OFFLINE_ENVIRONMENT, use_offline_defaults


def test_new_fields_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "ARCHIVEBOT_MAX_ARTICLE_SENTENCES": "50",
            "ARCHIVEBOT_FAISS_NPROBE": "64",
            "ARCHIVEBOT_FAISS_EF_SEARCH": "128",
            "ARCHIVEBOT_ONNX_THREADS": "1",
            "ARCHIVEBOT_TORCH_THREADS": "3",
            "ARCHIVEBOT_FULL_TEXT": "fts5",
        },
        load_dotenv=False,
    )
    assert settings.full_text == "fts5"
    assert (settings.max_article_sentences, settings.faiss_nprobe, settings.faiss_ef_search) == (50, 64, 128)
    assert (settings.onnx_threads, settings.torch_threads) == (1, 3)  # two runtimes, two settings
    defaults = Settings.from_env({}, load_dotenv=False)
    assert defaults.max_article_sentences == MAX_ARTICLE_SENTENCES
    assert (defaults.faiss_nprobe, defaults.faiss_ef_search, defaults.onnx_threads) == (0, 0, 0)
    assert defaults.full_text == "auto"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ARCHIVEBOT_MAX_ARTICLE_SENTENCES", "many"),
        ("ARCHIVEBOT_MAX_ARTICLE_SENTENCES", "0"),
        ("ARCHIVEBOT_FAISS_NPROBE", "-1"),
        ("ARCHIVEBOT_FAISS_EF_SEARCH", "wide"),
        ("ARCHIVEBOT_ONNX_THREADS", "two"),
        ("ARCHIVEBOT_FULL_TEXT", "lucene"),
    ],
)
def test_a_bad_value_is_a_configuration_error_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env({name: value}, load_dotenv=False)


async def test_the_sentence_limit_setting_reaches_the_parser(tmp_path: Path) -> None:
    archive_dir = tmp_path / "archive"
    archive_dir.mkdir()
    body = " ".join(f"Sentence number {i} is about the harbour." for i in range(40))
    (archive_dir / "long.txt").write_text(body + "\n")
    (archive_dir / "short.txt").write_text("The harbour opened. It was sunny.\n")
    settings = Settings(data_dir=tmp_path / "data", archive_roots=(archive_dir,), max_article_sentences=10)
    archive = await Archive.open(settings, embedder=HashEmbedder(64))
    try:
        summary = await archive.reindex([archive_dir])
    finally:
        await archive.close()
    assert summary.added == 1
    [warning] = summary.warnings
    assert warning.path.endswith("long.txt") and "more than 10 sentences" in warning.reason


def test_an_unknown_backend_is_refused_not_replaced_by_torch(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="tensorrt"):
        make_embedder(Settings(data_dir=tmp_path, embed_backend="tensorrt"))


def test_an_unknown_worker_kind_is_refused() -> None:
    from index.embedding.pool import build_from_spec

    assert isinstance(build_from_spec({"kind": "hash", "dimension": 8}), HashEmbedder)
    with pytest.raises(ConfigurationError, match="tensorrt"):
        build_from_spec({"kind": "tensorrt", "model": "x", "precision": "fp32", "batch_size": 1, "threads": 1})


def test_offline_defaults_fill_gaps_and_keep_what_is_set() -> None:
    environment = {"HF_HUB_OFFLINE": "0"}
    use_offline_defaults(environment)
    assert environment == {**OFFLINE_ENVIRONMENT, "HF_HUB_OFFLINE": "0"}
