#!/usr/bin/env bash
# The demo: builds and installs trialmatch, starts a throwaway cluster as
# the postgres OS user, generates a synthetic population (SCALE patients,
# default 100000), registers it, loads five trials, and prints a screening.
# Run as root on Debian 12.  The cluster is removed at the end
# (KEEP=1 keeps it running and prints how to connect).
# DATA=eunomia runs the demo on the public OMOP CDM sample eunomia-gibleed
# (found in ../shared/data or $TRIALMATCH_OMOP_DATA) instead.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
scale=${SCALE:-100000}
port=${PORT:-54329}
bin=/usr/lib/postgresql/15/bin

bash scripts/install-deps.sh
bash scripts/build.sh

dir=$(mktemp -d /tmp/trialmatch-demo.XXXXXX)
chown postgres "$dir"
as_pg() { runuser -u postgres -- "$@"; }
cleanup() {
    if [ "${KEEP:-0}" != 1 ]; then
        as_pg $bin/pg_ctl -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
        rm -rf "$dir"
    fi
}
trap cleanup EXIT

as_pg $bin/initdb -D "$dir/data" -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
as_pg $bin/pg_ctl -D "$dir/data" -l "$dir/server.log" -w start \
    -o "-p $port -k $dir -c listen_addresses='' -c shared_buffers=1GB -c work_mem=64MB -c maintenance_work_mem=512MB -c max_wal_size=4GB -c checkpoint_timeout=30min" >/dev/null
psql() { as_pg $bin/psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -d postgres "$@"; }

start=$(date +%s)
if [ "${DATA:-synthetic}" = eunomia ]; then
    data=""
    for d in "${TRIALMATCH_OMOP_DATA:-}" "$top/../shared/data" /work/shared/data; do
        [ -n "$d" ] && [ -d "$d/eunomia-gibleed/csv" ] && { data=$d; break; }
    done
    [ -n "$data" ] || { echo "eunomia-gibleed not found: set TRIALMATCH_OMOP_DATA" >&2; exit 1; }
    echo "== loading eunomia-gibleed (OMOP CDM v5.4) from $data"
    PSQL="runuser -u postgres -- $bin/psql" bash scripts/load_omop.sh "$data/eunomia-gibleed" cdm \
        -h "$dir" -p "$port" -d postgres >/dev/null
    psql -c "CREATE EXTENSION trialmatch"
    psql <<'SQL'
SELECT trialmatch.use_omop('cdm');
INSERT INTO trialmatch.trials (trial_id, title) VALUES
 ('GIB-NSAID', 'Gastroprotection in NSAID users without prior GI bleeding');
INSERT INTO trialmatch.criteria (trial_id, position, kind, label, expr) VALUES
 ('GIB-NSAID', 1, 'inclusion', 'Age 40 or older',                  'age >= 40'),
 ('GIB-NSAID', 2, 'inclusion', 'NSAID (celecoxib or diclofenac) ever',
                                                                    'drug (<< 1118084, << 1124300)'),
 ('GIB-NSAID', 3, 'exclusion', 'GI hemorrhage ever',               'condition << 192671'),
 ('GIB-NSAID', 4, 'inclusion', 'One year of observation',          'observed 365 days'),
 ('GIB-NSAID', 5, 'inclusion', 'Condition 4227253 family reviewed by hand', 'not condition << 4227253 or unknown');
SQL
    psql -P pager=off <<'SQL'
\echo
\echo == eunomia-gibleed: counts per status (as of 2018-06-01)
\timing on
SELECT status, count(*) FROM trialmatch.match_patients('GIB-NSAID', '2018-06-01') GROUP BY 1 ORDER BY 1;
\echo == Attrition
SELECT * FROM trialmatch.attrition('GIB-NSAID', '2018-06-01');
\timing off
\echo == Why was this person excluded? (the first excluded for a GI hemorrhage)
SELECT min(patient_id) AS excluded FROM trialmatch.match_patients('GIB-NSAID', '2018-06-01')
 WHERE 'GI hemorrhage ever' = ANY (failed) \gset
SELECT * FROM trialmatch.explain_match('GIB-NSAID', :excluded, '2018-06-01');
\echo == Which trials fit this person?
SELECT * FROM trialmatch.match_trials(:excluded, '2018-06-01');
SQL
    echo
    echo "demo finished in $(( $(date +%s) - start )) s"
    exit 0
fi
echo "== generating $scale synthetic patients"
psql -v scale="$scale" < scripts/gen_data.sql >/dev/null
echo "   done in $(( $(date +%s) - start )) s"
psql -c "CREATE EXTENSION trialmatch"
psql < scripts/demo_trials.sql >/dev/null

psql -P pager=off <<'SQL'
\echo
\echo == Counts per status for each trial (as of 2026-11-01)
\timing on
SELECT t.trial_id, t.title,
       count(*) FILTER (WHERE m.status = 'eligible')      AS eligible,
       count(*) FILTER (WHERE m.status = 'indeterminate') AS indeterminate,
       count(*) FILTER (WHERE m.status = 'ineligible')    AS ineligible
  FROM trialmatch.trials t,
       LATERAL trialmatch.match_patients(t.trial_id, '2026-11-01') m
 GROUP BY t.trial_id, t.title ORDER BY t.trial_id;
\echo
\echo == Attrition of NCT04567890, criterion by criterion
SELECT * FROM trialmatch.attrition('NCT04567890', '2026-11-01');
\timing off
\echo
\echo == Why was this patient excluded? (the first ineligible patient of NCT04567890 with a diagnosis of type 2 diabetes)
SELECT min(patient_id) AS excluded FROM trialmatch.match_patients('NCT04567890', '2026-11-01')
 WHERE status = 'ineligible' AND NOT ('Type 2 diabetes' = ANY (failed)) \gset
SELECT :excluded AS patient_id;
SELECT * FROM trialmatch.explain_match('NCT04567890', :excluded, '2026-11-01');
\echo
\echo == Which recruiting trials fit this patient? (the first eligible patient of NCT04567890)
SELECT min(patient_id) AS fits FROM trialmatch.match_patients('NCT04567890', '2026-11-01')
 WHERE status = 'eligible' \gset
\timing on
SELECT * FROM trialmatch.match_trials(:fits, '2026-11-01');
\timing off
SQL
echo
echo "demo finished in $(( $(date +%s) - start )) s"
if [ "${KEEP:-0}" = 1 ]; then
    echo "cluster kept: runuser -u postgres -- psql -h $dir -p $port -d postgres"
fi
