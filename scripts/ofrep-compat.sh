#!/usr/bin/env bash
# OpenFeature compatibility: the OpenFeature JavaScript server SDK
# (@openfeature/server-sdk) with the OFREP provider (@openfeature/ofrep-provider)
# against the local runtime.
#
# Starts the local runtime (free port, temporary data), seeds a project "shop"
# with flags of each value type and their production targeting (approvals
# stay off), creates an SDK key for shop/production, then has
# scripts/ofrep/compat.mjs evaluate them through the SDK and check its
# resolution details (value, variant, reason, errorCode) against what the
# server says: targeting match, default rule, static, split, disabled with a
# real off variant, the "off" fallback (code default), a missing targeting
# key, a missing flag and a wrong SDK key. Exits non-zero on any failed check.
#
# Then sticky bucketing (flag sticky-exp, a 1:1 split with sticky_bucketing
# on): 40 users are evaluated and must each be answered with flagMetadata
# {sticky: true}, both variants occurring; compat.mjs then changes the
# weights through the management API (hence ADMIN_TOKEN) to send everyone to
# "b", waits until a new user is served "b", and checks every earlier user
# still gets its first variant (sticky, and TARGETING_MATCH for those kept on
# "a"); finally it disables the flag and checks an "a" user gets the off
# variant with reason DISABLED (the kill switch beats stickiness). The
# runtime refreshes its ruleset every 100 ms, so changes are served quickly.
#
# Needs node 18 or later (with npm, once, to install the packages pinned in
# scripts/ofrep/package.json into .tools/ofrep), Go and curl.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

die() { echo "ofrep-compat: $*" >&2; exit 1; }

command -v node >/dev/null || die "node is not installed (Node.js 18 or later is needed to run the OpenFeature SDK)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' ||
  die "node $(node --version) is too old: the OpenFeature SDK and its fetch need Node.js 18 or later"
command -v curl >/dev/null || die "curl is not installed"
command -v go >/dev/null || die "go is not installed"

# json EXPR: evaluates EXPR on the JSON read from stdin (bound to v) and prints it
json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s||"null");const r=eval(process.argv[1]);console.log(typeof r==="string"?r:JSON.stringify(r))})' "$1"; }

# the packages pinned in scripts/ofrep/package.json, into .tools/ofrep, when missing
tools="$root/.tools/ofrep"
missing=()
while read -r name version; do
  have=""
  [ -f "$tools/node_modules/$name/package.json" ] &&
    have="$(json 'v.version' <"$tools/node_modules/$name/package.json")"
  [ "$have" = "$version" ] || missing+=("$name@$version")
done < <(json 'Object.entries(v.dependencies).map(([n, ver]) => n + " " + ver).join("\n")' <scripts/ofrep/package.json)
if [ "${#missing[@]}" -gt 0 ]; then
  command -v npm >/dev/null || die "npm is not installed (needed once to install ${missing[*]} into .tools/ofrep)"
  echo "installing ${missing[*]} into .tools/ofrep"
  mkdir -p "$tools"
  all=()
  while read -r spec; do all+=("$spec"); done < <(json 'Object.entries(v.dependencies).map(([n, ver]) => n + "@" + ver).join("\n")' <scripts/ofrep/package.json)
  npm install --prefix "$tools" --save-exact --no-audit --no-fund --loglevel=error "${all[@]}" >"$tools/npm-install.log" 2>&1 ||
    { tail -20 "$tools/npm-install.log" >&2; die "npm install ${all[*]} failed (log: $tools/npm-install.log)"; }
fi

work="$(mktemp -d)"
pid=""
ok=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ -z "$ok" ] && [ -f "$work/runtime.log" ]; then
    echo "ofrep-compat: the runtime's last log lines:" >&2
    tail -20 "$work/runtime.log" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT

started=$SECONDS
echo "building the local runtime"
go build -o "$work/countersign" ./functions/local

port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
base="http://127.0.0.1:$port"
token="ofrep-admin-token-0123456789abcdef"
echo "starting it on $base"
COUNTERSIGN_ADDR="127.0.0.1:$port" COUNTERSIGN_DATA_DIR="$work/data" COUNTERSIGN_ADMIN_TOKEN="$token" \
  COUNTERSIGN_RULESET_REFRESH=100ms env -u COUNTERSIGN_SES_ENDPOINT "$work/countersign" >"$work/runtime.log" 2>&1 &
pid=$!
for i in $(seq 1 100); do
  curl -sf "$base/healthz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { pid=""; die "the runtime exited at start"; }
  [ "$i" = 100 ] && die "the runtime did not answer /healthz within 10 s"
  sleep 0.1
done

# call METHOD PATH WANT [BODY] [HEADER]: prints the answer's body; fails on another status
call() {
  local method=$1 path=$2 want=$3 body=${4:-} extra=${5:-}
  local args=(-s -o "$work/body" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $token")
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' -d "$body")
  [ -n "$extra" ] && args+=(-H "$extra")
  local got
  got="$(curl "${args[@]}" "$base$path")" || die "$method $path: curl failed"
  [ "$got" = "$want" ] || die "$method $path: want $want, got $got: $(cat "$work/body")"
  echo "  $method $path -> $got" >&2
  cat "$work/body"
}

# flag KEY VARIANTS TARGETING: creates the flag and writes its production
# targeting (version 0: never configured; 200, not 202: approvals are off)
flag() {
  call POST /v1/projects/shop/flags 201 "{\"key\":\"$1\",\"name\":\"$1\",\"variants\":$2}" >/dev/null
  call PUT "/v1/projects/shop/flags/$1/environments/production" 200 "$3" 'If-Match: "0"' >/dev/null
}

echo "seeding"
call POST /v1/projects 201 '{"key":"shop","name":"Shop"}' >/dev/null
de='[{"attribute":"country","operator":"is","values":["DE"]}]'
# boolean: country DE → on, everyone else → control
flag new-checkout '[{"key":"on","value":true},{"key":"control","value":false}]' \
  "{\"enabled\":true,\"rules\":[{\"name\":\"Germany\",\"conditions\":$de,\"rollout\":100,\"weights\":[{\"variant\":\"on\",\"weight\":1}]}],
    \"default_rule\":{\"rollout\":100,\"weights\":[{\"variant\":\"control\",\"weight\":1}]},\"off_variant\":\"control\"}"
# string: DE → blue, else green
flag banner-color '[{"key":"blue","value":"blue"},{"key":"green","value":"green"}]' \
  "{\"enabled\":true,\"rules\":[{\"name\":\"Germany\",\"conditions\":$de,\"rollout\":100,\"weights\":[{\"variant\":\"blue\",\"weight\":1}]}],
    \"default_rule\":{\"rollout\":100,\"weights\":[{\"variant\":\"green\",\"weight\":1}]},\"off_variant\":\"green\"}"
# number: DE → 1, else 2.5
flag discount '[{"key":"one","value":1},{"key":"two-and-a-half","value":2.5}]' \
  "{\"enabled\":true,\"rules\":[{\"name\":\"Germany\",\"conditions\":$de,\"rollout\":100,\"weights\":[{\"variant\":\"one\",\"weight\":1}]}],
    \"default_rule\":{\"rollout\":100,\"weights\":[{\"variant\":\"two-and-a-half\",\"weight\":1}]},\"off_variant\":\"one\"}"
# object: DE → {"a":1}, else {"b":[1,2]}
flag layout '[{"key":"a","value":{"a":1}},{"key":"b","value":{"b":[1,2]}}]' \
  "{\"enabled\":true,\"rules\":[{\"name\":\"Germany\",\"conditions\":$de,\"rollout\":100,\"weights\":[{\"variant\":\"a\",\"weight\":1}]}],
    \"default_rule\":{\"rollout\":100,\"weights\":[{\"variant\":\"b\",\"weight\":1}]},\"off_variant\":\"b\"}"
# static: no rules, everyone → v2
flag api-version '[{"key":"v1","value":"v1"},{"key":"v2","value":"v2"}]' \
  '{"enabled":true,"default_rule":{"rollout":100,"weights":[{"variant":"v2","weight":1}]},"off_variant":"v1"}'
# split: half on, half control (needs a targeting key)
flag beta '[{"key":"on","value":true},{"key":"control","value":false}]' \
  '{"enabled":true,"default_rule":{"rollout":100,"weights":[{"variant":"on","weight":1},{"variant":"control","weight":1}]},"off_variant":"control"}'
# disabled, its off variant a real variant: "legacy" ("solr") for everyone
flag search-engine '[{"key":"legacy","value":"solr"},{"key":"modern","value":"vector"}]' \
  '{"enabled":false,"default_rule":{"rollout":100,"weights":[{"variant":"modern","weight":1}]},"off_variant":"legacy"}'
# enabled, nobody in the rollout, off variant "off": no value (the code default)
flag dark-mode '[{"key":"on","value":true},{"key":"control","value":false}]' \
  '{"enabled":true,"default_rule":{"rollout":0,"weights":[{"variant":"on","weight":1}]},"off_variant":"off"}'
# sticky bucketing: a 1:1 split whose first answer to a user sticks (compat.mjs
# later changes its weights to all "b" and then disables it; off variant "b")
flag sticky-exp '[{"key":"a","value":"variant-a"},{"key":"b","value":"variant-b"}]' \
  '{"enabled":true,"default_rule":{"rollout":100,"weights":[{"variant":"a","weight":1},{"variant":"b","weight":1}]},"off_variant":"b","sticky_bucketing":true}'
sdk_key="$(call POST /v1/projects/shop/environments/production/sdk-keys 201 '{"name":"ofrep-compat"}' | json 'v.key')"
[ -n "$sdk_key" ] && [ "$sdk_key" != "undefined" ] || die "the SDK key answer has no \"key\""
echo "  SDK key for shop/production created"

echo "evaluating through the OpenFeature SDK"
rc=0
BASE="$base" SDK_KEY="$sdk_key" ADMIN_TOKEN="$token" OFREP_MODULES_FROM="$tools" timeout 120 node scripts/ofrep/compat.mjs || rc=$?
[ "$rc" = 0 ] || die "the OpenFeature compatibility checks failed (exit $rc)"
ok=1
echo "OpenFeature compatibility passed in $((SECONDS - started)) s"
