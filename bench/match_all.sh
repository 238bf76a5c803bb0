#!/usr/bin/env bash
# The match_all benchmark (SPEC 9): N varied trials (bench/match_all_trials.sh)
# screened by N match_patients calls and by one match_all call, on the same
# data, with the rows checked identical.  Run as root from anywhere:
#
#   bash bench/match_all.sh [scale] [ntrials]     # default 200000 patients, 50 trials
#
# Uses the same cluster conventions as bench/run.sh (BENCH_DIR, PORT, PGBIN,
# SKIP_BUILD; one database tm_<scale> with the synthetic population of
# scripts/gen_data.sql, generated when missing).  In one psql session:
#   1. one untimed match_all (warms the cache);
#   2. the N match_patients calls, one statement each, timed together;
#   3. one match_all over the same N trials, timed;
#   4. the floor: one match_all over N trials whose only criterion is
#      `true` (BF001..): the same number of rows, nothing read but the
#      patients, nothing evaluated: what forming, storing and counting the
#      rows costs alone;
#   5. the check: count and sum of a 64-bit hash of every row
#      (trial_id|patient_id|status|failed|unknown) of both, which must agree
#      (set CHECK=0 to skip: it runs both once more).
# Prints the seconds of each and the ratio.  Exits non-zero on a mismatch.
#
# Environment: as bench/run.sh, plus WORKERS (trialmatch.max_parallel_workers,
# default -1, the setting's default: 2 workers, and for match_all at most one
# fewer than the CPUs; figures before stop 23 used 2) and MEMORY
# (trialmatch.match_all_memory, default the GUC's).
# LAYOUT=patient (the default, as every figure published before stop 23) or
# time: the databases of bench/run.sh (bench/data.sh).  COVER=1 creates
# bench/indexes.sql's covering indexes; by default (0) they are dropped.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-200000}
ntrials=${2:-50}
[[ "$scale" =~ ^[1-9][0-9]*$ && "$ntrials" =~ ^[1-9][0-9]*$ ]] ||
    { echo "usage: bash bench/match_all.sh [scale] [ntrials]" >&2; exit 2; }
port=${PORT:-55432}
bin=${PGBIN:-/usr/lib/postgresql/15/bin}
workers=${WORKERS:--1}
as_of='2026-11-01'
layout=${LAYOUT:-patient}
[[ "$layout" = time || "$layout" = patient ]] || { echo "LAYOUT must be time or patient" >&2; exit 2; }
db="tm_$scale"
[ "$layout" = patient ] || db="tm_${scale}_time"

. bench/cluster.sh
bench_cluster ma

. bench/data.sh
bench_generate "tm_$scale"
[ "$layout" = time ] && bench_time_db "$db" "tm_$scale"
bench_cover "$db" "${COVER:-0}"
psql -d "$db" -c "SET client_min_messages = warning; DROP EXTENSION IF EXISTS trialmatch CASCADE; CREATE EXTENSION trialmatch"
psql -d "$db" < scripts/demo_trials.sql >/dev/null
bash bench/match_all_trials.sh "$ntrials" | psql -d "$db" >/dev/null
psql -d "$db" -c "INSERT INTO trialmatch.trials (trial_id, title, status)
                    SELECT format('BF%s', lpad(k::text, 3, '0')), 'floor', 'closed' FROM generate_series(1, $ntrials) k;
                  INSERT INTO trialmatch.criteria (trial_id, position, kind, label, expr)
                    SELECT format('BF%s', lpad(k::text, 3, '0')), 1, 'inclusion', 'always', 'true'
                      FROM generate_series(1, $ntrials) k"

ids=$(for ((k = 1; k <= ntrials; k++)); do printf 'BT%03d ' "$k"; done)
list="{$(echo $ids | tr ' ' ',')}"
flist="{$(echo $ids | sed 's/BT/BF/g' | tr ' ' ',')}"
session="$work/session.sql"
{
    cat <<SQL
\\set ON_ERROR_STOP on
SET trialmatch.max_parallel_workers = $workers;
SET max_parallel_workers_per_gather = 2;
SET jit = off;
SQL
    [ -n "${MEMORY:-}" ] && echo "SET trialmatch.match_all_memory = '$MEMORY';"
    cat <<SQL
SELECT count(*) AS warm FROM trialmatch.match_all('$as_of', '$list') \\gset
SELECT clock_timestamp() AS t0 \\gset
SQL
    for id in $ids; do
        echo "SELECT count(*) AS n FROM trialmatch.match_patients('$id', '$as_of') \\gset"
    done
    cat <<SQL
SELECT extract(epoch FROM clock_timestamp() - :'t0') AS single_s \\gset
SELECT clock_timestamp() AS t0 \\gset
SET client_min_messages = debug1;
SELECT count(*) AS n_all FROM trialmatch.match_all('$as_of', '$list') \\gset
RESET client_min_messages;
SELECT extract(epoch FROM clock_timestamp() - :'t0') AS all_s \\gset
SELECT clock_timestamp() AS t0 \\gset
SELECT count(*) AS n_floor FROM trialmatch.match_all('$as_of', '$flist') \\gset
SELECT extract(epoch FROM clock_timestamp() - :'t0') AS floor_s \\gset
\\echo single_s :single_s
\\echo all_s :all_s
\\echo floor_s :floor_s
\\echo rows :n_all
SQL
    if [ "${CHECK:-1}" = 1 ]; then
        cat <<SQL
SELECT count(*) AS single_rows,
       sum(hashtextextended(concat_ws('|', t.id, m.patient_id, m.status, m.failed, m.unknown), 0)::numeric) AS single_hash
  FROM unnest('$list'::text[]) t(id), LATERAL trialmatch.match_patients(t.id, '$as_of') m \\gset
SELECT count(*) AS all_rows,
       sum(hashtextextended(concat_ws('|', trial_id, patient_id, status, failed, unknown), 0)::numeric) AS all_hash
  FROM trialmatch.match_all('$as_of', '$list') \\gset
\\echo check :single_rows :single_hash :all_rows :all_hash
SQL
    fi
} > "$session"
chown postgres "$session"

echo "== scale $scale ($layout-ordered, database $db), $ntrials trials, trialmatch.max_parallel_workers = $workers, $(nproc) cores"
out=$(psql -d "$db" -f "$session" 2> "$work/err")
grep -o 'trialmatch: \(match_all of \)\?[0-9]* trials.*' "$work/err" | sed 's/^/   /' || true
single=$(echo "$out" | sed -n 's/^single_s //p')
all=$(echo "$out" | sed -n 's/^all_s //p')
printf '   %d match_patients calls   %8.2f s\n' "$ntrials" "$single"
printf '   one match_all            %8.2f s   (%s rows)\n' "$all" "$(echo "$out" | sed -n 's/^rows //p')"
floor=$(echo "$out" | sed -n 's/^floor_s //p')
printf '   ratio                    %8.2fx\n' "$(awk -v a="$single" -v b="$all" 'BEGIN { print a / b }')"
printf '   floor (match_all of %d trials saying true: the rows alone) %.2f s\n' "$ntrials" "$floor"
if [ "${CHECK:-1}" = 1 ]; then
    read -r _ sr sh ar ah <<< "$(echo "$out" | grep '^check ')"
    if [ "$sr" = "$ar" ] && [ "$sh" = "$ah" ]; then
        echo "   check: identical rows ($sr rows, same sum of row hashes)"
    else
        echo "   check: MISMATCH (match_patients $sr rows hash $sh, match_all $ar rows hash $ah)" >&2
        exit 1
    fi
fi
