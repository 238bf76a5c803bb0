#!/usr/bin/env bash
# Installs what building and testing trialmatch needs on Debian 12 (as root).
set -euo pipefail
need=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15)
dpkg -s postgresql-server-dev-15 >/dev/null 2>&1 || need+=(postgresql-server-dev-15)
dpkg -s libipc-run-perl >/dev/null 2>&1 || need+=(libipc-run-perl)
# pg_cron: the README's scheduling recipe is tested with it (t/017_pg_cron.pl)
dpkg -s postgresql-15-cron >/dev/null 2>&1 || need+=(postgresql-15-cron)
# PL/Proxy: the coordinator of a sharded setup (t/050_sharded.pl, scripts/sharded.sh)
dpkg -s postgresql-15-plproxy >/dev/null 2>&1 || need+=(postgresql-15-plproxy)
command -v make >/dev/null || need+=(make)
command -v gcc >/dev/null || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi
