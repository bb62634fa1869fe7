#!/usr/bin/env bash
# Install everything the test suite needs and run it: once on SQLite (the whole suite, with the
# real Slurm cluster and the browser tests), once more on PostgreSQL (everything that touches the
# database engine). Usage: bash scripts/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
# shellcheck disable=SC1091
. .venv/bin/activate
echo "== installing Python packages"
pip install -q --upgrade pip >/dev/null
pip install -q -e ".[test]"

echo "== installing system packages (PostgreSQL, Slurm, Chromium) where missing"
if [ "$(id -u)" = 0 ]; then
  for s in scripts/slurm/install.sh scripts/install-browser.sh; do
    [ -f "$s" ] && { bash "$s" || echo "warning: $s failed; the tests that need it will skip and say why"; }
  done
else
  echo "not root: skipping apt installs; Slurm and browser tests skip if their programs are missing"
fi

status=0
echo "== lint: ruff, ruff format, import-linter (layers), mypy (framework-free cores)"
bash scripts/lint.sh || status=$?  # reported at the end; the tests still run
echo "== pytest on SQLite (embedded default)"
REGNEKRAFT_VAR="$ROOT/var/test-sqlite" pytest -p no:cacheprovider "$@" || status=$?

echo "== pytest on PostgreSQL"
if DATABASE_URL=$(bash scripts/postgres.sh start); then
  DATABASE_URL="$DATABASE_URL" pytest -p no:cacheprovider -m "not slurm and not browser" "$@" || status=$?
  bash scripts/postgres.sh stop
else
  echo "PostgreSQL could not be started"; status=1
fi
exit $status
