#!/usr/bin/env bash
# Builds and installs trialmatch into the system PostgreSQL 15 (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
# PGBIN: another (relocated) PostgreSQL 15 installation, for side-by-side work
bin=${PGBIN:-/usr/lib/postgresql/15/bin}
export PATH=$bin:$PATH
# with_llvm=no: no JIT bitcode, so clang is not needed
make -s with_llvm=no PG_CONFIG=$bin/pg_config
make -s with_llvm=no PG_CONFIG=$bin/pg_config install >/dev/null
