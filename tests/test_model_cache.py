"""The per-user cache of the ONNX export: reused by every data directory, keyed by the model's content and
the export recipe, written atomically, and rebuilt when a cached file is partial or damaged."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from index import Settings
from index._settings import user_cache_dir
from index.embedding import onnx_export as export


class FakeExport:
    """Stands in for the torch export and the quantizer: writes recognisable bytes, counts its calls."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.exports = 0
        self.quantizations = 0
        self.seconds = seconds

    def export(self, model_path: Path, target: Path) -> None:
        self.exports += 1
        time.sleep(self.seconds)
        target.write_bytes(b"fp32 graph of " + (model_path / "weights.bin").read_bytes())

    def quantize(self, fp32: Path, target: Path) -> None:
        self.quantizations += 1
        target.write_bytes(b"int8 of " + fp32.read_bytes())


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeExport:
    fake = FakeExport()
    monkeypatch.setattr(export, "_export_in_subprocess", fake.export)
    monkeypatch.setattr(export, "_quantize", fake.quantize)
    return fake


@pytest.fixture
def model(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"weights v1")
    (folder / "config.json").write_text('{"hidden_size": 8}')
    return folder


def test_a_second_caller_reuses_the_cached_export(tmp_path: Path, model: Path, fake: FakeExport) -> None:
    cache = tmp_path / "cache"
    first = export.ensure_onnx_model(model, cache)
    inode, mtime = first.stat().st_ino, first.stat().st_mtime_ns
    assert (fake.exports, fake.quantizations) == (1, 1)
    assert first.read_bytes() == b"int8 of fp32 graph of weights v1"
    again = export.ensure_onnx_model(model, cache)
    assert again == first and (fake.exports, fake.quantizations) == (1, 1)  # nothing built again
    assert (again.stat().st_ino, again.stat().st_mtime_ns) == (inode, mtime)
    fp32 = export.ensure_onnx_model(model, cache, quantized=False)  # the intermediate is cached too
    assert fake.exports == 1 and fp32 != first
    assert not [p for p in cache.iterdir() if p.name.endswith(".tmp")]  # no temporary file left behind
    assert all(p.stat().st_mode & 0o077 == 0 for p in cache.glob("*.onnx"))  # owner-only


def test_the_key_is_the_model_content_not_its_path(tmp_path: Path, model: Path, fake: FakeExport) -> None:
    cache = tmp_path / "cache"
    original = export.ensure_onnx_model(model, cache)
    moved = model.rename(tmp_path / "elsewhere")
    assert export.ensure_onnx_model(moved, cache) == original and fake.exports == 1
    (moved / "weights.bin").write_bytes(b"weights v2")  # a different model: a different file
    changed = export.ensure_onnx_model(moved, cache)
    assert changed != original and fake.exports == 2
    assert changed.read_bytes() == b"int8 of fp32 graph of weights v2"


def test_the_key_covers_the_export_recipe(
    tmp_path: Path, model: Path, fake: FakeExport, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    before = export.ensure_onnx_model(model, cache)
    real_version = export._version
    monkeypatch.setattr(
        export, "_version", lambda package: "99.0" if package == "onnxruntime" else real_version(package)
    )
    after = export.ensure_onnx_model(model, cache)
    assert after != before and fake.exports == 2


@pytest.mark.parametrize("damage", ["truncate", "flip", "no manifest", "garbage manifest"])
def test_a_partial_or_damaged_cache_file_is_rebuilt(tmp_path: Path, model: Path, fake: FakeExport, damage: str) -> None:
    cache = tmp_path / "cache"
    target = export.ensure_onnx_model(model, cache)
    good = target.read_bytes()
    manifest = target.with_name(target.name + ".json")
    if damage == "truncate":
        target.write_bytes(good[: len(good) // 2])
    elif damage == "flip":
        target.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))  # same size, different content
    elif damage == "no manifest":
        manifest.unlink()
    else:
        manifest.write_text("{not json")
    rebuilt = export.ensure_onnx_model(model, cache)
    assert rebuilt == target and rebuilt.read_bytes() == good
    assert fake.quantizations == 2  # the int8 file was made again (from the cached fp32 export)
    assert fake.exports == 1


def test_concurrent_callers_share_one_export(tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeExport(seconds=0.5)
    monkeypatch.setattr(export, "_export_in_subprocess", fake.export)
    monkeypatch.setattr(export, "_quantize", fake.quantize)
    cache = tmp_path / "cache"
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(export.ensure_onnx_model(model, cache))) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1 and len(results) == 3
    assert (fake.exports, fake.quantizations) == (1, 1)


def test_a_failed_export_leaves_no_cache_entry(tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(model_path: Path, target: Path) -> None:
        target.write_bytes(b"half a graph")
        raise export.ConfigurationError("could not export: disk full")

    monkeypatch.setattr(export, "_export_in_subprocess", failing)
    cache = tmp_path / "cache"
    with pytest.raises(export.ConfigurationError, match="disk full"):
        export.ensure_onnx_model(model, cache, quantized=False)
    assert not list(cache.glob("*.onnx")) and not list(cache.glob(".*.tmp"))


def test_the_default_cache_is_per_user_and_overridable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert user_cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "archivebot"
    assert user_cache_dir({"HOME": "/home/someone"}) == Path.home() / ".cache" / "archivebot"
    assert user_cache_dir({"XDG_CACHE_HOME": "relative/path"}) == Path.home() / ".cache" / "archivebot"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert Settings().model_cache() == tmp_path / "archivebot"
    assert Settings(data_dir=tmp_path / "a").model_cache() == Settings(data_dir=tmp_path / "b").model_cache()
    overridden = Settings.from_env({"ARCHIVEBOT_MODEL_CACHE": str(tmp_path / "m")}, load_dotenv=False)
    assert overridden.model_cache() == tmp_path / "m"


@pytest.mark.integration
def test_a_fresh_data_directory_indexes_without_exporting(
    real_embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session's real export (made once by the `real_embedder` fixture) serves a new data directory:
    no export, no quantisation, the cached file untouched."""
    from index.embedding.embedder import make_embedder

    cache = getattr(real_embedder, "cache_dir", None)
    if cache is None:
        pytest.skip("the default embedder is not on ONNX Runtime here")
    cached = sorted(Path(cache).glob("*.onnx"))
    assert cached
    stats = {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in cached}

    def refuse(*args: object) -> None:
        raise AssertionError("the cached export was not reused")

    monkeypatch.setattr(export, "_export_in_subprocess", refuse)
    monkeypatch.setattr(export, "_quantize", refuse)
    embedder = make_embedder(Settings(data_dir=tmp_path / "fresh", model_cache_dir=Path(cache), embed_workers=1))
    assert embedder.embed(["The harbour bridge opened."]).shape == (1, real_embedder.dimension)
    assert {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in cached} == stats
    assert not (tmp_path / "fresh" / "models").exists()  # nothing per data directory any more
