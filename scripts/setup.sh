#!/usr/bin/env bash
# Installs everything the build and the tests need, into ignored folders, and skips what is already
# current: node_modules (npm ci), a Python venv with the contract suite's pinned clients (.cache/venv)
# and the official Databricks CLI built from the Go module proxy (.cache/bin/databricks).
set -euo pipefail
cd "$(dirname "$0")/.."

DATABRICKS_CLI_VERSION="${DATABRICKS_CLI_VERSION:-1.12.1}"
step() { printf '\n==> %s\n' "$*" >&2; }

if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json .cache/package-lock.installed; then
  step "npm ci"
  npm ci --no-audit --no-fund
  mkdir -p .cache && cp package-lock.json .cache/package-lock.installed
fi

venv=.cache/venv
want=$(cat test/contract/python/requirements.txt | sha256sum | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.requirements.sha" 2>/dev/null)" != "$want" ]; then
  step "Python venv with the official clients ($venv)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r test/contract/python/requirements.txt
  echo "$want" > "$venv/.requirements.sha"
fi

cli=.cache/bin/databricks
if [ ! -x "$cli" ] || ! "$cli" --version 2>/dev/null | grep -q "v${DATABRICKS_CLI_VERSION}\$"; then
  step "Databricks CLI v${DATABRICKS_CLI_VERSION} from the Go module proxy (one-off, a few minutes)"
  export GOPATH="$PWD/.cache/go" GOMODCACHE="$PWD/.cache/go/mod" GOFLAGS="-buildvcs=false -modcacherw" GOTOOLCHAIN=local
  # `go install module@version` also asks the proxy for the module's version list, which some
  # mirrors refuse; downloading the exact version and building it from the module cache does not.
  dir=$(go mod download -json "github.com/databricks/cli@v${DATABRICKS_CLI_VERSION}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  mkdir -p .cache/bin
  (cd "$dir" && go build -trimpath \
    -ldflags "-X github.com/databricks/cli/internal/build.buildVersion=${DATABRICKS_CLI_VERSION}" \
    -o "$OLDPWD/$cli" .)
fi
