#!/usr/bin/env bash
# Beyond one machine, on one machine (SPEC 10): a coordinator, 3 shards and
# a hot standby of shard 1, each its own PostgreSQL cluster run by the
# postgres OS user in a temporary directory on its own port, plus one plain
# database holding the whole population.  The demo population (SCALE
# patients, default 100000, scripts/gen_data.sql) is generated once in the
# plain database and copied to the shards by trialmatch.shard_of(), the
# hash PL/Proxy routes with.  The catalog (scripts/demo_trials.sql) is
# written on the coordinator and reaches the shards by logical replication.
# Every trialmatch_cluster function is then compared row for row with the
# plain database, through the shards and again with shard 1 replaced by its
# standby; timings are printed.  Last line on success:
#   sharded: 3 shards, identical to one database
# Run as root on Debian 12.  PGBIN: another PostgreSQL 15 installation
# (default the system one); PORT: the first of six ports (default 54350);
# PARTITIONS: PL/Proxy partitions (a power of two, default 256);
# KEEP=1 keeps the clusters running.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${SCALE:-100000}
base=${PORT:-54350}
partitions=${PARTITIONS:-256}
bin=${PGBIN:-/usr/lib/postgresql/15/bin}
as_of='2026-11-01'
nshards=3

bash scripts/install-deps.sh
PGBIN=$bin bash scripts/build.sh

dir=$(mktemp -d /tmp/trialmatch-sharded.XXXXXX)
chown postgres "$dir"
as_pg() { runuser -u postgres -- "$@"; }
# ports: coordinator, shards 0..2, standby of shard 1, the plain database
pc=$base; ps=($((base + 1)) $((base + 2)) $((base + 3))); pst=$((base + 4)); p1=$((base + 5))
all_ports="$pc ${ps[*]} $pst $p1"
cleanup() {
    if [ "${KEEP:-0}" != 1 ]; then
        for n in coord shard0 shard1 shard2 standby single; do
            [ -d "$dir/$n" ] && as_pg $bin/pg_ctl -D "$dir/$n" -m immediate stop >/dev/null 2>&1 || true
        done
        rm -rf "$dir"
    fi
}
trap cleanup EXIT
fail() { echo "sharded: FAILED: $*" >&2; exit 1; }

# psql on a port, as postgres; the comparisons run in a time zone other
# than the servers' (UTC), so the cluster must carry the caller's zone
q() { local port=$1; shift; as_pg env PGTZ="${QTZ:-UTC}" PGOPTIONS="-c client_min_messages=warning" $bin/psql -X -q -At -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -d postgres "$@"; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

start_node() {   # name port
    as_pg $bin/pg_ctl -D "$dir/$1" -l "$dir/$1.log" -w start -o "-p $2 -k $dir" >/dev/null
}
init_node() {    # name port
    as_pg $bin/initdb -D "$dir/$1" -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$dir/$1/postgresql.conf" <<EOF
listen_addresses = ''
timezone = 'UTC'
shared_preload_libraries = 'trialmatch'
wal_level = logical
shared_buffers = 256MB
work_mem = 64MB
maintenance_work_mem = 256MB
max_wal_size = 4GB
checkpoint_timeout = 30min
max_parallel_workers_per_gather = 2
EOF
    start_node "$1" "$2"
}

t0=$(date +%s%N)
echo "== 6 clusters in $dir (ports $all_ports)"
init_node single $p1 &
init_node coord $pc &
wait
for k in 0 1 2; do init_node shard$k ${ps[$k]}; done

echo "== generating $scale patients in the plain database"
q $p1 -v scale="$scale" < scripts/gen_data.sql >/dev/null
q $p1 -c "CREATE EXTENSION trialmatch"
q $p1 < scripts/demo_trials.sql >/dev/null
echo "   $(ms $t0) ms"

echo "== coordinator: the catalog, PL/Proxy cluster over $partitions partitions, publication"
connstr() { echo "host=$dir port=$1 dbname=postgres"; }
schema() { as_pg $bin/pg_dump -h "$dir" -p $p1 -d postgres --schema-only -t public.patients -t public.labs -t public.diagnoses -t public.medications; }
schema | q $pc >/dev/null                               # empty tables of the same shape:
q $pc -c "CREATE EXTENSION plproxy" -c "CREATE EXTENSION trialmatch"
q $pc < scripts/demo_trials.sql >/dev/null             # criteria are validated against them
q $pc -c "SELECT trialmatch.create_cluster(ARRAY['$(connstr ${ps[0]})', '$(connstr ${ps[1]})', '$(connstr ${ps[2]})'], $partitions)" >/dev/null

echo "== shards: their patients (hash of patient id), sources registered, catalog subscribed"
t1=$(date +%s%N)
for k in 0 1 2; do
    schema | q ${ps[$k]} >/dev/null
    q ${ps[$k]} -c "CREATE EXTENSION trialmatch"
    # shard_of() once per patient; events follow their patient
    q $p1 -c "CREATE TABLE IF NOT EXISTS placed AS SELECT patient_id, trialmatch.shard_of(patient_id, $partitions, $nshards) AS shard FROM public.patients"
    for tab in patients labs diagnoses medications; do
        q $p1 -c "COPY (SELECT t.* FROM public.$tab t WHERE t.patient_id IN (SELECT patient_id FROM placed WHERE shard = $k)) TO STDOUT" \
            | q ${ps[$k]} -c "COPY public.$tab FROM STDIN"
    done
    q ${ps[$k]} -c "ANALYZE"
    # the same registrations; the catalog rows come from the coordinator
    q ${ps[$k]} < scripts/demo_trials.sql >/dev/null
    q ${ps[$k]} -c "TRUNCATE trialmatch.trials, trialmatch.criteria, trialmatch.unit_conversions" \
                -c "SELECT trialmatch.prepare_shard()" >/dev/null
    q ${ps[$k]} -c "CREATE SUBSCRIPTION trialmatch_catalog CONNECTION '$(connstr $pc)' PUBLICATION trialmatch_catalog WITH (slot_name = 'trialmatch_catalog_$k')"
done
[ "$(q $pc -c "SELECT trialmatch_cluster.wait_for_shards('2 min')")" = t ] || fail "catalog did not reach the shards"
echo "   $(ms $t1) ms; patients per shard: $(for k in 0 1 2; do printf '%s ' "$(q ${ps[$k]} -c 'SELECT count(*) FROM patients')"; done)"
total=$(( $(q ${ps[0]} -c 'SELECT count(*) FROM patients') + $(q ${ps[1]} -c 'SELECT count(*) FROM patients') + $(q ${ps[2]} -c 'SELECT count(*) FROM patients') ))
[ "$total" = "$(q $p1 -c 'SELECT count(*) FROM patients')" ] || fail "the shards hold $total patients"

echo "== hot standby of shard 1"
as_pg $bin/pg_basebackup -h "$dir" -p ${ps[1]} -D "$dir/standby" -R -X stream -c fast
start_node standby $pst
sleep 1
[ "$(q $pst -c 'SELECT pg_is_in_recovery()')" = t ] || fail "standby is not in recovery"

# --- row for row ----------------------------------------------------------
trials=$(q $p1 -c "SELECT string_agg(trial_id, ' ' ORDER BY trial_id) FROM trialmatch.trials")
sample=$(q $p1 -c "SELECT array_agg(patient_id ORDER BY patient_id) FROM (SELECT patient_id FROM public.patients ORDER BY hashint8(patient_id) LIMIT 60) s")
out="$dir/out"; mkdir -p "$out"; chown postgres "$out"
export QTZ=Pacific/Auckland
# compare NAME: the plain database's answer ($out/NAME.1) with the cluster's ($out/NAME.c)
compare() {   # name port single-sql cluster-sql
    q $p1 -c "$3" > "$out/$1.1"
    q $2 -c "$4" > "$out/$1.c"
    cmp -s "$out/$1.1" "$out/$1.c" || { diff "$out/$1.1" "$out/$1.c" | head -5; fail "$1 differs"; }
    [ -s "$out/$1.1" ] || fail "$1 is empty"
    printf '   %-44s %8d rows identical\n' "$1" "$(wc -l < "$out/$1.1")"
}
check_all() {   # label
    for t in $trials; do
        compare "$1 match_patients $t" $pc \
            "SELECT * FROM trialmatch.match_patients('$t', '$as_of') ORDER BY patient_id" \
            "SELECT * FROM trialmatch_cluster.match_patients('$t', '$as_of') ORDER BY patient_id"
        compare "$1 attrition $t" $pc \
            "SELECT * FROM trialmatch.attrition('$t', '$as_of')" \
            "SELECT * FROM trialmatch_cluster.attrition('$t', '$as_of')"
        compare "$1 explain_match $t" $pc \
            "SELECT p, e.* FROM unnest('$sample'::bigint[]) p, trialmatch.explain_match('$t', p, '$as_of') e" \
            "SELECT p, e.* FROM unnest('$sample'::bigint[]) p, trialmatch_cluster.explain_match('$t', p, '$as_of') e"
    done
    compare "$1 match_all" $pc \
        "SELECT * FROM trialmatch.match_all('$as_of') ORDER BY trial_id, patient_id" \
        "SELECT * FROM trialmatch_cluster.match_all('$as_of')"
    compare "$1 match_all 2 trials" $pc \
        "SELECT * FROM trialmatch.match_all('$as_of', '{NCT05123456,NCT04567890}') ORDER BY trial_id, patient_id" \
        "SELECT * FROM trialmatch_cluster.match_all('$as_of', '{NCT05123456,NCT04567890}')"
    compare "$1 match_trials" $pc \
        "SELECT p, m.* FROM unnest('$sample'::bigint[]) p, trialmatch.match_trials(p, '$as_of') m" \
        "SELECT p, m.* FROM unnest('$sample'::bigint[]) p, trialmatch_cluster.match_trials(p, '$as_of') m"
}
echo "== trialmatch_cluster functions against the plain database (session time zone $QTZ, servers UTC)"
check_all cluster

echo "== screen(): a run on every shard, results together equal match_patients"
# a pool worker screens in the server's time zone, whoever queued the run
# (one database alike): compare with match_patients in that zone
export QTZ=UTC
q $pc -c "SELECT shard, run_id FROM trialmatch_cluster.screen('NCT04567890', '$as_of')" > "$out/runs"
[ "$(wc -l < "$out/runs")" = 3 ] || fail "screen queued $(wc -l < "$out/runs") runs"
: > "$out/screen.c"
while IFS='|' read -r shard run; do
    [ "$(q ${ps[$shard]} -c "SELECT trialmatch.wait($run, '5 min')")" = done ] || fail "run $run on shard $shard did not finish"
    q ${ps[$shard]} -c "SELECT patient_id, status, failed, unknown FROM trialmatch.results WHERE run_id = $run" >> "$out/screen.c"
done < "$out/runs"
sort -t'|' -k1,1n "$out/screen.c" -o "$out/screen.c"
q $p1 -c "SELECT * FROM trialmatch.match_patients('NCT04567890', '$as_of') ORDER BY patient_id" > "$out/screen.1"
cmp -s "$out/screen.1" "$out/screen.c" || fail "screen results differ"
printf '   %-44s %8d rows identical\n' "screen NCT04567890 (runs $(cut -d'|' -f2 "$out/runs" | paste -sd,))" "$(wc -l < "$out/screen.c")"

export QTZ=Pacific/Auckland
echo "== a criterion changed on the coordinator reaches every shard"
q $pc -c "UPDATE trialmatch.criteria SET label = label || ' (v2)' WHERE trial_id = 'NCT04567890' AND position = 1"
[ "$(q $pc -c "SELECT trialmatch_cluster.wait_for_shards('1 min')")" = t ] || fail "wait_for_shards timed out"
for k in 0 1 2; do
    [ "$(q ${ps[$k]} -c "SELECT label FROM trialmatch.criteria WHERE trial_id = 'NCT04567890' AND position = 1")" = \
      "$(q $pc -c "SELECT label FROM trialmatch.criteria WHERE trial_id = 'NCT04567890' AND position = 1")" ] \
        || fail "shard $k did not receive the change"
done
q $p1 -c "UPDATE trialmatch.criteria SET label = label || ' (v2)' WHERE trial_id = 'NCT04567890' AND position = 1"
compare "changed attrition NCT04567890" $pc \
    "SELECT * FROM trialmatch.attrition('NCT04567890', '$as_of')" \
    "SELECT * FROM trialmatch_cluster.attrition('NCT04567890', '$as_of')"

echo "== the same through the standby of shard 1"
lsn=$(q ${ps[1]} -c "SELECT pg_current_wal_lsn()")
for i in $(seq 1 600); do
    [ "$(q $pst -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'")" = t ] && break; sleep 0.1
done
q $pc -c "SELECT trialmatch.create_cluster(ARRAY['$(connstr ${ps[0]})', '$(connstr $pst)', '$(connstr ${ps[2]})'], $partitions)" >/dev/null
check_all standby
err=$(q $pst -c "SELECT trialmatch.screen('NCT04567890')" 2>&1 || true)
echo "$err" | grep -q "cannot call screen() on a hot standby" || fail "screen() on the standby: $err"
echo "   screen() on the standby: $(echo "$err" | sed -n 's/^.*ERROR: *//p')"
echo "   $(echo "$err" | grep HINT)"
err=$(q $pc -c "SELECT * FROM trialmatch_cluster.screen('NCT04567890')" 2>&1 || true)
echo "$err" | grep -q "hot standby" || fail "cluster screen() through the standby: $err"
q $pc -c "SELECT trialmatch.create_cluster(ARRAY['$(connstr ${ps[0]})', '$(connstr ${ps[1]})', '$(connstr ${ps[2]})'], $partitions)" >/dev/null

echo "== a shard that is down"
as_pg $bin/pg_ctl -D "$dir/shard2" -m fast stop >/dev/null
err=$(q $pc -c "SELECT count(*) FROM trialmatch_cluster.match_patients('NCT04567890', '$as_of')" 2>&1 || true)
echo "$err" | grep -q "trialmatch shard 2 (host=$dir port=${ps[2]} dbname=postgres) is not reachable" || fail "shard down: $err"
echo "   $(echo "$err" | head -1)"
start_node shard2 ${ps[2]}

# --- timings ---------------------------------------------------------------
unset QTZ
echo "== timings (ms; best of 3; $scale patients, shards of $(for k in 0 1 2; do printf '%s ' "$(q ${ps[$k]} -c 'SELECT count(*) FROM patients')"; done| sed 's/ $//'))"
best() {   # port sql
    local b=999999999 t s
    for i in 1 2 3; do s=$(date +%s%N); q $1 -c "$2" >/dev/null || fail "$2"; t=$(ms $s); [ $t -lt $b ] && b=$t; done
    echo $b
}
fid=$(q $p1 -c "SELECT min(patient_id) FROM public.patients")
# on a shard, match_trials asks for a patient of that shard
own() { case $1 in match_trials*) echo "match_trials($(q ${ps[$2]} -c "SELECT min(patient_id) FROM public.patients"), '$as_of')";; *) echo "$1";; esac; }
printf '   %-36s %8s %8s %8s %8s %12s\n' call "one db" shard0 shard1 shard2 coordinator
for call in "match_patients('NCT04567890', '$as_of')" "attrition('NCT04567890', '$as_of')" \
            "match_all('$as_of')" "match_trials($fid, '$as_of')"; do
    printf '   %-36s %8s %8s %8s %8s %12s\n' "${call%%(*}" \
        "$(best $p1 "SELECT count(*) FROM trialmatch.$call")" \
        "$(best ${ps[0]} "SELECT count(*) FROM trialmatch.$(own "$call" 0)")" \
        "$(best ${ps[1]} "SELECT count(*) FROM trialmatch.$(own "$call" 1)")" \
        "$(best ${ps[2]} "SELECT count(*) FROM trialmatch.$(own "$call" 2)")" \
        "$(best $pc "SELECT count(*) FROM trialmatch_cluster.$call")"
done
echo "   (the shards share this machine's $(nproc) cores: the coordinator's time is that of 3 shards at once)"
echo "   total $(ms $t0) ms"
if [ "${KEEP:-0}" = 1 ]; then
    echo "clusters kept in $dir: coordinator psql -h $dir -p $pc, shards ${ps[*]}, standby $pst, one database $p1"
fi
echo "sharded: 3 shards, identical to one database"
