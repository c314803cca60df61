#!/usr/bin/env bash
# The whole test suite, from a fresh clone: install, lint, type-check, build, then every suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
step() { printf '\n==> %s\n' "$*" >&2; }
step "lint and format check (biome)"
npm run --silent lint
step "type check"
npm run --silent typecheck
step "build"
npm run --silent build
step "unit and contract tests (vitest)"
npx vitest run
step "Python SDK contract suite (pytest)"
bash scripts/test-python.sh
