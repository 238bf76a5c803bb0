#!/usr/bin/env bash
# The trialmatch benchmark.  Run as root on Debian 12 from anywhere:
#
#   bash bench/run.sh [scale]          # default scale 1000000 (patients)
#
# Installs what is missing and builds/installs the extension (scripts/
# install-deps.sh, scripts/build.sh), starts a throwaway PostgreSQL 15
# cluster as the postgres OS user (tuned for 2 cores / 24 GiB), generates the
# synthetic population with scripts/gen_data.sql, loads the five demo trials,
# and then, in ONE psql session:
#   - per trial: match_patients time, the hand-written SQL's time
#     (bench/sql/<trial>.sql), a row-by-row equality check (OK/MISMATCH), the
#     ratio, the sequential-scan floor, trialmatch's peak memory.  Both sides
#     are timed as SELECT count(*) FROM (...) s WHERE s.status IS NOT NULL
#     AND s.failed IS NOT NULL AND s.unknown IS NOT NULL: every column is
#     formed, none can be dropped by the planner, and no row is stored;
#   - match_trials against bench/sql/match_trials.sql on ~200 patients;
# and with pgbench: match_trials latency p50/p99 over 1,000 random patients,
# throughput of match_trials versus the prepared hand-written SQL.
# Exits non-zero when any check found a mismatch.
#
# Environment:
#   BENCH_DIR=/path  keep the cluster in this directory and reuse it (and the
#                    generated data, one database per scale) on the next run;
#                    without it the cluster lives in a temporary directory
#                    that is removed at the end
#   PORT=55432       port of the throwaway cluster
#   TPS_SECONDS=15   duration of each pgbench throughput run
#   TPS_ROUNDS=3     alternated throughput runs of each side (medians shown)
#   TPS_WARMUP=10    seconds of pgbench warm-up of each side before the one-patient runs
#   SKIP_BUILD=1     do not run install-deps.sh / build.sh
#   LAYOUT=time      physical order of the event tables: "time" (rows in
#                    event-time order, as a hospital's tables grow; database
#                    tm_<scale>_time, made from tm_<scale> by
#                    bench/time_order.sql) or "patient" (the generator's
#                    order; database tm_<scale>).  Same rows in both.
#   COVER=1          create bench/indexes.sql's covering indexes (both sides
#                    read them); COVER=0 drops them
#   WORKERS=2        max_parallel_workers_per_gather and
#                    trialmatch.max_parallel_workers of the session
#   TRIALS100=1      also time match_trials with 100 recruiting trials
#                    (bench/trials100.sql); 0 skips it
#   T100_WARMUP=20   seconds of warm-up (pgbench -c 2) before those
#   REUSE_CLUSTER=1  keep a cluster that is running in BENCH_DIR (started by
#                    an earlier run) and leave it running: runs can follow
#                    one another, or run beside maintenance, without a
#                    restart
#   ROUNDS=1         timed runs per trial, trialmatch and SQL interleaved;
#                    the summary shows medians (and min-max when ROUNDS > 1)
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
scale=${1:-1000000}
[[ "$scale" =~ ^[1-9][0-9]*$ ]] || { echo "usage: bash bench/run.sh [scale]" >&2; exit 2; }
port=${PORT:-55432}
tps_seconds=${TPS_SECONDS:-15}
bin=${PGBIN:-/usr/lib/postgresql/15/bin}
as_of='2026-11-01'
# the timed count's filter: every output column formed (see above)
every='WHERE s.status IS NOT NULL AND s.failed IS NOT NULL AND s.unknown IS NOT NULL'
layout=${LAYOUT:-time}
cover=${COVER:-1}
workers=${WORKERS:-2}
rounds=${ROUNDS:-1}
[[ "$layout" = time || "$layout" = patient ]] || { echo "LAYOUT must be time or patient" >&2; exit 2; }
[[ "$workers" =~ ^[0-9]+$ && "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "WORKERS and ROUNDS must be integers" >&2; exit 2; }
db="tm_$scale"
[ "$layout" = patient ] || db="tm_${scale}_time"
trials=(NCT04567890 NCT05123456 NCT05234567 NCT05345678 NCT05456789 NCT05567890)
# tables each trial reads (the patient table, and every source its criteria name)
declare -A reads=(
    [NCT04567890]="patients labs diagnoses medications"
    [NCT05123456]="patients labs diagnoses medications"
    [NCT05234567]="patients labs diagnoses medications"
    [NCT05345678]="patients labs diagnoses"
    [NCT05456789]="patients labs diagnoses"
    [NCT05567890]="patients diagnoses medications visits outcomes"
)
# a trivial, never-true filter on a non-indexed column: forces a full scan
declare -A floorq=(
    [patients]="SELECT count(*) FROM public.patients WHERE sex = '-12345'"
    [labs]="SELECT count(*) FROM public.labs WHERE value = -12345"
    [diagnoses]="SELECT count(*) FROM public.diagnoses WHERE diagnosed_at = date '0001-01-01'"
    [medications]="SELECT count(*) FROM public.medications WHERE started_at = date '0001-01-01'"
    [visits]="SELECT count(*) FROM public.visits WHERE started_at = date '0001-01-01'"
    [outcomes]="SELECT count(*) FROM public.outcomes WHERE recorded_at = date '0001-01-01'"
)

[ "$(id -u)" = 0 ] || { echo "run as root (the cluster runs as the postgres OS user)" >&2; exit 2; }
t_start=$(date +%s)

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    bash scripts/install-deps.sh
    bash scripts/build.sh
fi

as_pg() { runuser -u postgres -- "$@"; }
. bench/cluster.sh

if [ -n "${BENCH_DIR:-}" ]; then
    dir=$BENCH_DIR
    keep=1
    mkdir -p "$dir"
else
    dir=$(mktemp -d /tmp/trialmatch-bench.XXXXXX)
    keep=0
fi
dir=$(cd "$dir" && pwd)
chown postgres "$dir"
work="$dir/work.$$"
mkdir -p "$work"
chown postgres "$work"
started=0
cleanup() {
    if [ "$started" = 1 ]; then
        as_pg $bin/pg_ctl -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
    if [ "$keep" = 0 ]; then
        rm -rf "$dir"
    fi
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
# the cluster
# ---------------------------------------------------------------------------
if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_pg $bin/initdb -D "$dir/data" -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
fi
if [ "${REUSE_CLUSTER:-0}" = 1 ] && as_pg $bin/pg_ctl -D "$dir/data" status >/dev/null 2>&1; then
    echo "== reusing the running cluster in $dir (started by an earlier run, same settings)"
else
    if as_pg $bin/pg_ctl -D "$dir/data" status >/dev/null 2>&1; then
        as_pg $bin/pg_ctl -D "$dir/data" -m fast stop >/dev/null
    fi
    bench_server_start
fi

psql() { as_pg $bin/psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" "$@"; }

. bench/data.sh
bench_generate "tm_$scale"
[ "$layout" = time ] && bench_time_db "$db" "tm_$scale"
bench_cover "$db" "$cover"
echo "== database $db (layout $layout, covering indexes $([ "$cover" = 1 ] && echo on || echo off)) in $dir"
psql -d "$db" -P pager=off -c "SELECT 'patients' AS "table", count(*) AS rows FROM public.patients
    UNION ALL SELECT 'labs', count(*) FROM public.labs
    UNION ALL SELECT 'diagnoses', count(*) FROM public.diagnoses
    UNION ALL SELECT 'medications', count(*) FROM public.medications"
# the extension as built now, and the demo trials
psql -d "$db" -c "SET client_min_messages = warning; DROP EXTENSION IF EXISTS trialmatch CASCADE; CREATE EXTENSION trialmatch"
psql -d "$db" < scripts/demo_trials.sql >/dev/null
# the 1.1 time trial (issue 10): its two derived tables, sources and trial
psql -d "$db" < bench/time_trial.sql >/dev/null

# ---------------------------------------------------------------------------
# the psql session: per-trial population screening, and match_trials checks
# ---------------------------------------------------------------------------
for f in bench/sql/*.sql; do
    # the statement without its final semicolon, to be wrapped
    sed -e 's/;[[:space:]]*$//' "$f" > "$work/$(basename "$f")"
done
chown -R postgres "$work"
errlog="$work/session.err"
touch "$errlog"
chown postgres "$errlog"
session="$work/session.sql"
{
    cat <<SQL
\\set ON_ERROR_STOP on
\\pset pager off
SET max_parallel_workers_per_gather = $workers;
SET trialmatch.max_parallel_workers = $workers;
SET jit = off;
SET client_min_messages = warning;
DROP TABLE IF EXISTS public.bench_results, public.bench_floor, public.bench_mt_check, public.bench_times;
CREATE TABLE public.bench_times (trial text, round int, tm_s numeric, sql_s numeric);
CREATE TABLE public.bench_results (trial text PRIMARY KEY, patients bigint, tm_s numeric, sql_s numeric,
                                   floor_s numeric, mem_kb bigint, memory text, mismatches bigint,
                                   rows_s numeric);
CREATE TABLE public.bench_floor (tbl text PRIMARY KEY, seconds numeric);
CREATE TEMP TABLE nonineligible (patient_id bigint);
\\echo
\\echo == sequential-scan floor per table (count(*) with a never-true filter, second run)
SQL
    for t in patients labs diagnoses medications visits outcomes; do
        cat <<SQL
${floorq[$t]} \\gset
SELECT clock_timestamp() AS t0 \\gset
${floorq[$t]} \\gset
INSERT INTO public.bench_floor VALUES ('$t', extract(epoch FROM clock_timestamp() - :'t0'));
SELECT format('   %-12s %8s s', tbl, round(seconds, 3)) AS line FROM public.bench_floor WHERE tbl = '$t' \\gset
\\echo :line
SQL
    done
    cat <<SQL
\\echo
\\echo == match_patients(trial, '$as_of') versus bench/sql/<trial>.sql (seconds, second run of each)
SQL
    for t in "${trials[@]}"; do
        tbls=$(printf "'%s'," ${reads[$t]})
        cat <<SQL
-- $t: first runs keep the outputs (and warm the cache), second runs are timed
DROP TABLE IF EXISTS tm_out, sql_out;
CREATE TEMP TABLE tm_out AS SELECT * FROM trialmatch.match_patients('$t', '$as_of');
SELECT clock_timestamp() AS t0 \\gset
SET client_min_messages = debug1;
\\warn BENCH-MARK $t
SELECT count(*) AS n FROM (SELECT * FROM trialmatch.match_patients('$t', '$as_of')) s $every \\gset
SET client_min_messages = warning;
SELECT extract(epoch FROM clock_timestamp() - :'t0') AS tm_s \\gset
\\set memory \`sed -n '/^BENCH-MARK $t\$/,\$p' '$errlog' | grep 'trialmatch' | grep -o 'memory .*' | tail -1 | sed 's/^memory //'\`
\\set reads \`sed -n '/^BENCH-MARK $t\$/,\$p' '$errlog' | grep 'trialmatch' | grep -o 'launched, sources read: [^;]*' | tail -1 | sed 's/^launched, //'\`
CREATE TEMP TABLE sql_out AS
$(cat "$work/$t.sql")
;
SELECT clock_timestamp() AS t0 \\gset
SELECT count(*) AS n FROM (
$(cat "$work/$t.sql")
) s $every \\gset
SELECT extract(epoch FROM clock_timestamp() - :'t0') AS sql_s \\gset
INSERT INTO public.bench_times VALUES ('$t', 1, :tm_s, :sql_s);
INSERT INTO public.bench_results (trial, patients, tm_s, sql_s, floor_s, memory, mem_kb, mismatches)
SELECT '$t', :n, :tm_s, :sql_s,
       (SELECT sum(seconds) FROM public.bench_floor WHERE tbl IN (${tbls%,})),
       nullif(:'memory', ''),
       (SELECT sum(m[1]::numeric)::bigint FROM regexp_matches(:'memory', '([0-9]+(\\.[0-9]+)?) kB', 'g') m),
       (SELECT count(*) FROM tm_out a FULL JOIN sql_out b USING (patient_id)
         WHERE a.patient_id IS NULL OR b.patient_id IS NULL
            OR a.status IS DISTINCT FROM b.status::trialmatch.eligibility
            OR a.failed IS DISTINCT FROM b.failed OR a.unknown IS DISTINCT FROM b.unknown);
SELECT format('   %-12s trialmatch %8s s   SQL %8s s   SQL/trialmatch %6s   floor %8s s   memory %s   %s',
              trial, round(tm_s, 3), round(sql_s, 3), round(sql_s / nullif(tm_s, 0), 2), round(floor_s, 3),
              coalesce(memory, 'n/a'), CASE WHEN mismatches = 0 THEN 'OK' ELSE 'MISMATCH (' || mismatches || ' patients)' END) AS line
  FROM public.bench_results WHERE trial = '$t' \\gset
\\echo :line
\\echo '                ' :reads
SELECT mismatches > 0 AS bad FROM public.bench_results WHERE trial = '$t' \\gset
\\if :bad
\\echo '   first differing patients (trialmatch row, then SQL row):'
SELECT patient_id, a.status AS tm_status, a.failed AS tm_failed, a.unknown AS tm_unknown,
       b.status AS sql_status, b.failed AS sql_failed, b.unknown AS sql_unknown
  FROM tm_out a FULL JOIN sql_out b USING (patient_id)
 WHERE a.patient_id IS NULL OR b.patient_id IS NULL
    OR a.status IS DISTINCT FROM b.status::trialmatch.eligibility
    OR a.failed IS DISTINCT FROM b.failed OR a.unknown IS DISTINCT FROM b.unknown
 ORDER BY patient_id LIMIT 5;
\\endif
-- the rows floor: reading this trial's own rows from a table that holds
-- them, forming the SQL's final shape and counting them, nothing else read
-- or evaluated: what returning these rows costs when they were all known
-- beforehand (SQL s / rows floor: the ratio of a precomputed answer).
DROP TABLE IF EXISTS public.bench_rows;
CREATE UNLOGGED TABLE public.bench_rows AS SELECT patient_id, failed, unknown FROM tm_out;
VACUUM (ANALYZE) public.bench_rows;
\\set rowsq 'SELECT count(*) AS n FROM (SELECT patient_id, (CASE WHEN failed <> ''{}'' THEN ''ineligible'' WHEN unknown <> ''{}'' THEN ''indeterminate'' ELSE ''eligible'' END)::trialmatch.eligibility AS status, failed, unknown FROM public.bench_rows) s $every'
:rowsq \\gset
SELECT clock_timestamp() AS t0 \\gset
:rowsq \\gset
UPDATE public.bench_results SET rows_s = extract(epoch FROM clock_timestamp() - :'t0') WHERE trial = '$t';
SELECT format('                 rows floor %s s: at most %sx', round(rows_s, 3), round(sql_s / nullif(rows_s, 0), 2)) AS line
  FROM public.bench_results WHERE trial = '$t' \\gset
\\echo :line
DROP TABLE public.bench_rows;
-- up to 10 eligible and 10 indeterminate patients of this trial, for the match_trials check
INSERT INTO nonineligible
SELECT patient_id FROM (SELECT patient_id, status, row_number() OVER (PARTITION BY status ORDER BY hashint8(patient_id)) AS k
                          FROM tm_out WHERE status <> 'ineligible') s WHERE k <= 10;
SQL
    done
    for ((r = 2; r <= rounds; r++)); do
        for t in "${trials[@]}"; do
            cat <<SQL
SELECT clock_timestamp() AS t0 \\gset
SELECT count(*) AS n FROM (SELECT * FROM trialmatch.match_patients('$t', '$as_of')) s $every \\gset
SELECT extract(epoch FROM clock_timestamp() - :'t0') AS tm_s \\gset
SELECT clock_timestamp() AS t0 \\gset
SELECT count(*) AS n FROM (
$(cat "$work/$t.sql")
) s $every \\gset
SELECT extract(epoch FROM clock_timestamp() - :'t0') AS sql_s \\gset
INSERT INTO public.bench_times VALUES ('$t', $r, :tm_s, :sql_s);
SQL
        done
    done
    cat <<SQL
-- medians over the rounds
UPDATE public.bench_results r
   SET tm_s = m.tm, sql_s = m.sq
  FROM (SELECT trial, percentile_cont(0.5) WITHIN GROUP (ORDER BY tm_s)::numeric AS tm,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY sql_s)::numeric AS sq
          FROM public.bench_times GROUP BY trial) m
 WHERE m.trial = r.trial;
\\echo
\\echo == rounds: trialmatch s / SQL s per round, median ratio (min-max of the per-round ratios)
\\pset tuples_only on
\\pset format unaligned
SELECT format('   %-12s %s   ratio %s (%s-%s)', trial,
              string_agg(round(tm_s, 2) || '/' || round(sql_s, 2), '  ' ORDER BY round),
              round(percentile_cont(0.5) WITHIN GROUP (ORDER BY sql_s / tm_s)::numeric, 2),
              round(min(sql_s / tm_s), 2), round(max(sql_s / tm_s), 2)) AS line
  FROM public.bench_times GROUP BY trial ORDER BY trial;
\\pset tuples_only off
\\pset format aligned
SQL
    cat <<SQL
\\echo
\\echo == match_trials(patient, '$as_of') versus bench/sql/match_trials.sql
-- 150 random patients, plus up to 20 eligible or indeterminate patients per trial
SELECT setseed(0.2026) AS seed \\gset
CREATE TEMP TABLE mt_pids AS
SELECT DISTINCT patient_id FROM (
    SELECT (1 + floor(random() * $scale))::bigint AS patient_id FROM generate_series(1, 150)
    UNION ALL SELECT patient_id FROM nonineligible) s;
CREATE TABLE public.bench_mt_check (patient_id bigint, diff bigint);
\\set mtq \`cat '$work/match_trials.sql'\`
SELECT format(\$f\$INSERT INTO public.bench_mt_check SELECT %s, count(*) FROM (
  (SELECT * FROM trialmatch.match_trials(%s, '$as_of') EXCEPT ALL (%s))
  UNION ALL
  ((%s) EXCEPT ALL SELECT * FROM trialmatch.match_trials(%s, '$as_of'))) x\$f\$,
              patient_id, patient_id, q, q, patient_id)
  FROM (SELECT patient_id, replace(:'mtq', ':pid', patient_id::text) AS q FROM mt_pids) s
 ORDER BY patient_id \\gexec
SELECT format('   %s patients checked: %s', count(*),
              CASE WHEN count(*) FILTER (WHERE diff > 0) = 0 THEN 'OK'
                   ELSE 'MISMATCH (' || count(*) FILTER (WHERE diff > 0) || ' patients, e.g. '
                        || string_agg(patient_id::text, ', ' ORDER BY patient_id) FILTER (WHERE diff > 0) || ')' END) AS line
  FROM public.bench_mt_check \\gset
\\echo :line
SQL
} > "$session"
chown postgres "$session"

echo
echo "== scale $scale, layout $layout, $rounds round(s): one psql session (max_parallel_workers_per_gather = $workers, trialmatch.max_parallel_workers = $workers)"
if ! psql -d "$db" -f "$session" 2> "$errlog"; then
    grep -v 'DEBUG: \|^BENCH-MARK' "$errlog" >&2 || true
    echo "the benchmark session failed" >&2
    exit 1
fi
grep -v 'DEBUG: \|^BENCH-MARK' "$errlog" >&2 || true

# ---------------------------------------------------------------------------
# pgbench: one patient at a time
# ---------------------------------------------------------------------------
pgb() { (cd "$work" && as_pg $bin/pgbench -n -h "$dir" -p "$port" -D scale="$scale" "$@" "$db"); }
printf '\\set pid random(1, :scale)\nSELECT * FROM trialmatch.match_trials(:pid, '"'$as_of'"');\n' > "$work/pgb_tm.sql"
{ printf '\\set pid random(1, :scale)\n'; cat bench/sql/match_trials.sql; } > "$work/pgb_sql.sql"
chown postgres "$work"/pgb_*.sql

percentiles() {   # pgbench per-transaction logs -> "p50 p99" in ms
    cat "$@" | awk '{print $3}' | sort -n | awk '{v[NR] = $1} END {
        i50 = int(0.50 * NR + 0.999999); i99 = int(0.99 * NR + 0.999999);
        printf "%.3f %.3f\n", v[i50] / 1000, v[i99] / 1000 }'
}
tps_of() { sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | tail -1 | awk '{ printf "%.1f", $1 }'; }

echo
echo "== match_trials latency: pgbench -c 1 -t 1000 -M prepared, random patients (ms)"
# warm-up, by time: right after the other layout's database was used, the
# patient-indexed pages these random patients need are not in shared
# buffers, and 100 calls warmed too few of them (the first 5-second rounds
# ran at a third of the warm rate, both sides)
pgb -c 2 -j 2 -T "${TPS_WARMUP:-10}" -M prepared -f "$work/pgb_tm.sql" >/dev/null
pgb -c 2 -j 2 -T "${TPS_WARMUP:-10}" -M prepared -f "$work/pgb_sql.sql" >/dev/null
pgb -c 1 -t 1000 -M prepared --log --log-prefix=log_tm -f "$work/pgb_tm.sql" > "$work/lat_tm.out"
pgb -c 1 -t 1000 -M prepared --log --log-prefix=log_sql -f "$work/pgb_sql.sql" > "$work/lat_sql.out"
read -r tm_p50 tm_p99 < <(percentiles "$work"/log_tm.*)
read -r sql_p50 sql_p99 < <(percentiles "$work"/log_sql.*)
printf '   match_trials        p50 %8s ms   p99 %8s ms\n' "$tm_p50" "$tm_p99"
printf '   hand-written SQL    p50 %8s ms   p99 %8s ms\n' "$sql_p50" "$sql_p99"

echo
echo "== throughput: pgbench -c 2 -j 2 -T $tps_seconds -M prepared, random patients (transactions/s)"
# TPS_ROUNDS alternated pairs (match_trials, then SQL): the host's speed
# drifts between runs, so each round's ratio compares neighbours; the
# summary shows the medians (and the rounds' ratios)
tps_rounds=${TPS_ROUNDS:-3}
tm_all=(); sql_all=(); ratios=()
for ((r = 1; r <= tps_rounds; r++)); do
    t=$(pgb -c 2 -j 2 -T "$tps_seconds" -M prepared -f "$work/pgb_tm.sql" | tps_of)
    s=$(pgb -c 2 -j 2 -T "$tps_seconds" -M prepared -f "$work/pgb_sql.sql" | tps_of)
    tm_all+=("$t"); sql_all+=("$s")
    ratios+=("$(awk -v a="$t" -v b="$s" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')")
    printf '   round %d: match_trials %10s tps   hand-written SQL %10s tps   match_trials/SQL %s\n' "$r" "$t" "$s" "${ratios[-1]}"
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
tm_tps=$(median "${tm_all[@]}")
sql_tps=$(median "${sql_all[@]}")
tps_ratio="$(median "${ratios[@]}") ($(printf '%s ' "${ratios[@]}" | sed 's/ $//'))"
printf '   median: match_trials %10s tps   hand-written SQL %10s tps   match_trials/SQL %s\n' "$tm_tps" "$sql_tps" "$tps_ratio"

# ---------------------------------------------------------------------------
# match_trials with 100 recruiting trials (bench/trials100.sql: 95 variants)
# ---------------------------------------------------------------------------
t100_p50=n/a; t100_p99=n/a; t100_tps=n/a
if [ "${TRIALS100:-1}" = 1 ]; then
    psql -d "$db" < bench/trials100.sql >/dev/null
    echo
    echo "== match_trials with 100 recruiting trials: pgbench -c 1 -t 1000 / -c 2 -j 2 -T $tps_seconds -M prepared"
    # warm-up, by time (T100_WARMUP seconds, -c 2): the 95 new trials read
    # other index pages of each random patient, and on a server started for
    # the run most of shared_buffers has never held a page yet (each first
    # use costs a kernel page clear); 100 calls left the p50 at 0.54-0.60 ms
    # at 1M where 30 s of warm-up gave 0.41 ms (bench/README, stop 21)
    pgb -c 2 -j 2 -T "${T100_WARMUP:-20}" -M prepared -f "$work/pgb_tm.sql" >/dev/null
    pgb -c 1 -t 1000 -M prepared --log --log-prefix=log_t100 -f "$work/pgb_tm.sql" > "$work/lat_t100.out"
    read -r t100_p50 t100_p99 < <(percentiles "$work"/log_t100.*)
    t100_tps=$(pgb -c 2 -j 2 -T "$tps_seconds" -M prepared -f "$work/pgb_tm.sql" | tps_of)
    printf '   match_trials (100 trials)  p50 %8s ms   p99 %8s ms   %10s tps\n' "$t100_p50" "$t100_p99" "$t100_tps"
    psql -d "$db" -c "DELETE FROM trialmatch.trials WHERE trial_id LIKE 'NCT%-%'" >/dev/null
fi

# ---------------------------------------------------------------------------
# summary
# ---------------------------------------------------------------------------
echo
echo "== summary: layout $layout, $workers worker(s), median of $rounds round(s), scale $scale ($(psql -d "$db" -Atc "SELECT count(*) FROM public.labs") lab rows), as_of $as_of, $(nproc) cores"
psql -d "$db" -P pager=off -P footer=off <<'SQL'
SELECT trial,
       round(tm_s, 3)                       AS "trialmatch s",
       round(sql_s, 3)                      AS "SQL s",
       round(sql_s / nullif(tm_s, 0), 2)    AS "SQL/trialmatch",
       round(floor_s, 3)                    AS "floor s",
       round(tm_s / nullif(floor_s, 0), 2)  AS "trialmatch/floor",
       round(rows_s, 3)                     AS "rows floor s",
       round(sql_s / nullif(rows_s, 0), 2)  AS "SQL/rows floor",
       coalesce(round(mem_kb / 1024.0, 1)::text || ' MB', 'n/a') AS "memory (local+shared)",
       CASE WHEN mismatches = 0 THEN 'OK' ELSE 'MISMATCH' END AS "check"
  FROM public.bench_results ORDER BY trial;
SQL
mt_bad=$(psql -d "$db" -Atc "SELECT count(*) FILTER (WHERE diff > 0) FROM public.bench_mt_check")
mt_n=$(psql -d "$db" -Atc "SELECT count(*) FROM public.bench_mt_check")
printf '%-34s %12s %12s %10s\n' "one patient" "match_trials" "SQL" "ratio"
printf '%-34s %12s %12s %10s\n' "latency p50 (ms, -c 1)" "$tm_p50" "$sql_p50" \
    "$(awk -v a="$sql_p50" -v b="$tm_p50" 'BEGIN { if (b > 0) printf "%.2f", a / b }')"
printf '%-34s %12s %12s %10s\n' "latency p99 (ms, -c 1)" "$tm_p99" "$sql_p99" \
    "$(awk -v a="$sql_p99" -v b="$tm_p99" 'BEGIN { if (b > 0) printf "%.2f", a / b }')"
printf '%-34s %12s %12s %10s\n' "throughput (tps, -c 2 -j 2)" "$tm_tps" "$sql_tps" "$tps_ratio"
printf '%-34s %12s\n' "100 trials: p50 / p99 ms, tps" "$t100_p50 / $t100_p99 / $t100_tps"
printf '%-34s %s\n' "match_trials check" "$([ "$mt_bad" = 0 ] && echo "OK ($mt_n patients)" || echo "MISMATCH ($mt_bad of $mt_n patients)")"

bad=$(psql -d "$db" -Atc "SELECT count(*) FILTER (WHERE mismatches <> 0) FROM public.bench_results")
echo
echo "benchmark finished in $(( $(date +%s) - t_start )) s"
if [ "$bad" != 0 ] || [ "$mt_bad" != 0 ]; then
    echo "MISMATCH: trialmatch and the hand-written SQL disagree (see above)" >&2
    exit 1
fi
