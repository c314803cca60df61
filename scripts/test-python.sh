#!/usr/bin/env bash
# The Python contract suite: the official Databricks SDK for Python against the local workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .cache/venv/bin/pytest ]; then
  echo "Python contract suite skipped: no .cache/venv (run npm run setup)" >&2
  exit 0
fi
cd test/contract/python
exec ../../../.cache/venv/bin/pytest "$@"
