#!/usr/bin/env bash
# The Debian package: builds postgresql-15-trialmatch from the current commit
# (a fresh clone, so uncommitted files stay out) with dpkg-buildpackage and
# pg_buildext, checks the files in it, installs it with apt into the system
# PostgreSQL 15, and checks it in a throwaway cluster run as the postgres OS
# user: the library preloads, CREATE EXTENSION gives version 1.1, 1.0 updates
# to 1.1, a small screening gives the answers worked out by hand, and a run
# by the worker pool finishes.  Run as root on Debian 12.
#
# The system's default cluster is never touched.  The package is purged at
# the end; trialmatch files that a `make install` had put into the system
# directories before are put back.  KEEP_PACKAGE=1 leaves the package
# installed; OUT=dir copies the built .deb files there.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
start=$(date +%s)
bin=/usr/lib/postgresql/15/bin
pkg=postgresql-15-trialmatch
export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -q -o DPkg::Lock::Timeout=600 "$@"; }
installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }
fail() { echo "package: FAILED: $*" >&2; exit 1; }

# what building needs (debian/control's Build-Depends, dpkg-buildpackage, git)
# and what the package needs at run time (postgresql-15)
need=()
for p in postgresql-server-dev-all debhelper dpkg-dev build-essential git postgresql-15; do
    installed "$p" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "== installing: ${need[*]}"
    apt_get update -qq
    apt_get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

work=$(mktemp -d /tmp/trialmatch-package.XXXXXX)
chmod 755 "$work"    # apt reads the .deb as user _apt
port=${PORT:-$((55000 + RANDOM % 1000))}
pgdir=$work/pg       # the postgres OS user's: data directory, socket, log
data=$pgdir/data
backup=$work/system-files.tar
was_installed=0; installed $pkg && was_installed=1
as_pg() { (cd "$work" && runuser -u postgres -- "$@"); }   # from a directory it may enter
uninstall() {   # purge the package, put back what a make install had left
    if [ "${KEEP_PACKAGE:-0}" != 1 ] && [ $was_installed = 0 ] && installed $pkg; then
        apt_get purge -y -qq $pkg >/dev/null || echo "could not purge $pkg" >&2
        echo "== purged $pkg"
    fi
    if [ -s "$backup" ] && ! installed $pkg; then
        tar -C / -xpf "$backup" && rm -f "$backup"
        echo "== put back the trialmatch files a make install had left in the system directories"
    fi
}
cleanup() {
    status=$?
    if [ -f "$data/postmaster.pid" ]; then
        as_pg $bin/pg_ctl -D "$data" -m immediate stop >/dev/null 2>&1 || true
    fi
    uninstall
    rm -rf "$work"
    exit $status
}
trap cleanup EXIT

# -- build from a fresh clone of the current commit
commit=$(git -C "$top" rev-parse HEAD)
if [ -n "$(git -C "$top" status --porcelain --untracked-files=no)" ]; then
    echo "== note: uncommitted changes are not packaged"
fi
echo "== building from a clone of $(git -C "$top" log -1 --format='%h %s' | cut -c1-70)"
git clone -q --no-checkout "$top" "$work/trialmatch"
git -C "$work/trialmatch" -c advice.detachedHead=false checkout -q "$commit"
b0=$(date +%s)
if ! (cd "$work/trialmatch" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
    tail -n 40 "$work/build.log"
    fail "dpkg-buildpackage -us -uc -b (log above)"
fi
build_s=$(( $(date +%s) - b0 ))
version=$(cd "$work/trialmatch" && dpkg-parsechangelog -SVersion)
deb=${pkg}_${version}_$(dpkg --print-architecture).deb
[ -f "$work/$deb" ] || fail "$deb was not built: $(ls "$work")"
[ -n "${OUT:-}" ] && { mkdir -p "$OUT"; cp "$work"/*.deb "$OUT"/; }

# -- the files in it: the library, the control file, every install and
# upgrade script the Makefile's DATA lists, the README and the copyright
echo "== $deb ($(( $(stat -c %s "$work/$deb") / 1024 )) kB), built in ${build_s} s:"
dpkg-deb -c "$work/$deb" | awk '$NF !~ /\/$/ { print "   " $NF }' | tee "$work/contents"
data_files=$(make -s --no-print-directory -C "$work/trialmatch" PG_CONFIG=$bin/pg_config \
    -f Makefile -f <(printf 'print-data:\n\t@echo $(DATA)\n') print-data)
[ -n "$data_files" ] || fail "no DATA in the Makefile"
expect=(./usr/lib/postgresql/15/lib/trialmatch.so
        ./usr/share/postgresql/15/extension/trialmatch.control
        ./usr/share/doc/$pkg/README.md.gz
        ./usr/share/doc/$pkg/copyright)
for f in $data_files; do expect+=("./usr/share/postgresql/15/extension/$(basename "$f")"); done
for f in "${expect[@]}"; do
    grep -qxF "   $f" "$work/contents" || fail "$deb lacks $f"
done
grep -q '/bitcode/' "$work/contents" && fail "$deb has JIT bitcode (built without with_llvm=no?)"

# -- install it; keep what a make install had put in the system directories
files=$(sed -n 's#^   \./\(usr/lib/postgresql/.*\|usr/share/postgresql/.*\)$#\1#p' "$work/contents")
[ -n "$files" ] || fail "no files under usr/lib/postgresql or usr/share/postgresql in $deb" 
keep=()
for f in $files; do
    [ -e "/$f" ] && ! dpkg -S "/$f" >/dev/null 2>&1 && keep+=("$f")
done
[ ${#keep[@]} -gt 0 ] && tar -C / -cpf "$backup" "${keep[@]}"
echo "== apt-get install ./$deb"
apt_get install -y -qq "$work/$deb" >"$work/install.log" 2>&1 \
    || { cat "$work/install.log" || true; fail "apt-get install $deb"; }
[ "$(dpkg-query -W -f='${Version}' $pkg)" = "$version" ] || fail "$pkg $version is not installed"

# -- a throwaway cluster of the system PostgreSQL 15, the library preloaded
echo "== throwaway cluster in $data (port $port, socket only)"
install -d -o postgres "$pgdir"
as_pg $bin/initdb -D "$data" -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
as_pg $bin/pg_ctl -D "$data" -l "$pgdir/server.log" -w start \
    -o "-p $port -k $pgdir -c listen_addresses='' -c shared_preload_libraries=trialmatch -c trialmatch.database=postgres" \
    >/dev/null || { cat "$pgdir/server.log" || true; fail "the cluster did not start"; }
psql() { as_pg $bin/psql -X -q -At -v ON_ERROR_STOP=1 -h "$pgdir" -p "$port" "$@"; }
check() {   # check <what> <expected> <actual>
    [ "$2" = "$3" ] || { printf 'expected:\n%s\ngot:\n%s\n' "$2" "$3"; fail "$1"; }
    echo "   ok: $1"
}

psql -d postgres -c 'CREATE EXTENSION trialmatch'
check "CREATE EXTENSION trialmatch gives version 1.1" 1.1 \
    "$(psql -d postgres -c "SELECT extversion FROM pg_extension WHERE extname = 'trialmatch'")"
psql -d postgres -c 'CREATE DATABASE upgrade'
psql -d upgrade -c "CREATE EXTENSION trialmatch VERSION '1.0'" -c 'ALTER EXTENSION trialmatch UPDATE'
check "CREATE EXTENSION trialmatch VERSION '1.0' then UPDATE gives 1.1" 1.1 \
    "$(psql -d upgrade -c "SELECT extversion FROM pg_extension WHERE extname = 'trialmatch'")"

# three patients as of 2026-06-01: 1 is 56 with HbA1c 8.2 (eligible), 2 is 86
# (ineligible: age), 3 has no HbA1c (indeterminate: the lab is unknown)
psql -d postgres >/dev/null <<'SQL'
SET timezone = 'UTC';
CREATE TABLE patients (patient_id int8 PRIMARY KEY, birth_date date, sex text);
INSERT INTO patients VALUES (1, '1970-01-01', 'F'), (2, '1940-01-01', 'M'), (3, '1980-01-01', 'F');
CREATE TABLE labs (patient_id int8, code text, taken_at timestamptz, value float8, unit text);
INSERT INTO labs VALUES (1, '4548-4', '2026-05-01', 8.2, '%'), (2, '4548-4', '2026-05-01', 8.0, '%');
SELECT trialmatch.set_patients('public.patients');
SELECT trialmatch.add_source('lab', 'public.labs', time_column => 'taken_at',
                             value_column => 'value', unit_column => 'unit');
INSERT INTO trialmatch.trials (trial_id, title) VALUES ('PKG-1', 'package check');
INSERT INTO trialmatch.criteria (trial_id, position, kind, label, expr) VALUES
 ('PKG-1', 1, 'inclusion', 'Age 18-75', 'age between 18 and 75'),
 ('PKG-1', 2, 'inclusion', 'HbA1c 7.0-10.5%', $$lab '4548-4' within 180 days last between 7.0 and 10.5$$);
SQL

check "match_patients screens three patients" \
    "1|eligible|{}|{}
2|ineligible|{\"Age 18-75\"}|{}
3|indeterminate|{}|{\"HbA1c 7.0-10.5%\"}" \
    "$(psql -d postgres -c "SELECT * FROM trialmatch.match_patients('PKG-1', '2026-06-01') ORDER BY patient_id")"
run=$(psql -d postgres -c "SELECT trialmatch.screen('PKG-1', '2026-06-01')")
check "the worker pool runs screen() to the end" done "$(psql -d postgres -c "SELECT trialmatch.wait($run)")"
check "the run's results are the same" "1|eligible
2|ineligible
3|indeterminate" \
    "$(psql -d postgres -c "SELECT patient_id, status FROM trialmatch.results WHERE run_id = $run ORDER BY 1")"
as_pg $bin/pg_ctl -D "$data" -m fast stop >/dev/null
uninstall

echo "package: $deb installs and works ($(( $(date +%s) - start )) s)"
