#!/usr/bin/env bash
# BRIN on the time column: the lab table as a hospital often keeps it, in
# time order with no index on its codes, only a BRIN index on taken_at (and
# the btree on patient_id).  Run as root from anywhere:
#
#   bash bench/brin.sh [scale]        # default 200000 patients
#
# Uses bench/run.sh's cluster conventions (BENCH_DIR, PORT, PGBIN,
# SKIP_BUILD, WORKERS default 2, ROUNDS default 3) and its time-ordered
# database tm_<scale>_time (bench/data.sh).  In ONE psql session and one
# transaction that is rolled back (the database is left as it was), drops
# the lab table's code indexes (labs_code_taken_at_idx and the covering
# one), creates labs_taken_at_brin USING brin (taken_at) and, per trial of
# bench/run.sh that reads labs, times:
#   - trialmatch (reads the labs through the BRIN index where every lab
#     criterion has a window that holds few of the rows);
#   - trialmatch with the BRIN index dropped too (in a savepoint): the
#     whole lab table, as before this lever;
#   - the hand-written SQL (bench/sql/<trial>.sql), which the planner may
#     run with the BRIN index;
# medians of ROUNDS interleaved rounds, and checks that trialmatch's rows
# equal the SQL's (both directions, duplicates counted).  Prints the ratio.
# Exits non-zero on a mismatch.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-200000}
[[ "$scale" =~ ^[1-9][0-9]*$ ]] || { echo "usage: bash bench/brin.sh [scale]" >&2; exit 2; }
port=${PORT:-55432}
bin=${PGBIN:-/usr/lib/postgresql/15/bin}
workers=${WORKERS:-2}
rounds=${ROUNDS:-3}
as_of='2026-11-01'
every='WHERE s.status IS NOT NULL AND s.failed IS NOT NULL AND s.unknown IS NOT NULL'
trials=(NCT04567890 NCT05123456 NCT05234567 NCT05345678 NCT05456789)
db="tm_${scale}_time"

. bench/cluster.sh
bench_cluster brin

. bench/data.sh
bench_generate "tm_$scale"
bench_time_db "$db" "tm_$scale"
psql -d "$db" -c "SET client_min_messages = warning; DROP EXTENSION IF EXISTS trialmatch CASCADE; CREATE EXTENSION trialmatch"
psql -d "$db" < scripts/demo_trials.sql >/dev/null

session="$work/session.sql"
{
    cat <<SQL
\\set ON_ERROR_STOP on
SET max_parallel_workers_per_gather = $workers;
SET trialmatch.max_parallel_workers = $workers;
SET jit = off;
SET client_min_messages = warning;
BEGIN;
DROP INDEX IF EXISTS public.labs_code_taken_at_idx, public.labs_code_taken_at_cover_idx;
CREATE INDEX labs_taken_at_brin ON public.labs USING brin (taken_at);
CREATE TEMP TABLE times (trial text, round int, brin_s numeric, whole_s numeric, sql_s numeric) ON COMMIT DROP;
SQL
    for t in "${trials[@]}"; do
        sqltext=$(sed -e 's/;[[:space:]]*$//' "bench/sql/$t.sql")
        tm="SELECT count(*) FROM trialmatch.match_patients('$t', '$as_of') s $every"
        sq="SELECT count(*) FROM ($sqltext) s $every"
        # warm both sides once
        echo "$tm \\gset"
        echo "$sq \\gset"
        for ((r = 1; r <= rounds; r++)); do
            cat <<SQL
SELECT clock_timestamp() AS t0 \\gset
$tm \\gset
SELECT extract(epoch FROM clock_timestamp() - :'t0') AS b \\gset
SELECT clock_timestamp() AS t0 \\gset
$sq \\gset
SELECT extract(epoch FROM clock_timestamp() - :'t0') AS q \\gset
SAVEPOINT nobrin;
DROP INDEX public.labs_taken_at_brin;
SELECT clock_timestamp() AS t0 \\gset
$tm \\gset
SELECT extract(epoch FROM clock_timestamp() - :'t0') AS w \\gset
ROLLBACK TO SAVEPOINT nobrin;
INSERT INTO times VALUES ('$t', $r, :b, :w, :q);
SQL
        done
        cat <<SQL
SET client_min_messages = debug1;
$tm \\gset
SET client_min_messages = warning;
SELECT count(*) AS mism FROM (
  (SELECT patient_id, status::text, failed, unknown FROM trialmatch.match_patients('$t', '$as_of')
   EXCEPT ALL SELECT patient_id, status::text, failed, unknown FROM ($sqltext) x)
  UNION ALL
  (SELECT patient_id, status::text, failed, unknown FROM ($sqltext) x
   EXCEPT ALL SELECT patient_id, status::text, failed, unknown FROM trialmatch.match_patients('$t', '$as_of'))) d \\gset
\\echo check $t :mism
SQL
    done
    cat <<SQL
\\pset pager off
SELECT trial, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY brin_s)::numeric, 3) AS "trialmatch BRIN s",
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY whole_s)::numeric, 3) AS "trialmatch whole s",
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY sql_s)::numeric, 3) AS "SQL s",
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY sql_s) /
              percentile_cont(0.5) WITHIN GROUP (ORDER BY brin_s))::numeric, 2) AS "SQL/trialmatch",
       string_agg(round(sql_s / brin_s, 2)::text, ' ' ORDER BY round) AS rounds
  FROM times GROUP BY trial ORDER BY trial;
ROLLBACK;
SQL
} > "$session"
chown postgres "$session"

echo "== scale $scale, time-ordered (database $db), lab code indexes dropped and a BRIN index on taken_at created in the session; $workers workers, $rounds rounds, $(nproc) cores"
out=$(psql -d "$db" -f "$session" 2> "$work/err") || { cat "$work/err" >&2; exit 1; }
grep -o 'trialmatch: trial "[^"]*":.*' "$work/err" | sed 's/^/   /' || true
echo "$out" | grep -v '^check ' || true
bad=0
while read -r _ t n; do
    if [ "$n" = 0 ]; then echo "   check $t: OK"; else echo "   check $t: MISMATCH ($n rows)" >&2; bad=1; fi
done < <(echo "$out" | grep '^check ')
exit $bad
