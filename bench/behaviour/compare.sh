#!/usr/bin/env bash
# Issue 18 "behaviour unchanged" check: snapshot CHECKOUT_DIR with behaviour_snapshot.sh and diff it against the
# snapshot of the code before the refactor in $BASELINE (take it with behaviour_snapshot.sh on a worktree of that
# commit: BASELINE/embedded and BASELINE/postgres).
#
# usage: compare.sh CHECKOUT_DIR [embedded|postgres|both]      (default: both)
#
# Output goes to $AFTER_ROOT/<checkout name>-<short commit>[-dirty]/{embedded,postgres}. Compared: every
# normalised output, exit_codes.txt, stderr.txt, dropped_keys.txt and inputs.txt (if only inputs.txt differs,
# an input changed, not the code). Not compared: raw/, timings.txt, duration.txt.
# Exit 0: identical; 1: a difference (the diff is printed); 2: a snapshot could not be taken.
set -u -o pipefail

TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BASELINE=${BASELINE:?set BASELINE to the folder of the baseline snapshot}
AFTER_ROOT=${AFTER_ROOT:-${TMPDIR:-/tmp}/archivebot-behaviour}

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 CHECKOUT_DIR [embedded|postgres|both]" >&2
    exit 2
fi
CHECKOUT=$(cd "$1" && pwd) || exit 2
WHICH=${2:-both}
case $WHICH in
    embedded) BACKENDS=(embedded) ;;
    postgres) BACKENDS=(postgres) ;;
    both) BACKENDS=(embedded postgres) ;;
    *) echo "backend must be embedded, postgres or both" >&2; exit 2 ;;
esac

commit=$(git -C "$CHECKOUT" rev-parse --short HEAD 2>/dev/null || echo nogit)
[[ -n $(git -C "$CHECKOUT" status --porcelain --untracked-files=no 2>/dev/null) ]] && commit+=-dirty
AFTER=$AFTER_ROOT/$(basename "$CHECKOUT")-$commit
mkdir -p "$AFTER" || exit 2

status=0
for backend in "${BACKENDS[@]}"; do
    [[ -d $BASELINE/$backend ]] || { echo "no baseline in $BASELINE/$backend" >&2; exit 2; }
    flag=()
    [[ $backend == postgres ]] && flag=(--postgres)
    echo "== snapshot $backend of $CHECKOUT ($commit) into $AFTER/$backend" >&2
    if ! "$TOOLS/behaviour_snapshot.sh" "$CHECKOUT" "$AFTER/$backend" "${flag[@]}"; then
        echo "snapshot $backend failed" >&2
        exit 2
    fi
    if diff -ru --exclude=raw --exclude=timings.txt --exclude=duration.txt \
        "$BASELINE/$backend" "$AFTER/$backend" > "$AFTER/$backend.diff"; then
        echo "== $backend: IDENTICAL to the baseline" >&2
    else
        status=1
        echo "== $backend: DIFFERENT from the baseline ($AFTER/$backend.diff):"
        if grep -q '^diff .*inputs.txt' "$AFTER/$backend.diff"; then
            echo "   (inputs.txt differs: an input, package or model file changed, not only the code)"
        fi
        cat "$AFTER/$backend.diff"
    fi
done
exit $status
