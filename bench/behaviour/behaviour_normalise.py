#!/usr/bin/env python3
"""Normalise one `archivebot ... --json` output for the issue-18 "behaviour unchanged" snapshot.

usage: behaviour_normalise.py RAW_STDOUT OUT_FILE KEYS_LOG [PATH=PLACEHOLDER ...]
       behaviour_normalise.py --stderr NAME RAW_STDERR OUT_FILE [PATH=PLACEHOLDER ...]

The second form appends RAW_STDERR to OUT_FILE under "== NAME", without its progress lines (any line with
"(NN%)": how often they are printed depends on speed) and with the same path placeholders.

- RAW_STDOUT is one JSON document (index/stats/doctor/eval...) or JSON lines (ask --json -); a line that is not
  JSON is kept verbatim as {"_not_json": line} so a crash or a changed text output still shows in the diff.
- Keys that legitimately change between two runs of the same code are removed (see VOLATILE); each removed key
  path (list indices as []) is appended to KEYS_LOG, so a new or vanished timing field still shows in a diff.
- Every occurrence of each PATH (data dir, temporary folders, database URL) inside strings becomes PLACEHOLDER.
- Key ORDER is kept (not sorted): byte-identical behaviour includes the order of the JSON fields.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

# Timings, sizes on disk and the date of the run; never counts such as "added"/"updated"/"removed".
VOLATILE = re.compile(
    r"^(latency.*|.*_ms|.*_ms_.*|timings?|seconds|.*_seconds|elapsed.*|duration.*"
    r"|last_indexed|indexed_at|created_at|updated_at|started_at|finished_at"
    r"|.*_bytes|bytes|data_dir|database_url)$"
)


def clean(value: Any, path: str, dropped: set[str], replacements: list[tuple[str, str]]) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if VOLATILE.match(str(key)):
                dropped.add(f"{path}.{key}")
                continue
            out[key] = clean(item, f"{path}.{key}", dropped, replacements)
        return out
    if isinstance(value, list):
        return [clean(item, f"{path}[]", dropped, replacements) for item in value]
    if isinstance(value, str):
        for old, new in replacements:
            value = value.replace(old, new)
        return value
    return value


PROGRESS = re.compile(r"\(\d+%\)")


def placeholders(arguments: list[str]) -> list[tuple[str, str]]:
    # longest first, so a path inside another one is replaced by its own placeholder
    pairs = [arg.split("=", 1) for arg in arguments if "=" in arg and arg.split("=", 1)[0]]
    return sorted(((old, new) for old, new in pairs), key=lambda pair: -len(pair[0]))


def stderr_main(name: str, raw_path: str, out_path: str, replacements: list[tuple[str, str]]) -> None:
    lines = Path(raw_path).read_text(encoding="utf-8", errors="replace").splitlines()
    with open(out_path, "a", encoding="utf-8") as out:
        out.write(f"== {name}\n")
        for line in lines:
            if PROGRESS.search(line):
                continue
            for old, new in replacements:
                line = line.replace(old, new)
            out.write(line + "\n")


def main() -> None:
    if sys.argv[1] == "--stderr":
        stderr_main(*sys.argv[2:5], placeholders(sys.argv[5:]))
        return
    raw_path, out_path, keys_log = sys.argv[1:4]
    replacements = placeholders(sys.argv[4:])
    text = Path(raw_path).read_text(encoding="utf-8")
    dropped: set[str] = set()
    documents: list[Any]
    try:
        documents = [json.loads(text)] if text.strip() else []
        single = True
    except ValueError:
        single = False
        documents = []
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                documents.append(json.loads(line))
            except ValueError:
                documents.append({"_not_json": line})
    documents = [clean(document, "$", dropped, replacements) for document in documents]
    with open(out_path, "w", encoding="utf-8") as out:
        if single and documents:
            out.write(json.dumps(documents[0], ensure_ascii=False, indent=1) + "\n")
        else:
            # one answer a line keeps a per-question diff readable
            out.writelines(json.dumps(document, ensure_ascii=False) + "\n" for document in documents)
    name = out_path.rsplit("/", 1)[-1]
    with open(keys_log, "a", encoding="utf-8") as log:
        log.writelines(f"{name}\t{key}\n" for key in sorted(dropped))


if __name__ == "__main__":
    main()
