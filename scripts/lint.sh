#!/usr/bin/env bash
# The checks every commit must pass (CI runs them through scripts/test.sh; .pre-commit-config.yaml
# runs the same before each commit): ruff, ruff format, the import-linter layers and mypy on the
# framework-free cores. Usage: bash scripts/lint.sh   (inside the project's virtualenv)
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
run() { echo "-- $*"; "$@" || status=1; }
run ruff check .
run ruff format --check .
run lint-imports
run mypy
exit $status
