"""`python -m bench [--quick] [--articles N] [--parts indexing,answering,scale,lexical] [--sizes 100000,1000000]`

Optional parts: `updates` (10 changed articles in a large archive), `postgres` (the PostgreSQL backend beside the
embedded one over the prebuilt BBC archive), `memory` (peak RSS of `archivebot index` at two archive sizes;
`--memory-backends embedded,postgres` for PostgreSQL too),
`million` (a real 1M-passage archive end to end on both backends), `peer` (txtai beside Archivebot over the BBC
archive: indexing, warm latency, first-answer quality; needs the `bench` extra), `lexical-engines` (the
shipped tantivy index against the project's FTS5 BM25 path over the same passages and query terms).

Prints one JSON document on stdout (progress on stderr) and saves it under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from index._settings import use_offline_defaults

# Thread pools are sized deliberately: an oversubscribed 2-core machine measures nothing useful.
use_offline_defaults()


def _targets(report: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets, each with the measured figure and whether it is met."""
    targets: dict[str, Any] = {}
    indexing = report.get("indexing", {})
    for label, result in indexing.get("pipelines", {}).items():
        targets[f"indexing_{label}_speedup_ge_2x"] = {
            "value": result["speedup_vs_baseline"],
            "met": result["speedup_vs_baseline"] >= 2,
        }
        targets[f"indexing_{label}_overhead_le_10pct"] = {
            "value": result["overhead_share"],
            "met": result["overhead_share"] <= 0.10,
        }
        targets[f"indexing_{label}_unchanged_reindex_le_5s"] = {
            "value": result["unchanged_reindex_s"],
            "met": result["unchanged_reindex_s"] <= 5,
        }
    end_to_end = indexing.get("end_to_end")
    if end_to_end:
        targets["indexing_end_to_end_le_half_of_encode"] = {
            "value": end_to_end["ratio"],
            "met": end_to_end["ratio"] <= 0.5,
        }
    for backend in ("default", "torch", "onnx_fp32"):
        answering = report.get("answering", {}).get(backend)
        if answering and "total" in answering:
            total = answering["total"]
            targets[f"answer_{backend}_p50_le_30ms"] = {"value": total["p50"], "met": total["p50"] <= 30}
            targets[f"answer_{backend}_p95_le_60ms"] = {"value": total["p95"], "met": total["p95"] <= 60}
        followups = (answering or {}).get("followup_ask_wall_ms")
        if followups:
            targets[f"followup_{backend}_p95_le_60ms"] = {"value": followups["p95"], "met": followups["p95"] <= 60}
    postgres = report.get("postgres", {}).get("ask_ms", {}).get("postgres")
    if postgres:
        targets["postgres_answer_p95_le_100ms"] = {
            "value": postgres["total"]["p95"],
            "met": postgres["total"]["p95"] <= 100,
        }
    million = report.get("scale", {}).get("1000000")
    if million:
        targets["1M_search_p95_le_50ms"] = {
            "value": million["search_ms"]["p95"],
            "met": million["search_ms"]["p95"] <= 50,
        }
        targets["1M_recall_at_10_ge_0.95"] = {"value": million["recall_at_10"], "met": million["recall_at_10"] >= 0.95}
        serving = million["serving"]["rss_mb"]
        model = max(
            (report.get("answering", {}).get(b, {}).get("rss_mb", 0) for b in ("default", "torch", "onnx_fp32")),
            default=0,
        )
        targets["1M_serving_rss_le_2GB"] = {
            "value_mb": round(serving + model, 1),
            "met": serving + model <= 2048,
            "note": "vector index process RSS + the answering process RSS (model + BBC archive), added",
        }
    return targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small run: 200 articles, 1 round, 100k vectors only")
    parser.add_argument("--articles", type=int, default=None, help="index only N articles of the corpus (default all)")
    parser.add_argument("--parts", default="indexing,answering,scale,lexical")
    parser.add_argument(
        "--backends",
        default="default,torch1,onnx_fp32,e2e",
        help="indexing pipelines: default (Settings() as shipped: onnx int8, 2 processes), torch1 (torch fp32,"
        " in-process), torch (torch fp32, 2 processes), onnx_fp32, onnx (int8) (both 2 processes); e2e: a fresh"
        " `archivebot index` process of BBC + the seed, model cache warm, against plain encode()",
    )
    parser.add_argument(
        "--update-articles",
        type=int,
        default=100_000,
        help="archive size for the 'updates' part (10 changed articles re-indexed)",
    )
    parser.add_argument(
        "--copies",
        default="4,16",
        help="archive sizes for the 'memory' part, in copies of the corpus (peak RSS of archivebot index)",
    )
    parser.add_argument(
        "--memory-backends",
        default="embedded",
        help="'memory' part: embedded and/or postgres (a private PostgreSQL server per size: the index process's"
        " peak RSS, the server's, the database size)",
    )
    parser.add_argument(
        "--million-copies",
        type=int,
        default=53,
        help="'million' part: copies of the corpus to index with the real model (53 x BBC = ~1.0M passages)",
    )
    parser.add_argument(
        "--million-backends", default="embedded,postgres", help="'million' part: embedded and/or postgres"
    )
    parser.add_argument(
        "--million-stages", default="build,changed,ask", help="'million' part: build, changed and/or ask"
    )
    parser.add_argument(
        "--million-work",
        type=Path,
        default=None,
        help="'million' part: keep the archive, data and server here (reused by a later invocation)",
    )
    parser.add_argument(
        "--million-variation",
        default="exact",
        choices=("exact", "near"),
        help="'million' part: exact copies (distinct headlines, identical bodies: the worst case, the default) or"
        " near copies (word dropout, sentences shuffled within paragraphs, distinct dates and sources)",
    )
    parser.add_argument("--million-seed", type=int, default=0, help="'million' part: the near copies' seed")
    parser.add_argument(
        "--bbc-data",
        type=Path,
        default=None,
        help="'peer' keeps the Archivebot BBC archive it built here; 'lexical-engines' reads it (else it builds one)",
    )
    parser.add_argument(
        "--peer-threads",
        type=int,
        default=0,
        help="'peer': torch threads (plain encode, txtai) and ONNX threads (Archivebot answering); 0: min(2, cores)",
    )
    parser.add_argument(
        "--lexical-sizes",
        default="bbc,200000",
        help="'lexical-engines': bbc (the real-model archive) and/or passage counts of near copies of it"
        " (built with the fast fake embedder: lexical figures do not depend on the vectors)",
    )
    parser.add_argument("--sizes", default=None, help="scale sizes, e.g. 100000,1000000")
    parser.add_argument("--rounds", type=int, default=None, help="rounds over the dev questions (default 3)")
    parser.add_argument("--out", type=Path, default=None, help="where to save the JSON (default bench/results/)")
    args = parser.parse_args(argv)
    articles = args.articles if args.articles is not None else (200 if args.quick else None)
    rounds = args.rounds or (1 if args.quick else 3)
    sizes = tuple(int(s) for s in (args.sizes or ("100000" if args.quick else "100000,1000000")).split(",") if s)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]

    from ._common import log, machine

    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "args": {"articles": articles, "rounds": rounds, "sizes": sizes, "parts": parts},
    }
    started = time.monotonic()
    if "answering" in parts:  # first: the model-load-free part, least disturbed by what the others leave behind
        from . import answering

        report["answering"] = answering.run(rounds=rounds)
    if "indexing" in parts:
        from . import indexing

        report["indexing"] = indexing.run(articles, tuple(b for b in args.backends.split(",") if b))
    if "scale" in parts:
        from . import scale

        report["scale"] = scale.run(sizes)
    if "lexical" in parts:
        from . import lexical

        report["lexical"] = lexical.run(max(sizes))
    if "postgres" in parts:  # not in the default set: starts a private PostgreSQL server
        from . import postgres

        report["postgres"] = postgres.run(rounds=rounds)
    if "updates" in parts:  # not in the default set: ~10 minutes
        from . import updates

        report["updates"] = updates.run(args.update_articles)
    if "memory" in parts:  # not in the default set: builds the corpus copied 4x and 16x (~15 minutes)
        from . import memory

        copies = tuple(int(c) for c in args.copies.split(",") if c)
        memory_backends = tuple(b for b in args.memory_backends.split(",") if b)
        report["memory"] = memory.run(copies, backends=memory_backends)
    if "million" in parts:  # not in the default set: a real 1M-passage archive on both backends (~1-2 hours)
        from . import million

        backends = tuple(b for b in args.million_backends.split(",") if b)
        stages = tuple(s for s in args.million_stages.split(",") if s)
        report["million"] = million.run(
            args.million_copies,
            backends,
            rounds=min(rounds, 2),
            work=args.million_work,
            stages=stages,
            variation=args.million_variation,
            seed=args.million_seed,
        )
    if "peer" in parts:  # not in the default set: needs txtai (the bench extra), ~15 minutes
        from . import peer

        report["peer"] = peer.run(rounds=rounds, keep_data=args.bbc_data, threads=args.peer_threads, articles=articles)
    if "lexical-engines" in parts:  # not in the default set: the BBC archive and a 200k one
        from . import lexical_engines

        sizes_wanted = tuple(s.strip() for s in args.lexical_sizes.split(",") if s.strip())
        report["lexical_engines"] = lexical_engines.run(sizes_wanted, bbc_data=args.bbc_data, seed=args.million_seed)
    report["targets"] = _targets(report)
    report["seconds"] = round(time.monotonic() - started, 1)
    text = json.dumps(report, indent=2)
    print(text)
    out = args.out or Path(__file__).resolve().parent / "results" / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
        log(f"saved {out}")
    except OSError as error:
        log(f"could not save {out}: {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
