#!/usr/bin/env bash
# The README's second command: set up, lint, and run the whole test suite (slow tests included).
#
#   bash scripts/test.sh                    # everything, 2 workers
#   bash scripts/test.sh tests/engine -x    # extra arguments go to pytest
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh

echo "test: ruff check src tests"
.venv/bin/ruff check src tests
echo "test: ruff format --check src tests"
.venv/bin/ruff format --check src tests
echo "test: mypy --strict (pyproject [tool.mypy])"
.venv/bin/mypy

echo "test: pytest -n 2 $*"
set +e
.venv/bin/python -m pytest -n 2 "$@"
rc=$?
set -e
if ((rc == 5)); then
    echo "test: FAILED: pytest collected no tests (exit 5); check the paths and -k/-m filters" >&2
    exit 1
fi
if ((rc != 0)); then
    echo "test: FAILED: pytest exited with $rc" >&2
fi
exit "$rc"
