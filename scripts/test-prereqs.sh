#!/usr/bin/env bash
# Makes sure the real servers the integration tests start are installed: redis-server and
# PostgreSQL's initdb/pg_ctl (the tests start them on loopback on free ports), and Debian's
# Chromium for the browser tests (Playwright drives it; no browser is ever downloaded).
set -euo pipefail

sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
apt_updated=0
apt_install() {
    if [ "$apt_updated" -eq 0 ]; then
        $sudo_cmd apt-get update -qq
        apt_updated=1
    fi
    echo "test-prereqs: installing $* with apt" >&2
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$@" >/dev/null
}

command -v redis-server >/dev/null 2>&1 || apt_install redis-server

pg_bin() {
    command -v "$1" 2>/dev/null || ls -1d /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n 1
}
if [ -z "$(pg_bin initdb)" ] || [ -z "$(pg_bin pg_ctl)" ]; then
    apt_install postgresql
fi
# PostgreSQL refuses to run as root; the tests run it as this user when they are root.
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home /var/lib/postgresql --shell /bin/bash postgres
fi
command -v chromium >/dev/null 2>&1 || apt_install chromium
command -v node >/dev/null 2>&1 || apt_install nodejs npm
# The cluster's load balancer (make cluster, and the fault tests that kill a gateway under it).
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || apt_install haproxy
echo "test-prereqs: redis-server $(redis-server --version | awk '{print $3}'), postgres $("$(pg_bin pg_ctl)" --version | awk '{print $3}'), $(chromium --version 2>/dev/null | head -n 1)"
