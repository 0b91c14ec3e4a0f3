"""The one-time export of the embedding model to ONNX, for the ONNX Runtime backend (`_onnx_runtime`).

The graph takes token ids and returns L2-normalised sentence vectors (mean pooling and normalisation are
inside it); it is optimised with ONNX Runtime's transformer optimizer and, by default, dynamically quantised
to int8 per channel. The export needs torch and takes about 10 s, so it runs once per machine: the result is
kept in a per-user cache folder (`ARCHIVEBOT_MODEL_CACHE`, else `$XDG_CACHE_HOME/archivebot`, else
`~/.cache/archivebot`) that every data directory shares.

A cached file is named by what it was made from: the model's content (a hash of its files, not their path)
and the export recipe (this module's version, the opset, int8 or fp32, and the versions of torch,
transformers, onnx and onnxruntime). It is written to a temporary file and renamed into place under a file
lock, and a manifest beside it records its size and SHA-256: a partial or damaged file is detected when it
is next used and built again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from index._errors import ConfigurationError
from index._settings import OFFLINE_ENVIRONMENT

logger = logging.getLogger(__name__)
notice = logging.getLogger("index.notice")  # what a person waiting at a terminal should hear about

ONNX_EXPORT_VERSION = "2"  # bump when the export recipe changes: cached files are keyed by it
ONNX_OPSET = 17
_RECIPE_PACKAGES = ("torch", "transformers", "onnx", "onnxruntime")
_DIGESTS_FILE = "model-digests.json"


def ensure_onnx_model(model_path: str | Path, cache_dir: Path, *, quantized: bool = True) -> Path:
    """The model at `model_path` exported to ONNX (int8 when `quantized`, else fp32), from the cache when a
    valid copy is there, else built (about 10 s) and cached. Concurrent callers wait for one build."""
    model_path = Path(model_path)
    cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = cache_dir / f"{cache_stem(model_path, cache_dir, quantized=quantized)}.onnx"
    if _is_valid(target):
        return target
    with _locked(target.with_name(target.name + ".lock")):
        if _is_valid(target):  # another process built it while this one waited
            return target
        _remove_leftovers(target)
        started = time.monotonic()
        if quantized:
            fp32 = ensure_onnx_model(model_path, cache_dir, quantized=False)
            _commit(target, lambda temporary: _quantize(fp32, temporary))
        else:
            notice.info("preparing the embedding model for ONNX Runtime (once per machine, about 10-20 s)…")
            _commit(target, lambda temporary: _export_in_subprocess(model_path, temporary))
        logger.info("exported %s to %s in %.1f s", model_path, target, time.monotonic() - started)
    return target


def cache_stem(model_path: Path, cache_dir: Path, *, quantized: bool) -> str:
    """`minilm-<model content>-<recipe>.<int8|fp32>`: a different model, recipe or library version gets a
    different file, and the same model anywhere on disk gets the same one."""
    recipe = {
        "recipe": ONNX_EXPORT_VERSION,
        "opset": str(ONNX_OPSET),
        "precision": "int8" if quantized else "fp32",
        **{package: _version(package) for package in _RECIPE_PACKAGES},
    }
    recipe_key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]
    return f"minilm-{model_digest(model_path, cache_dir)[:16]}-{recipe_key}.{recipe['precision']}"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def model_digest(model_path: Path, cache_dir: Path) -> str:
    """SHA-256 over the model folder's file names and contents. Hashing ~90 MB takes ~0.5 s, so the digest
    is remembered in the cache folder against the files' names, sizes, mtimes and inodes, and only computed
    again when one of those changes."""
    files = sorted(file for file in model_path.rglob("*") if file.is_file())
    signature = hashlib.sha256()
    for file in files:
        stat = file.stat()
        signature.update(f"{file.relative_to(model_path)}:{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ino}\n".encode())
    remembered_file = cache_dir / _DIGESTS_FILE
    remembered: dict[str, str] = {}
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads(remembered_file.read_text())
        remembered = {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}
    if signature.hexdigest() in remembered:
        return remembered[signature.hexdigest()]
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file.relative_to(model_path)}\n".encode())
        with open(file, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    remembered[signature.hexdigest()] = digest.hexdigest()
    with contextlib.suppress(OSError):  # only a shortcut: a read-only cache still works
        _write_atomically(remembered_file, json.dumps(remembered, indent=1).encode())
    return digest.hexdigest()


def _manifest(target: Path) -> Path:
    return target.with_name(target.name + ".json")


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _is_valid(target: Path) -> bool:
    """The cached file is there, whole and unchanged: its size and SHA-256 match its manifest."""
    try:
        manifest = json.loads(_manifest(target).read_text())
        if target.stat().st_size != int(manifest["size"]):
            return False
        return bool(_file_sha256(target) == manifest["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _commit(target: Path, build: Callable[[Path], None]) -> None:
    """`build(temporary)` writes the file; it is then made owner-only, renamed into place and described by
    its manifest (written last, so a file without a valid manifest is never trusted)."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        build(temporary)
        os.chmod(temporary, 0o600)
        manifest = {"size": temporary.stat().st_size, "sha256": _file_sha256(temporary), "made": time.time()}
        with contextlib.suppress(FileNotFoundError):
            _manifest(target).unlink()
        os.replace(temporary, target)
        _write_atomically(_manifest(target), json.dumps(manifest).encode())
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """An exclusive lock across processes (released by the kernel if the holder dies)."""
    with open(os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600), "r+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        yield


def _remove_leftovers(target: Path) -> None:
    """Temporary files of a build that died (the lock is held, so no live build owns them)."""
    for leftover in target.parent.glob(f".{target.name}.*.tmp*"):
        with contextlib.suppress(OSError):
            leftover.unlink()


def _quantize(fp32: Path, target: Path) -> None:
    """Dynamic int8 quantisation, per channel."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs a "consider pre-processing" hint on the root logger
    try:
        quantize_dynamic(
            str(fp32),
            str(target),
            per_channel=True,
            weight_type=QuantType.QInt8,
            # Fused (com.microsoft) ops from the optimizer defeat ONNX shape inference: name the float type.
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)


def _export_in_subprocess(model_path: Path, target: Path) -> None:
    """Export in a child process: the serving process then never imports torch (~0.5 GB and ~5 s saved), and
    torch's OpenMP threads don't linger beside ONNX Runtime's."""
    code = (
        "import sys; from pathlib import Path; from index.embedding.onnx_export import export_fp32;"
        " export_fp32(Path(sys.argv[1]), Path(sys.argv[2]))"
    )
    environment = {**os.environ, **OFFLINE_ENVIRONMENT}
    package_root = str(Path(__file__).resolve().parent.parent)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, environment.get("PYTHONPATH")]))
    completed = subprocess.run(
        [sys.executable, "-c", code, str(model_path), str(target)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if completed.returncode != 0 or not target.exists():
        tail = (completed.stderr or "").strip().splitlines()[-3:]
        raise ConfigurationError(f"could not export {model_path} to ONNX: {' | '.join(tail) or completed.returncode}")


def export_fp32(model_path: Path, target: Path) -> None:
    """torch -> ONNX (with pooling and normalisation), then the transformer optimizer; runs in the child."""
    raw = target.with_name(target.name + ".raw.tmp")
    _torch_export(model_path, raw)
    optimized_path = target.with_name(target.name + ".optimized.tmp")
    try:  # fuse attention/layer-norm/GELU: ~1.3x faster on CPU; the plain export works too
        from onnxruntime.transformers.optimizer import optimize_model

        config = json.loads((model_path / "config.json").read_text())
        optimized = optimize_model(
            str(raw),
            model_type="bert",
            num_heads=int(config["num_attention_heads"]),
            hidden_size=int(config["hidden_size"]),
        )
        optimized.save_model_to_file(str(optimized_path))
        raw.unlink()
    except Exception as error:
        logger.warning("ONNX transformer optimizer failed (%s); using the plain export", error)
        os.replace(raw, optimized_path)
    os.replace(optimized_path, target)


def _torch_export(model_path: Path, raw: Path) -> None:
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_path)).eval()

    class _Pooled(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    names = ["input_ids", "attention_mask", "token_type_ids"]
    dummy = torch.ones(2, 16, dtype=torch.long)
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Pooled(model),
            (dummy, dummy, torch.zeros_like(dummy)),
            str(raw),
            input_names=names,
            output_names=["embedding"],
            dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "embedding": {0: "batch"}},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
