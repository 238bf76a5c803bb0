#!/usr/bin/env bash
# The whole test suite: regression, isolation and TAP tests, each on a
# throwaway instance, run as the postgres OS user in a copy of the tree.
# Arguments go to make, for a subset while working, e.g.
#   bash scripts/test.sh REGRESS=match ISOLATION= PROVE_TESTS=t/010_pool_run.pl
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
bin=${PGBIN:-/usr/lib/postgresql/15/bin}
bash scripts/install-deps.sh
bash scripts/build.sh
work=$(mktemp -d /tmp/trialmatch-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
tar -C "$top" --exclude=.git --exclude=tmp_check --exclude=tmp_check_iso --exclude=results -cf - . | tar -C "$work" -xf -
chown -R postgres "$work"
status=0
runuser -u postgres -- env TMPDIR="$work" PATH=$bin:$PATH \
    make -C "$work" -s with_llvm=no PG_CONFIG=$bin/pg_config installcheck "$@" \
    || status=$?
# RESULTS=dir: keep the regression outputs there (to read them line by line)
if [ -n "${RESULTS:-}" ]; then
    mkdir -p "$RESULTS"
    cp -r "$work"/results/. "$RESULTS"/ 2>/dev/null || true
    cp -r "$work"/output_iso/results/. "$RESULTS"/ 2>/dev/null || true
fi
if [ $status -ne 0 ]; then
    for f in "$work"/regression.diffs "$work"/output_iso/regression.diffs; do
        [ -f "$f" ] && { echo "=== $f"; cat "$f"; }
    done
    for f in "$work"/tmp_check/log/*; do
        [ -f "$f" ] && { echo "=== $f"; tail -n 50 "$f"; }
    done
    echo "TESTS FAILED" >&2
    exit $status
fi
echo "ALL TESTS PASSED"
