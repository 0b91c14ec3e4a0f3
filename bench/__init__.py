"""Archivebot benchmarks: `python -m bench` (or `make bench`). JSON figures on stdout, progress on stderr.

Parts: `indexing` (full pipeline vs plain sentence-transformers encode() on the same passages),
`answering` (warm in-process ask latency over the dev questions, and through the bot's /ask handler) and
`scale` (synthetic 100k / 1M passage vectors: search latency, recall@10 vs exact, build time, RSS).
Benchmarks, not tests: they measure, they don't assert. See docs/performance.md.
"""
