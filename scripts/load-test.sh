#!/usr/bin/env bash
# Loopback HTTP load on OFREP single evaluation (issue 6): builds and starts
# the local runtime (free port, temporary data), seeds a project "shop" with
# one flag (a rule "country is DE" at 50 % rollout, a default rule split
# 1:1, so every evaluation matches a rule and hashes the user) and an SDK
# key, then has scripts/loadtest POST /ofrep/v1/evaluate/flags/new-checkout
# at 1, 16 and 64 connections, each run bounded in time and in requests,
# and prints req/s and p50/p90/p99 per connection count. Stops the runtime.
#
#   scripts/load-test.sh                                 # 10 s per run
#   LOAD_DURATION=30s LOAD_REQUESTS=2000000 LOAD_CONNS=16 scripts/load-test.sh
#   LOAD_PATH=/ofrep/v1/evaluate/flags scripts/load-test.sh   # bulk instead
#   LOAD_CPUS=shared LOAD_CONNS=16 LOAD_RATE=30000 scripts/load-test.sh
#
# By default the load is a closed loop: each connection sends its next
# request when the last is answered, so a run measures the most the machine
# does (saturation). LOAD_RATE=N offers a fixed N requests a second in total
# instead, spread evenly over each run's connections (a connection that is
# late sends at once), and reports the achieved rate and two latencies:
# service (request written to answer read) and from the scheduled send time
# (corrected for coordinated omission, as wrk2), plus how late the sends
# went out. Each connection has one request in flight, so a run keeps the
# rate only while an answer takes less than conns/N on average.
#
# The load generator and the server share the machine's cores: on 2 cores
# the figures are what one box does for both. GOMAXPROCS of either can be
# set with SERVER_GOMAXPROCS / LOAD_GOMAXPROCS. Needs Go and curl.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

die() { echo "load-test: $*" >&2; exit 1; }
command -v curl >/dev/null || die "curl is not installed"
command -v go >/dev/null || die "go is not installed"

duration="${LOAD_DURATION:-10s}"
requests="${LOAD_REQUESTS:-1000000}"
conns="${LOAD_CONNS:-1,16,64}"
path="${LOAD_PATH:-/ofrep/v1/evaluate/flags/new-checkout}"
rate="${LOAD_RATE:-}"
case "$rate" in
  "") rate=0 ;;
  *[!0-9.]* | *.*.* | .) die "LOAD_RATE must be a number of requests a second, not $rate" ;;
esac
[ "$(awk -v r="$rate" 'BEGIN { print (r + 0 == 0) }')" = 1 ] && rate=0 # 0, 0.0: closed loop

# split: the server on CPU 0 and the load generator on CPU 1 (taskset), so
# neither preempts the other; shared: both may run on every CPU
cpus="${LOAD_CPUS:-split}"
server_pin=() load_pin=()
case "$cpus" in
  split)
    command -v taskset >/dev/null || die "taskset is not installed (util-linux); LOAD_CPUS=shared runs without it"
    [ "$(nproc)" -ge 2 ] || die "LOAD_CPUS=split needs 2 CPUs; LOAD_CPUS=shared runs on one"
    server_pin=(taskset -c 0) load_pin=(taskset -c 1) ;;
  shared) ;;
  *) die "LOAD_CPUS must be split or shared, not $cpus" ;;
esac

work="$(mktemp -d)"
pid=""
ok=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ -z "$ok" ] && [ -f "$work/runtime.log" ]; then
    echo "load-test: the runtime's last log lines:" >&2
    tail -20 "$work/runtime.log" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "building the local runtime and the load generator"
go build -o "$work/countersign" ./functions/local
go build -o "$work/loadtest" ./scripts/loadtest

token="load-test-admin-token-0123456789abcdef"
echo "starting the runtime on a free port"
# port 0: the kernel picks a free port; the runtime logs the address it got
# (the evaluation routes log nothing per request)
server_env=(COUNTERSIGN_ADDR="127.0.0.1:0" COUNTERSIGN_DATA_DIR="$work/data" COUNTERSIGN_ADMIN_TOKEN="$token" COUNTERSIGN_LOG_LEVEL=info)
[ -n "${SERVER_GOMAXPROCS:-}" ] && server_env+=(GOMAXPROCS="$SERVER_GOMAXPROCS")
${server_pin[@]+"${server_pin[@]}"} env -u COUNTERSIGN_SES_ENDPOINT -u GOMAXPROCS "${server_env[@]}" "$work/countersign" >"$work/runtime.log" 2>&1 &
pid=$!
addr=""
for i in $(seq 1 100); do
  addr="$(sed -n 's/.*"msg":"countersign listening".*"addr":"\([^"]*\)".*/\1/p' "$work/runtime.log" | head -1)"
  [ -n "$addr" ] && curl -sf "http://$addr/healthz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { pid=""; die "the runtime exited at start"; }
  [ "$i" = 100 ] && die "the runtime did not answer /healthz within 10 s"
  sleep 0.1
done
base="http://$addr"
echo "  listening on $base"

# call METHOD PATH WANT [BODY] [HEADER]: prints the answer's body; fails on another status
call() {
  local method=$1 path=$2 want=$3 body=${4:-} extra=${5:-}
  local args=(-s -o "$work/body" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $token")
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' -d "$body")
  [ -n "$extra" ] && args+=(-H "$extra")
  local got
  got="$(curl "${args[@]}" "$base$path")" || die "$method $path: curl failed"
  [ "$got" = "$want" ] || die "$method $path: want $want, got $got: $(cat "$work/body")"
  cat "$work/body"
}

echo "seeding a project, a flag and an SDK key"
call POST /v1/projects 201 '{"key":"shop","name":"Shop"}' >/dev/null
call POST /v1/projects/shop/flags 201 \
  '{"key":"new-checkout","name":"New checkout","variants":[{"key":"on","value":true},{"key":"control","value":false}]}' >/dev/null
call PUT /v1/projects/shop/flags/new-checkout/environments/production 200 \
  '{"enabled":true,"rules":[{"name":"Germany","conditions":[{"attribute":"country","operator":"is","values":["DE"]}],"rollout":50,"weights":[{"variant":"on","weight":1}]}],
    "default_rule":{"rollout":100,"weights":[{"variant":"on","weight":1},{"variant":"control","weight":1}]},"off_variant":"control"}' \
  'If-Match: "0"' >/dev/null
sdk_key="$(call POST /v1/projects/shop/environments/production/sdk-keys 201 '{"name":"load-test"}' |
  sed -n 's/.*"key":"\(cs_sdk_[^"]*\)".*/\1/p')"
[ -n "$sdk_key" ] || die "the SDK key answer has no \"key\": $(cat "$work/body")"

load_env=()
[ -n "${LOAD_GOMAXPROCS:-}" ] && load_env+=(GOMAXPROCS="$LOAD_GOMAXPROCS")
case "$cpus" in
  split) echo "CPUs: the server on CPU 0, the load generator on CPU 1 (of $(nproc))" ;;
  shared) echo "CPUs: the server and the load generator share all $(nproc)" ;;
esac
if [ "$rate" = 0 ]; then
  echo "load: $conns connections, each run at most $duration and $requests requests"
else
  echo "load: $conns connections, each run at most $duration and $requests requests, $rate requests a second offered"
fi
${load_pin[@]+"${load_pin[@]}"} env -u GOMAXPROCS "${load_env[@]}" "$work/loadtest" -url "$base$path" -key "$sdk_key" \
  -conns "$conns" -duration "$duration" -requests "$requests" -rate "$rate"
ok=1
