#!/usr/bin/env bash
# The main job: install what is needed, build, start the local workspace (in memory) and take a
# narrated tour of it with the official Databricks SDK for Python (scripts/tour.py). Exits non-zero
# if any step of the tour fails; the workspace is stopped on exit either way.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*" >&2; }

say "installing Node packages and the Python SDK (skips what is already current)"
bash scripts/setup.sh --no-cli

say "building Lakeforge"
npm run --silent build

say "starting the local workspace"
info=$(mktemp)
server_log=$(mktemp)
node bin/lakeforge.js workspace serve --ephemeral --port 0 --json >"$info" 2>"$server_log" &
server_pid=$!
cleanup() {
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -f "$info" "$server_log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for _ in $(seq 1 300); do
  [ -s "$info" ] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "the workspace did not start:" >&2
    cat "$server_log" >&2
    exit 1
  fi
  sleep 0.1
done
if [ ! -s "$info" ]; then
  echo "the workspace did not report its address within 30 s:" >&2
  cat "$server_log" >&2
  exit 1
fi

# Only this workspace's host and token reach the SDK: no other DATABRICKS_* variable and no
# ~/.databrickscfg profile. The token goes through the environment, never the command line.
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^DATABRICKS_' || true)
DATABRICKS_HOST=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).url)' "$info")
DATABRICKS_TOKEN=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).token)' "$info")
export DATABRICKS_HOST DATABRICKS_TOKEN
export DATABRICKS_CONFIG_FILE="$PWD/.cache/no-databrickscfg"
echo "    listening on $DATABRICKS_HOST (pid $server_pid)" >&2

say "the tour, with the official Databricks SDK for Python"
.cache/venv/bin/python scripts/tour.py
