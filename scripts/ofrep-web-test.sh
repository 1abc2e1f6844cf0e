#!/usr/bin/env bash
# Flags in the browser (issue 17): the OpenFeature web SDK
# (@openfeature/web-sdk) with the OFREP web provider
# (@openfeature/ofrep-web-provider), bundled by esbuild, in headless
# Chromium (playwright-core, Debian's /usr/bin/chromium) against the local
# runtime, with a client key.
#
# Installs the packages pinned in scripts/ofrep-web/package.json into
# .tools/ofrep-web (once; npm), bundles scripts/ofrep-web/entry.mjs, starts
# the local runtime (free port, temporary data, rulesets refreshed every
# 100 ms), seeds a project "web" through the management API: flags
# banner-text and new-checkout exposed to client keys, secret-pricing not;
# production allows the origin http://127.0.0.1:<page port> and has a client
# key and a server key. Then scripts/ofrep-web/walk.mjs serves the page from
# that origin and from another one and checks, in Chromium, the SDK's
# resolution details, the conditional polls (304), a flag change arriving
# after the poll interval, FLAG_NOT_FOUND for the unexposed flag, and that
# the other origin, and a server key, fail. Screenshots:
# .tools/artifacts/ofrep-web/.
#
# Needs node 18 or later (with npm, once), /usr/bin/chromium, Go and curl.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

die() { echo "ofrep-web-test: $*" >&2; exit 1; }

command -v node >/dev/null || die "node is not installed (Node.js 18 or later)"
command -v curl >/dev/null || die "curl is not installed"
command -v go >/dev/null || die "go is not installed"
chromium="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$chromium" ] || die "$chromium does not exist; install Debian's chromium: apt-get install -y chromium"

# json EXPR: evaluates EXPR on the JSON read from stdin (bound to v) and prints it
json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s||"null");const r=eval(process.argv[1]);console.log(typeof r==="string"?r:JSON.stringify(r))})' "$1"; }

# the packages pinned in scripts/ofrep-web/package.json, into .tools/ofrep-web, when missing
tools="$root/.tools/ofrep-web"
missing=()
while read -r name version; do
  have=""
  [ -f "$tools/node_modules/$name/package.json" ] && have="$(json 'v.version' <"$tools/node_modules/$name/package.json")"
  if [ "$have" = "$version" ]; then
    echo "  $name $version: installed"
  else
    missing+=("$name@$version")
  fi
done < <(json 'Object.entries(v.dependencies).map(([n, ver]) => n + " " + ver).join("\n")' <scripts/ofrep-web/package.json)
if [ "${#missing[@]}" -gt 0 ]; then
  command -v npm >/dev/null || die "npm is not installed (needed once to install ${missing[*]} into .tools/ofrep-web)"
  all=()
  while read -r spec; do all+=("$spec"); done < <(json 'Object.entries(v.dependencies).map(([n, ver]) => n + "@" + ver).join("\n")' <scripts/ofrep-web/package.json)
  echo "installing ${all[*]} into .tools/ofrep-web (npm; log: .tools/ofrep-web/npm-install.log)"
  mkdir -p "$tools"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$tools" --save-exact --no-audit --no-fund --loglevel=http "${all[@]}" 2>&1 |
    tee "$tools/npm-install.log" | grep --line-buffered -E '^(added|changed|up to date)|http fetch GET 200 .*\.tgz' | sed -u 's/^npm http fetch GET 200 /  fetched /' ||
    true
  for spec in "${all[@]}"; do
    name="${spec%@*}"
    [ -f "$tools/node_modules/$name/package.json" ] || { tail -20 "$tools/npm-install.log" >&2; die "npm install of $spec failed (log: $tools/npm-install.log)"; }
  done
fi

work="$(mktemp -d)"
pid=""
ok=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ -z "$ok" ] && [ -f "$work/runtime.log" ]; then
    echo "ofrep-web-test: the runtime's last log lines:" >&2
    tail -20 "$work/runtime.log" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "bundling the OpenFeature web SDK and the OFREP web provider (esbuild)"
# (the packages live in .tools/ofrep-web, not beside the entry: NODE_PATH tells esbuild)
NODE_PATH="$tools/node_modules" "$tools/node_modules/.bin/esbuild" scripts/ofrep-web/entry.mjs --bundle --format=iife --target=es2020 \
  --log-level=warning --outfile="$work/bundle.js" ||
  die "esbuild could not bundle scripts/ofrep-web/entry.mjs"
echo "  $(wc -c <"$work/bundle.js") bytes"

echo "building the local runtime"
go build -o "$work/countersign" ./functions/local

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
port="$(free_port)"
page_port="$(free_port)"
other_port="$(free_port)"
while [ "$page_port" = "$port" ]; do page_port="$(free_port)"; done
while [ "$other_port" = "$port" ] || [ "$other_port" = "$page_port" ]; do other_port="$(free_port)"; done
base="http://127.0.0.1:$port"
token="ofrep-web-admin-token-0123456789abcdef"
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

echo "seeding"
call POST /v1/projects 201 '{"key":"web","name":"Web shop"}' >/dev/null
# exposed at creation: a string for everyone
call POST /v1/projects/web/flags 201 '{"key":"banner-text","name":"Banner text","client_exposed":true,
  "variants":[{"key":"welcome","value":"Welcome"},{"key":"willkommen","value":"Willkommen"}]}' >/dev/null
call PUT /v1/projects/web/flags/banner-text/environments/production 200 \
  '{"enabled":true,"default_rule":{"rollout":100,"weights":[{"variant":"welcome","weight":1}]},"off_variant":"welcome"}' 'If-Match: "0"' >/dev/null
# exposed afterwards (PATCH): a boolean by country
call POST /v1/projects/web/flags 201 '{"key":"new-checkout","name":"New checkout","variants":[{"key":"on","value":true},{"key":"control","value":false}]}' >/dev/null
call PUT /v1/projects/web/flags/new-checkout/environments/production 200 \
  '{"enabled":true,"rules":[{"name":"Germany","conditions":[{"attribute":"country","operator":"is","values":["DE"]}],"rollout":100,"weights":[{"variant":"on","weight":1}]}],
    "default_rule":{"rollout":100,"weights":[{"variant":"control","weight":1}]},"off_variant":"control"}' 'If-Match: "0"' >/dev/null
call PATCH /v1/projects/web/flags/new-checkout 200 '{"client_exposed":true}' >/dev/null
# not exposed: a server key reads it, a client key gets FLAG_NOT_FOUND
call POST /v1/projects/web/flags 201 '{"key":"secret-pricing","name":"Secret pricing","variants":[{"key":"a","value":"19.99"}]}' >/dev/null
call PUT /v1/projects/web/flags/secret-pricing/environments/production 200 \
  '{"enabled":true,"default_rule":{"rollout":100,"weights":[{"variant":"a","weight":1}]},"off_variant":"a"}' 'If-Match: "0"' >/dev/null
call PATCH /v1/projects/web/environments/production 200 "{\"allowed_origins\":[\"http://127.0.0.1:$page_port\"]}" >/dev/null
client_key="$(call POST /v1/projects/web/environments/production/sdk-keys 201 '{"name":"storefront","kind":"client"}' | json 'v.key')"
server_key="$(call POST /v1/projects/web/environments/production/sdk-keys 201 '{"name":"backend"}' | json 'v.key')"
case "$client_key" in cs_client_*) ;; *) die "the client key is not a cs_client_ key: $client_key" ;; esac
echo "  client key for web/production; allowed origin http://127.0.0.1:$page_port"

artifacts="$root/.tools/artifacts/ofrep-web"
mkdir -p "$artifacts"
rm -f "$artifacts"/*.png
echo "walking it in chromium: pages on http://127.0.0.1:$page_port (allowed) and http://127.0.0.1:$other_port (not)"
BASE="$base" CLIENT_KEY="$client_key" SERVER_KEY="$server_key" ADMIN_TOKEN="$token" PAGE_PORT="$page_port" OTHER_PORT="$other_port" \
  BUNDLE="$work/bundle.js" ARTIFACTS="$artifacts" CHROMIUM="$chromium" PLAYWRIGHT_CORE_FROM="$tools" \
  timeout 180 node scripts/ofrep-web/walk.mjs || die "the browser test failed (screenshots so far: $artifacts)"
ok=1
echo "flags in the browser passed; screenshots:"
ls -1 "$artifacts"/*.png | sed 's/^/  /'
