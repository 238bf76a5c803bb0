#!/usr/bin/env bash
# Clinical notes benchmark (issue 11).  Run as root:
#
#   bash bench/notes.sh [scale] [notes_per_patient]    # default 100000 x 20
#
# Starts (or reuses, with BENCH_DIR) a throwaway PostgreSQL 15 cluster as
# the postgres OS user, generates the notes with scripts/gen_notes.sql,
# builds the GIN index a DBA would (to_tsvector('simple', body)), and times,
# best of RUNS (default 3) after one warm-up each:
#   - trialmatch: match_patients of a one-criterion trial
#     `note mentions 'brain metastases' within 1 year` (with negation; the
#     notes are read through the index: only those it returns);
#   - the SQL a DBA would write without negation: every patient, and
#     whether some note of the last year matches
#     to_tsvector('simple', body) @@ phraseto_tsquery('simple', 'brain metastases');
#   - the scan rate of the text matcher, without the index: MB of note text
#     per second per process, in the calling backend alone and with 2
#     parallel workers.
# Environment: BENCH_DIR, PORT (55433), RUNS (3), SKIP_BUILD=1, PGBIN.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-100000}
per=${2:-20}
[[ "$scale" =~ ^[1-9][0-9]*$ && "$per" =~ ^[1-9][0-9]*$ ]] || { echo "usage: bash bench/notes.sh [scale] [notes_per_patient]" >&2; exit 2; }
port=${PORT:-55433}
runs=${RUNS:-3}
bin=${PGBIN:-/usr/lib/postgresql/15/bin}
db="tm_notes_${scale}_$per"
[ "$(id -u)" = 0 ] || { echo "run as root (the cluster runs as the postgres OS user)" >&2; exit 2; }
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    bash scripts/install-deps.sh
    bash scripts/build.sh
fi
as_pg() { runuser -u postgres -- "$@"; }
if [ -n "${BENCH_DIR:-}" ]; then dir=$BENCH_DIR; keep=1; mkdir -p "$dir"; else dir=$(mktemp -d /tmp/trialmatch-notes.XXXXXX); keep=0; fi
dir=$(cd "$dir" && pwd)
chown postgres "$dir"
started=0
cleanup() {
    [ "$started" = 1 ] && as_pg $bin/pg_ctl -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    [ "$keep" = 0 ] && rm -rf "$dir" || true
}
trap cleanup EXIT
[ -f "$dir/data/PG_VERSION" ] || as_pg $bin/initdb -D "$dir/data" -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
as_pg $bin/pg_ctl -D "$dir/data" status >/dev/null 2>&1 && as_pg $bin/pg_ctl -D "$dir/data" -m fast stop >/dev/null
as_pg $bin/pg_ctl -D "$dir/data" -l "$dir/server.log" -w start -o "-p $port -k $dir -c listen_addresses='' \
    -c shared_buffers=3GB -c work_mem=256MB -c maintenance_work_mem=1GB -c max_wal_size=8GB \
    -c synchronous_commit=off -c max_worker_processes=16 -c max_parallel_workers=8 \
    -c max_parallel_workers_per_gather=2 -c random_page_cost=1.1 -c jit=off \
    -c shared_preload_libraries=trialmatch" >/dev/null
started=1
psql() { as_pg $bin/psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" "$@"; }

if [ "$(psql -d postgres -Atc "SELECT count(*) FROM pg_database WHERE datname = '$db'")" = 0 ]; then
    psql -d postgres -c "CREATE DATABASE $db"
fi
if [ "$(psql -d "$db" -Atc "SELECT to_regclass('public.bench_notes_generated') IS NOT NULL")" != t ]; then
    echo "== generating $scale patients x $per notes (database $db in $dir)"
    t0=$(date +%s)
    psql -d "$db" -c "DROP TABLE IF EXISTS public.bench_pat; CREATE TABLE public.bench_pat (patient_id int8 PRIMARY KEY);
                      INSERT INTO public.bench_pat SELECT generate_series(1, $scale)"
    psql -d "$db" -v scale="$scale" -v per_patient="$per" -P pager=off < scripts/gen_notes.sql
    psql -d "$db" -c "VACUUM (ANALYZE) public.notes, public.bench_pat"
    t1=$(date +%s)
    psql -d "$db" -c "CREATE INDEX notes_fts ON public.notes USING gin (to_tsvector('simple', body))"
    psql -d "$db" -c "ANALYZE public.notes; CREATE TABLE public.bench_notes_generated AS SELECT now() AS at"
    echo "   generated in $(( t1 - t0 )) s, GIN index built in $(( $(date +%s) - t1 )) s"
fi
psql -d "$db" -c "SET client_min_messages = warning; DROP EXTENSION IF EXISTS trialmatch CASCADE; CREATE EXTENSION trialmatch"
psql -d "$db" -P pager=off <<SQL
SET timezone = 'UTC';
SELECT trialmatch.set_patients('public.bench_pat', birth_date_column => NULL, sex_column => NULL);
SELECT trialmatch.add_source('note', 'public.notes', time_column => 'written_at', text_column => 'body');
INSERT INTO trialmatch.trials (trial_id, title) VALUES ('BENCH-NOTES', 'brain metastases in notes');
INSERT INTO trialmatch.criteria VALUES ('BENCH-NOTES', 1, 'inclusion', 'brain metastases',
  \$\$note mentions 'brain metastases' within 1 year\$\$);
CREATE FUNCTION pg_temp.best_ms(q text, n int) RETURNS numeric LANGUAGE plpgsql AS \$f\$
DECLARE t0 timestamptz; best numeric; ms numeric; r record;
BEGIN
  EXECUTE q;                                   -- warm-up
  FOR i IN 1 .. n LOOP
    t0 := clock_timestamp();
    EXECUTE q;
    ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
    best := least(best, ms);
    IF best IS NULL THEN best := ms; END IF;
  END LOOP;
  RETURN round(best, 1);
END \$f\$;
\set tm 'SELECT count(*) FILTER (WHERE status = ''eligible'') FROM trialmatch.match_patients(''BENCH-NOTES'', ''2026-11-01'')'
\set dba 'SELECT count(*) FILTER (WHERE m) FROM (SELECT p.patient_id, p.patient_id IN (SELECT n.patient_id FROM public.notes n WHERE to_tsvector(''simple'', n.body) @@ phraseto_tsquery(''simple'', ''brain metastases'') AND n.written_at >= timestamptz ''2026-11-01'' - interval ''1 year'' AND n.written_at <= timestamptz ''2026-11-01'') AS m FROM public.bench_pat p) x'
SELECT (SELECT count(*) FROM public.notes) AS notes,
       round(sum(octet_length(body)) / 1048576.0) AS text_mb,
       pg_size_pretty(pg_relation_size('public.notes_fts')) AS gin_index
  FROM public.notes \gset
\echo notes :notes, text :text_mb MB, GIN index :gin_index
SELECT (:tm) AS tm_eligible, (:dba) AS dba_matching;
SELECT pg_temp.best_ms(:'tm', $runs) AS tm_ms \gset
SELECT pg_temp.best_ms(:'dba', $runs) AS dba_ms \gset
SELECT :tm_ms AS "trialmatch ms (negation, index)", :dba_ms AS "DBA SQL ms (no negation, index)",
       round(:tm_ms / :dba_ms, 2) AS ratio;
-- the scan rate, without the index (dropped in a transaction rolled back)
BEGIN;
DROP INDEX public.notes_fts;
SET trialmatch.max_parallel_workers = 0;
SELECT pg_temp.best_ms(:'tm', 1) AS scan0_ms \gset
SET trialmatch.max_parallel_workers = 2;
SELECT pg_temp.best_ms(:'tm', 1) AS scan2_ms \gset
ROLLBACK;
SELECT :scan0_ms AS "scan ms, 1 process", round(:text_mb / (:scan0_ms / 1000.0)) AS "MB/s per process",
       :scan2_ms AS "scan ms, leader + 2 workers", round(:text_mb / (:scan2_ms / 1000.0) / 3) AS "MB/s per process (3)";
SQL
