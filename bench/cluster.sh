# Sourced by bench/run.sh, bench/match_all.sh and bench/brin.sh: the
# benchmark's PostgreSQL cluster, run as the postgres OS user.  The caller
# defines bin (PGBIN) and port (PORT).
#
#   bench_server_start   start the cluster in $dir with the benchmark's
#                        settings (for 2 cores / 24 GiB; everything in
#                        memory), and remember to stop it at exit
#                        (started=1); as_pg must be defined
#   bench_cluster NAME   as root: install and build unless SKIP_BUILD=1;
#                        as_pg and psql; the cluster directory dir (BENCH_DIR,
#                        kept; else a temporary one, removed at exit); a work
#                        directory work (/tmp/trialmatch-NAME.*, removed at
#                        exit); initdb when needed, and the server started
#                        unless it is running

bench_server_start() {
    as_pg $bin/pg_ctl -D "$dir/data" -l "$dir/server.log" -w start -o "-p $port -k $dir -c listen_addresses='' \
        -c shared_buffers=4GB -c effective_cache_size=16GB -c work_mem=256MB -c maintenance_work_mem=1GB \
        -c max_wal_size=8GB -c checkpoint_timeout=30min -c synchronous_commit=off \
        -c max_worker_processes=16 -c max_parallel_workers=8 -c max_parallel_workers_per_gather=2 \
        -c random_page_cost=1.1 -c jit=off" >/dev/null
    started=1
}

bench_cluster() {
    [ "$(id -u)" = 0 ] || { echo "run as root (the cluster runs as the postgres OS user)" >&2; exit 2; }
    if [ "${SKIP_BUILD:-0}" != 1 ]; then
        bash scripts/install-deps.sh
        bash scripts/build.sh
    fi
    as_pg() { runuser -u postgres -- "$@"; }
    psql() { as_pg $bin/psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" "$@"; }
    if [ -n "${BENCH_DIR:-}" ]; then
        dir=$BENCH_DIR; keep=1; mkdir -p "$dir"
    else
        dir=$(mktemp -d /tmp/trialmatch-bench.XXXXXX); keep=0
    fi
    dir=$(cd "$dir" && pwd)
    chown postgres "$dir"
    work=$(mktemp -d "/tmp/trialmatch-$1.XXXXXX")
    chown postgres "$work"
    started=0
    trap bench_cluster_cleanup EXIT
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_pg $bin/initdb -D "$dir/data" -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    as_pg $bin/pg_ctl -D "$dir/data" status >/dev/null 2>&1 || bench_server_start
}

bench_cluster_cleanup() {
    [ "$started" = 1 ] && as_pg $bin/pg_ctl -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$work"
    [ "$keep" = 0 ] && rm -rf "$dir"
    return 0
}
