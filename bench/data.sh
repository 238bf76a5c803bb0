# Sourced by bench/run.sh, bench/match_all.sh and bench/brin.sh: the benchmark databases,
# made once and kept in the cluster.  The caller defines psql (connected to
# its cluster), dir (the cluster's directory) and scale.
#
#   bench_generate DB      DB holds the generator's population at $scale
#                          (scripts/gen_data.sql: event tables in patient
#                          order), vacuumed and analyzed
#   bench_time_db DB SRC   DB holds SRC's rows with the event tables rewritten
#                          in event-time order (bench/time_order.sql)
#   bench_cover DB 1|0     bench/indexes.sql's covering indexes created, or
#                          dropped

bench_generate() {
    local d=$1 generated=0 t0
    if [ "$(psql -d postgres -Atc "SELECT count(*) FROM pg_database WHERE datname = '$d'")" = 0 ]; then
        psql -d postgres -c "CREATE DATABASE $d"
    fi
    if [ "$(psql -d "$d" -Atc "SELECT to_regclass('public.bench_generated') IS NOT NULL")" = t ]; then
        generated=$(psql -d "$d" -Atc "SELECT count(*) FROM public.bench_generated WHERE scale = $scale")
    fi
    if [ "$generated" = 0 ]; then
        echo "== generating $scale synthetic patients (database $d in $dir)"
        t0=$(date +%s)
        psql -d "$d" -v scale="$scale" < scripts/gen_data.sql
        # set hint bits and the visibility map once, so that every timed run reads the same clean pages
        psql -d "$d" -c "VACUUM (ANALYZE) public.patients, public.labs, public.diagnoses, public.medications"
        psql -d "$d" -c "CREATE TABLE public.bench_generated (scale int, at timestamptz DEFAULT now()); INSERT INTO public.bench_generated VALUES ($scale)"
        echo "   generated in $(( $(date +%s) - t0 )) s"
    fi
}

bench_time_db() {
    local d=$1 src=$2 t0
    if [ "$(psql -d postgres -Atc "SELECT count(*) FROM pg_database WHERE datname = '$d'")" = 1 ] &&
       [ "$(psql -d "$d" -Atc "SELECT to_regclass('public.bench_time_ordered') IS NOT NULL")" != t ]; then
        psql -d postgres -c "DROP DATABASE $d"      # an unfinished copy
    fi
    if [ "$(psql -d postgres -Atc "SELECT count(*) FROM pg_database WHERE datname = '$d'")" = 0 ]; then
        echo "== rewriting the event tables in event-time order (database $d, from $src)"
        t0=$(date +%s)
        psql -d postgres -c "CREATE DATABASE $d TEMPLATE $src"
        psql -d "$d" < bench/time_order.sql
        psql -d "$d" -c "VACUUM (ANALYZE) public.labs, public.diagnoses, public.medications"
        psql -d "$d" -c "CREATE TABLE public.bench_time_ordered (at timestamptz DEFAULT now()); INSERT INTO public.bench_time_ordered DEFAULT VALUES"
        echo "   rewritten in $(( $(date +%s) - t0 )) s"
    fi
}

bench_cover() {
    local d=$1
    if [ "$2" = 1 ]; then
        psql -d "$d" < bench/indexes.sql
    else
        psql -d "$d" -c "SET client_min_messages = warning; DROP INDEX IF EXISTS public.labs_code_taken_at_cover_idx, public.diagnoses_code_diagnosed_at_cover_idx, public.medications_drug_cover_idx, public.labs_patient_id_cover_idx, public.diagnoses_patient_id_cover_idx, public.medications_patient_id_cover_idx"
    fi
}
