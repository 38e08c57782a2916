#!/usr/bin/env bash
# Creates the virtualenv with a Python >= 3.11, installing one through apt when the machine has none.
set -euo pipefail
python=${1:-python3}
venv=${2:-.venv}

has_python() {
    command -v "$1" >/dev/null 2>&1 &&
        "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

if ! has_python "$python"; then
    for candidate in python3.13 python3.12 python3.11; do
        if has_python "$candidate"; then python=$candidate; break; fi
    done
fi
if ! has_python "$python"; then
    echo "bootstrap: installing python3 and python3-venv with apt" >&2
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq python3 python3-venv python3-dev >/dev/null
    python=python3
    has_python "$python" || { echo "bootstrap: no Python >= 3.11 available" >&2; exit 1; }
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
