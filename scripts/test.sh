#!/usr/bin/env bash
# Set up dlc with its test dependencies and run the full test suite (lint, types, tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
export PATH="$PWD/.venv/bin:$PATH"
ruff check src tests
mypy src
pytest -n "${DLC_TEST_WORKERS:-2}" "$@"
