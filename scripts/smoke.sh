#!/usr/bin/env bash
# Smoke run of the local runtime, as a user would do it from a fresh clone:
# start it, create a project, a flag with variants and rules in production,
# update with the right version (200) and a stale one (409), stop, start
# again and read the data back. Run by `make test`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
work="$(mktemp -d)"
port="${SMOKE_PORT:-18$((RANDOM % 900 + 100))}"
export COUNTERSIGN_ADDR="127.0.0.1:$port" COUNTERSIGN_DATA_DIR="$work/data"
export COUNTERSIGN_ADMIN_TOKEN="smoke-admin-token-0123456789abcdef"
export COUNTERSIGN_URL="http://$COUNTERSIGN_ADDR"
H="Authorization: Bearer $COUNTERSIGN_ADMIN_TOKEN"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

echo "building the local runtime"
go build -o "$work/countersign" ./functions/local

start() {
  "$work/countersign" >>"$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    curl -sf "$COUNTERSIGN_URL/healthz" >/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { echo "smoke: the runtime exited:"; tail -20 "$work/log"; exit 1; }
    sleep 0.1
  done
  echo "smoke: the runtime did not answer"; tail -20 "$work/log"; exit 1
}
stop() { kill "$pid"; wait "$pid" || true; pid=""; }
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
expect() { local want=$1; shift; local got; got=$(status "$@"); [ "$got" = "$want" ] || { echo "smoke: want $want, got $got for: $*"; exit 1; }; echo "  $want ok"; }

start
scripts/seed.sh
cfg="$COUNTERSIGN_URL/v1/projects/web-shop/flags/new-checkout/environments/production"
echo "update with the right version, then a stale one"
expect 200 -X PATCH -H "$H" -H 'Content-Type: application/merge-patch+json' -H 'If-Match: "1"' -d '{"enabled": false}' "$cfg"
expect 409 -X PATCH -H "$H" -H 'Content-Type: application/merge-patch+json' -H 'If-Match: "1"' -d '{"enabled": true}' "$cfg"
stop

echo "restart: the data is still there"
start
body=$(curl -s -H "$H" "$cfg")
case "$body" in
  *'"version":2'*'"rollout":10'*|*'"rollout":10'*'"version":2'*) echo "  targeting version 2 with the 10 % rule is back" ;;
  *) echo "smoke: after restart got $body"; exit 1 ;;
esac
stop
echo "smoke run passed"
