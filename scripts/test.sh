#!/usr/bin/env bash
# The whole test suite: set up (if needed), lint, type-check, then pytest on a real PostGIS.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
exec .venv/bin/pytest -W error "$@"
