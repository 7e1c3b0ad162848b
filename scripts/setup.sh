#!/usr/bin/env bash
# Set up everything dlc needs on a Debian machine: a virtual environment in .venv with dlc and
# its Python packages, plus Debian packages for optional features when running as root.
# usage: scripts/setup.sh [extras]     (extras: "test", "all", ...; default none)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
PY="${PYTHON:-python3}"

apt_install() {  # apt_install CMD PKG...: install Debian packages when CMD is missing and we can
  local cmd="$1"; shift
  command -v "$cmd" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    if [ -z "${DLC_APT_UPDATED:-}" ]; then apt-get update -qq >/dev/null; export DLC_APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "note: '$cmd' is missing and this is not root: features that need $* are skipped" >&2
  fi
}

if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    apt_install no-such-command-dlc python3-venv
    "$PY" -m venv .venv
  fi
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
spec="."
[ -n "$extras" ] && spec=".[${extras}]"
PYTHONWARNINGS=ignore .venv/bin/python -m pip install -q -e "$spec" 2>&1 | grep -v -i "warning" || true
.venv/bin/python -c "import dlc" || { echo "dlc failed to install" >&2; exit 1; }
if [ "$extras" = "test" ] || [ "$extras" = "all" ]; then
  apt_install dot graphviz
fi
