#!/usr/bin/env bash
# Installs everything the build and the tests need, into ignored folders, and skips what is already
# current: node_modules (npm ci), a Python venv with the contract suite's pinned clients (.cache/venv)
# the official Databricks CLI built from the Go module proxy (.cache/bin/databricks) and actionlint
# built from the Go module proxy to WebAssembly (.cache/actionlint/, run offline by the template tests).
# `--no-cli` (or LAKEFORGE_SETUP_NO_CLI=1) skips both, so Go is not needed.
# A second venv (.cache/venv-project) holds the ML project template's pinned requirements, shared by
# the rendered projects' own pytest suites; `--no-project-venv` (or LAKEFORGE_SETUP_NO_PROJECT_VENV=1)
# skips it, and those suites then skip.
set -euo pipefail
cd "$(dirname "$0")/.."

no_cli="${LAKEFORGE_SETUP_NO_CLI:-}"
no_project_venv="${LAKEFORGE_SETUP_NO_PROJECT_VENV:-}"
for arg in "$@"; do
  case "$arg" in
    --no-cli) no_cli=1 ;;
    --no-project-venv) no_project_venv=1 ;;
    *) echo "setup.sh: unknown option $arg (known: --no-cli, --no-project-venv)" >&2; exit 2 ;;
  esac
done

DATABRICKS_CLI_VERSION="${DATABRICKS_CLI_VERSION:-1.12.1}"
ACTIONLINT_VERSION="${ACTIONLINT_VERSION:-1.7.12}"
step() { printf '\n==> %s\n' "$*" >&2; }

if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json .cache/package-lock.installed; then
  step "npm ci"
  mkdir -p .cache
  # A registry mirror that lacks other platforms' optional packages (biome's, for one) makes `npm ci`
  # reject the lock as out of sync; `npm install --no-save` then installs the same locked versions.
  if ! npm ci --no-audit --no-fund 2>.cache/npm-ci.log; then
    echo "npm ci refused the lock file (details in .cache/npm-ci.log); installing the locked versions with npm install" >&2
    npm install --no-save --no-audit --no-fund
  fi
  cp package-lock.json .cache/package-lock.installed
fi

venv=.cache/venv
want=$(cat test/contract/python/requirements.txt | sha256sum | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.requirements.sha" 2>/dev/null)" != "$want" ]; then
  step "Python venv with the official clients ($venv)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r test/contract/python/requirements.txt
  echo "$want" > "$venv/.requirements.sha"
fi

project_venv=.cache/venv-project
project_reqs="templates/ml-project/requirements.txt templates/ml-project/requirements-dev.txt"
# shellcheck disable=SC2086
want=$(cat $project_reqs | sha256sum | cut -d' ' -f1)
if [ -n "$no_project_venv" ]; then
  :
elif [ ! -x "$project_venv/bin/python" ] || [ "$(cat "$project_venv/.requirements.sha" 2>/dev/null)" != "$want" ]; then
  step "Python venv with the ML project template's requirements ($project_venv; pyspark needs Java 17)"
  rm -rf "$project_venv"
  python3 -m venv "$project_venv"
  "$project_venv/bin/pip" install --quiet --disable-pip-version-check -r templates/ml-project/requirements-dev.txt
  echo "$want" > "$project_venv/.requirements.sha"
fi

cli=.cache/bin/databricks
if [ -n "$no_cli" ]; then
  :
elif [ ! -x "$cli" ] || ! "$cli" --version 2>/dev/null | grep -q "v${DATABRICKS_CLI_VERSION}\$"; then
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

# actionlint as WebAssembly (GOOS=js GOARCH=wasm), with Go's own loader for Node: the template tests
# lint every rendered GitHub workflow with it, offline. Nothing is downloaded at test time.
actionlint=.cache/actionlint
if [ -z "$no_cli" ] && [ "$(cat "$actionlint/VERSION" 2>/dev/null)" != "$ACTIONLINT_VERSION" ]; then
  step "actionlint v${ACTIONLINT_VERSION} for WebAssembly from the Go module proxy"
  export GOPATH="$PWD/.cache/go" GOMODCACHE="$PWD/.cache/go/mod" GOFLAGS="-buildvcs=false -modcacherw" GOTOOLCHAIN=local
  dir=$(go mod download -json "github.com/rhysd/actionlint@v${ACTIONLINT_VERSION}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  mkdir -p "$actionlint"
  (cd "$dir" && GOOS=js GOARCH=wasm go build -trimpath -ldflags "-s -w" -o "$OLDPWD/$actionlint/actionlint.wasm" ./cmd/actionlint)
  goroot=$(go env GOROOT)
  for f in wasm_exec.js wasm_exec_node.js; do
    if [ -f "$goroot/lib/wasm/$f" ]; then cp "$goroot/lib/wasm/$f" "$actionlint/"; else cp "$goroot/misc/wasm/$f" "$actionlint/"; fi
  done
  # Go's loader is CommonJS; this repository's package.json says "module".
  echo '{ "type": "commonjs" }' > "$actionlint/package.json"
  echo "$ACTIONLINT_VERSION" > "$actionlint/VERSION"
fi
