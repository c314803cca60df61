#!/usr/bin/env bash
# The main job on a fresh machine (Node.js >= 20, Python >= 3.10 and Java 17 present): install what is
# needed, build, then `lakeforge quickstart` with the arguments given (see docs/quickstart.md).
#
# scripts/setup.sh --no-cli installs the npm packages and the ML project template's pinned Python
# requirements (.cache/venv-project: pyspark, pandas, pyarrow, mlflow, scikit-learn, lightgbm). That
# venv then serves as the quickstart's runtime interpreter, so pyspark is installed once; set
# LAKEFORGE_RUNTIME_PYTHON to use another one.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*" >&2; }

for tool in node python3 java; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "quickstart: $tool is not installed (needs Node.js >= 20, Python >= 3.10 and Java 17)" >&2
    exit 1
  fi
done

say "installing Node packages and the ML project's Python requirements (skips what is already current)"
bash scripts/setup.sh --no-cli

say "building Lakeforge"
npm run --silent build

export LAKEFORGE_RUNTIME_PYTHON="${LAKEFORGE_RUNTIME_PYTHON:-$PWD/.cache/venv-project/bin/python}"
say "lakeforge quickstart $*"
exec node bin/lakeforge.js quickstart "$@"
