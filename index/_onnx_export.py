"""The one-time export of the embedding model to ONNX, for the ONNX Runtime backend (`_onnx_runtime`).

The graph takes token ids and returns L2-normalised sentence vectors (mean pooling and normalisation are
inside it); it is optimised with ONNX Runtime's transformer optimizer and, by default, dynamically quantised
to int8 per channel. The export needs torch and takes about 10 s, so it runs once, in a child process, and
its result is kept in a cache folder.
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
from pathlib import Path
from typing import Any

from ._config import OFFLINE_ENVIRONMENT
from ._errors import ConfigurationError

logger = logging.getLogger(__name__)
notice = logging.getLogger("index.notice")  # what a person waiting at a terminal should hear about

ONNX_EXPORT_VERSION = "1"  # bump when the export recipe changes: cached files are keyed by it
ONNX_OPSET = 17


def _model_key(model_path: Path) -> str:
    """A cache key for an exported model: the recipe version and the model files' names, sizes and mtimes."""
    digest = hashlib.sha1(ONNX_EXPORT_VERSION.encode())
    for file in sorted(model_path.rglob("*")):
        if file.is_file():
            stat = file.stat()
            digest.update(f"{file.relative_to(model_path)}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    return digest.hexdigest()[:16]


def ensure_onnx_model(model_path: str | Path, cache_dir: Path, *, quantized: bool = True) -> Path:
    """The model at `model_path` exported to ONNX (int8 when `quantized`, else fp32): built once (about 10 s)
    and cached in `cache_dir`; concurrent callers wait for one export (file lock)."""
    model_path = Path(model_path)
    cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    stem = f"minilm-{_model_key(model_path)}"
    target = cache_dir / f"{stem}.{'int8' if quantized else 'fp32'}.onnx"
    if target.exists():
        return target
    with open(os.open(cache_dir / f"{stem}.lock", os.O_RDWR | os.O_CREAT, 0o600), "r+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if target.exists():
            return target
        started = time.monotonic()
        notice.info("preparing the embedding model for ONNX Runtime (once per data directory, about 10-20 s)…")
        fp32 = cache_dir / f"{stem}.fp32.onnx"
        if not fp32.exists():
            _export_in_subprocess(model_path, fp32)
        if quantized:
            _quantize(fp32, target)
        for file in (fp32, target):  # owner-only, like every other data file
            with contextlib.suppress(OSError):
                os.chmod(file, 0o600)
        logger.info("exported %s to %s in %.1f s", model_path, target.name, time.monotonic() - started)
    return target


def _quantize(fp32: Path, target: Path) -> None:
    """Dynamic int8 quantisation, per channel, written to a temporary file and renamed into place."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    temporary = target.with_suffix(".onnx.tmp")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs a "consider pre-processing" hint on the root logger
    try:
        quantize_dynamic(
            str(fp32),
            str(temporary),
            per_channel=True,
            weight_type=QuantType.QInt8,
            # Fused (com.microsoft) ops from the optimizer defeat ONNX shape inference: name the float type.
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)
    os.replace(temporary, target)


def _export_in_subprocess(model_path: Path, target: Path) -> None:
    """Export in a child process: the serving process then never imports torch (~0.5 GB and ~5 s saved), and
    torch's OpenMP threads don't linger beside ONNX Runtime's."""
    code = (
        "import sys; from pathlib import Path; from index._onnx_export import export_fp32;"
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
    raw = target.with_suffix(".raw.tmp")
    _torch_export(model_path, raw)
    temporary = target.with_suffix(".onnx.tmp")
    try:  # fuse attention/layer-norm/GELU: ~1.3x faster on CPU; the plain export works too
        from onnxruntime.transformers.optimizer import optimize_model

        config = json.loads((model_path / "config.json").read_text())
        optimized = optimize_model(
            str(raw),
            model_type="bert",
            num_heads=int(config["num_attention_heads"]),
            hidden_size=int(config["hidden_size"]),
        )
        optimized.save_model_to_file(str(temporary))
        raw.unlink()
    except Exception as error:
        logger.warning("ONNX transformer optimizer failed (%s); using the plain export", error)
        os.replace(raw, temporary)
    os.replace(temporary, target)


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
