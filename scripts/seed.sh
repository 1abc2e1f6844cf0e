#!/usr/bin/env bash
# Seeds demo data into a running Countersign (the README's curl tour) and
# checks each answer. Idempotent enough to run twice: existing things are kept.
#
#   COUNTERSIGN_URL=http://127.0.0.1:8080 COUNTERSIGN_ADMIN_TOKEN=... scripts/seed.sh
set -euo pipefail
URL="${COUNTERSIGN_URL:-http://${COUNTERSIGN_ADDR:-127.0.0.1:8080}}"
TOKEN="${COUNTERSIGN_ADMIN_TOKEN:?set COUNTERSIGN_ADMIN_TOKEN to an admin token}"

# call METHOD PATH EXPECTED_STATUS [BODY] [EXTRA_HEADER]: prints the body, fails on another status
call() {
  local method=$1 path=$2 want=$3 body=${4:-} extra=${5:-}
  local args=(-s -o /tmp/countersign-seed.$$ -w '%{http_code}' -X "$method" -H "Authorization: Bearer $TOKEN")
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' -d "$body")
  [ -n "$extra" ] && args+=(-H "$extra")
  local got
  got=$(curl "${args[@]}" "$URL$path")
  if [[ " $want " != *" $got "* ]]; then
    echo "seed: $method $path: want $want, got $got: $(cat /tmp/countersign-seed.$$)" >&2
    rm -f /tmp/countersign-seed.$$
    exit 1
  fi
  echo "  $method $path -> $got"
  rm -f /tmp/countersign-seed.$$
}

echo "seeding $URL"
call GET  /healthz 200
call POST /v1/projects "201 409" '{"name": "Web Shop"}'
call POST /v1/projects/web-shop/flags "201 409" '{"name": "New checkout", "tags": ["checkout"],
  "variants": [{"key": "on", "value": true}, {"key": "control", "value": false}]}'
call PUT  /v1/projects/web-shop/flags/new-checkout/environments/production "200 409" '{"enabled": true,
  "rules": [{"name": "Germany", "conditions": [{"attribute": "country", "operator": "is", "values": ["DE"]}],
             "rollout": 10, "weights": [{"variant": "on", "weight": 1}, {"variant": "control", "weight": 4}]}],
  "default_rule": {"rollout": 0, "weights": [{"variant": "control", "weight": 1}]}, "off_variant": "control"}' 'If-Match: "0"'
call GET  /v1/projects/web-shop/flags/new-checkout/environments/production 200
call POST /v1/projects/web-shop/flags "201 409" '{"key": "banner-color", "name": "Banner colour",
  "variants": [{"key": "blue", "value": "#0000ff"}, {"key": "green", "value": "#00ff00"}]}'
echo "seeded"
