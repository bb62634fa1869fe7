#!/usr/bin/env bash
# Installs what the portal's browser tests need, idempotently and without questions:
#   - Debian's Chromium (Playwright drives it; browsers cannot be downloaded here),
#   - gettext (compilemessages),
#   - axe-core from npm into var/node (the accessibility checker injected into pages),
#   - the playwright Python package into the active Python.
# Usage: scripts/install-browser.sh   (run as root, or with sudo available, for apt)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export DEBIAN_FRONTEND=noninteractive

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

apt_install chromium gettext
# Node may come from elsewhere (e.g. NodeSource); Debian's npm would conflict with it.
command -v npm >/dev/null 2>&1 || apt_install nodejs npm

AXE_DIR="$ROOT/var/node"
if [ ! -f "$AXE_DIR/node_modules/axe-core/axe.min.js" ]; then
  mkdir -p "$AXE_DIR"
  npm install --silent --no-audit --no-fund --prefix "$AXE_DIR" axe-core@4
fi

PYTHON="${PYTHON:-python}"
if ! "$PYTHON" -c "import playwright" >/dev/null 2>&1; then
  "$PYTHON" -m pip install -q "playwright>=1.45"
fi

echo "browser test tools ready: $(/usr/bin/chromium --version 2>/dev/null || echo 'chromium missing'), axe-core $(node -p "require('$AXE_DIR/node_modules/axe-core/package.json').version")"
