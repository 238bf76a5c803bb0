#!/usr/bin/env bash
# Loads an OMOP CDM v5.4 dataset (one CSV per table, header row) into a schema.
#
#   bash scripts/load_omop.sh <dataset-dir> <schema> [psql connection args...]
#   e.g. bash scripts/load_omop.sh /work/shared/data/synthea27nj omop_nj -h /tmp/pg -p 55440 -d postgres
#
# <dataset-dir> is the folder holding csv/ (and optionally row_counts.csv), or
# the csv folder itself.  Everything runs in one transaction: the schema is
# dropped (CASCADE) and recreated, so the script can be run again at will, and
# a failed load leaves the previous contents in place.
#
# 1. Tables: created from the CDM's field documentation,
#    OMOP_CDMv5.4_Field_Level.csv, by scripts/omop/create_tables.sql (all 39
#    v5.4 tables, NOT NULL where the documentation says required, no keys).
#    The file is looked for in $OMOP_CDM_DOCS, <dataset-dir>/../omop-cdm-5.4,
#    then /work/shared/data/omop-cdm-5.4.
# 2. Data: each non-empty <table>.csv goes through psql's
#      \copy schema.table (header's columns) FROM pstdin
#          WITH (FORMAT csv, HEADER true, FORCE_NULL (header's columns))
#    The shell reads the files (as the invoking user) and streams them to
#    psql's standard input, so psql may run as another OS user.  The column
#    list is the file's header line (files may omit columns or order them
#    differently from the DDL); FORCE_NULL makes a quoted empty string ("")
#    NULL like an unquoted empty field (synthea27nj writes
#    concept.standard_concept as "").  No primary keys on event tables: the
#    sample data has duplicate event ids.
# 3. Indexes and ANALYZE (scripts/omop/finish.sql), then a row count report,
#    checked against each file's data lines and <dataset-dir>/row_counts.csv.
#
# psql: $PSQL if set (word-split), else "runuser -u postgres -- psql" when run
# as root, else "psql".  Exit status is non-zero on any error or count mismatch.
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 <dataset-dir> <schema> [psql connection args...]" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
dataset=$(cd "$1" && pwd)
schema=$2
shift 2
conn=("$@")

if ! [[ $schema =~ ^[a-z_][a-z0-9_]*$ ]]; then
    echo "load_omop: the schema name must match [a-z_][a-z0-9_]*, got '$schema'" >&2
    exit 2
fi
if [ -d "$dataset/csv" ]; then csvdir=$dataset/csv; else csvdir=$dataset; fi
shopt -s nullglob
files=("$csvdir"/*.csv)
if [ ${#files[@]} -eq 0 ]; then
    echo "load_omop: no .csv files in $csvdir" >&2
    exit 1
fi
expected_counts=
for f in "$dataset/row_counts.csv" "$csvdir/../row_counts.csv"; do
    if [ -f "$f" ]; then expected_counts=$f; break; fi
done

docs=
for d in "${OMOP_CDM_DOCS:-}" "$dataset/../omop-cdm-5.4" /work/shared/data/omop-cdm-5.4; do
    if [ -n "$d" ] && [ -f "$d/OMOP_CDMv5.4_Field_Level.csv" ]; then docs=$(cd "$d" && pwd)/OMOP_CDMv5.4_Field_Level.csv; break; fi
done
if [ -z "$docs" ]; then
    echo "load_omop: OMOP_CDMv5.4_Field_Level.csv not found (set OMOP_CDM_DOCS to its folder)" >&2
    exit 1
fi

if [ -n "${PSQL:-}" ]; then
    read -r -a psql_cmd <<< "$PSQL"
elif [ "$(id -u)" = 0 ]; then
    psql_cmd=(runuser -u postgres -- psql)
else
    psql_cmd=(psql)
fi

if ! grep -q '^\\copy cdm_field .* FROM pstdin ' "$here/omop/create_tables.sql"; then
    echo "load_omop: $here/omop/create_tables.sql lacks its \\copy cdm_field ... FROM pstdin line" >&2
    exit 1
fi

# Table names known to the documentation, to refuse stray CSVs early.
known=" $(awk -F, 'NR > 1 && $1 ~ /^[a-z_]+$/ && $2 ~ /^"?[a-z_]+"?$/ { print $1 }' "$docs" | sort -u | tr '\n' ' ') "

# Check every file before sending anything.
declare -A cols lines
for f in "${files[@]}"; do
    t=$(basename "$f" .csv)
    t=${t,,}
    if [[ $known != *" $t "* ]]; then
        echo "load_omop: $f: '$t' is not an OMOP CDM v5.4 table" >&2
        exit 1
    fi
    header=$(head -n 1 "$f" | tr -d '\r')
    list=
    IFS=, read -r -a names <<< "$header"
    for c in "${names[@]}"; do
        c=${c//\"/}
        c=${c,,}
        if ! [[ $c =~ ^[a-z_][a-z0-9_]*$ ]]; then
            echo "load_omop: $f: odd column name '$c' in the header" >&2
            exit 1
        fi
        list+="${list:+, }\"$c\""
    done
    cols[$t]=$list
    lines[$t]=$(awk 'END { print (NR > 0 ? NR - 1 : 0) }' "$f")
    # the stream ends each file's data with a "\." line: refuse data holding one
    if grep -qx '\\\.' "$f"; then
        echo "load_omop: $f holds a line '\\.', which cannot be streamed" >&2
        exit 1
    fi
done

# Emit the whole load as one psql script on standard output.
emit() {
    echo "\\set ON_ERROR_STOP on"
    echo "BEGIN;"
    # tables: the documentation CSV follows its \copy line
    while IFS= read -r line; do
        printf '%s\n' "$line"
        if [[ $line == '\copy cdm_field '*' FROM pstdin '* ]]; then
            # (its CRLF line ends become LF, its trailing blank line is dropped)
            awk '{ sub(/\r$/, "") } /^$/ { blank = blank "\n"; next } { printf "%s", blank; blank = ""; print }' "$docs"
            echo '\.'
        fi
    done < "$here/omop/create_tables.sql"
    echo "SET client_min_messages = warning;"
    for f in "${files[@]}"; do
        t=$(basename "$f" .csv)
        t=${t,,}
        [ "${lines[$t]}" -gt 0 ] || continue
        echo "\\echo '   loading $t'"
        printf '\\copy "%s"."%s" (%s) FROM pstdin WITH (FORMAT csv, HEADER true, FORCE_NULL (%s))\n' \
            "$schema" "$t" "${cols[$t]}" "${cols[$t]}"
        cat "$f"
        [ -z "$(tail -c 1 "$f")" ] || echo
        echo '\.'
    done
    cat "$here/omop/finish.sql"
    echo "COMMIT;"
}

start=$(date +%s%N)
echo "load_omop: $csvdir -> schema $schema"
echo "           tables from $docs"
result=$(mktemp)
trap 'rm -f "$result" "$result.lines"' EXIT
# psql runs as possibly another user: its output comes back through a pipe
if ! emit | "${psql_cmd[@]}" -X -q -v ON_ERROR_STOP=1 -v schema="$schema" "${conn[@]}" | cat > "$result"; then
    cat "$result" >&2
    echo "load_omop: FAILED; schema $schema left as it was before (the load is one transaction)" >&2
    exit 1
fi
ms=$(( ($(date +%s%N) - start) / 1000000 ))

# Report: table, data lines in the CSV, rows loaded, row_counts.csv's figure.
for t in "${!lines[@]}"; do echo "$t,${lines[$t]}"; done > "$result.lines"
awk -F, -v linesfile="$result.lines" -v expfile="$expected_counts" '
BEGIN {
    while ((getline line < linesfile) > 0) { split(line, kv, ","); csv[kv[1]] = kv[2] }
    if (expfile != "") {
        while ((getline line < expfile) > 0) {
            split(line, kv, ",")
            if (kv[1] != "table") want[kv[1]] = kv[2]
        }
    }
    printf "%-24s %10s %10s %12s\n", "table", "csv lines", "loaded", "row_counts"
    bad = 0
}
NF == 2 && $2 ~ /^[0-9]+$/ {
    t = $1; got = $2
    c = (t in csv) ? csv[t] : "-"
    e = (t in want) ? want[t] : "-"
    flag = ""
    if (c != "-" && c + 0 != got + 0) { flag = flag "  <- differs from the CSV"; bad = 1 }
    if (e != "-" && e + 0 != got + 0) { flag = flag "  <- differs from row_counts.csv"; bad = 1 }
    if (got > 0 || c != "-" || e != "-") printf "%-24s %10s %10s %12s%s\n", t, c, got, e, flag
    seen[t] = 1
}
END {
    for (t in want) if (!(t in seen)) { printf "%-24s missing table (row_counts.csv says %s)\n", t, want[t]; bad = 1 }
    exit bad
}' "$result" || { echo "load_omop: row counts do not match" >&2; exit 1; }
echo "load_omop: schema $schema loaded in $ms ms (tables with no CSV or an empty one are created empty)"
