#!/usr/bin/env bash
# The main job: set up (if needed), start the embedded PostGIS and run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/gridgis demo "$@"
