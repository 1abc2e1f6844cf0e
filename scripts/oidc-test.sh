#!/usr/bin/env bash
# Sign in with OpenID Connect, end to end, against a real OpenID provider.
#
# Starts an oidc-provider instance (scripts/oidc/provider.mjs) on a free
# loopback port, its issuer http://localhost:PORT (a site of its own for the
# browser, as a real provider is), with Countersign's redirect URI
# registered; then
#   1. the Go tests of internal/oidcauth against it (forged and expired ID
#      tokens, nonce, PKCE, state...), unless --browser-only (make test runs
#      them in its go test step already);
#   2. builds and starts the local runtime with COUNTERSIGN_OIDC_* pointing
#      at the provider and COUNTERSIGN_ADMIN_TOKEN set; the admin adds the
#      member ada@example.com through the API;
#   3. Debian's chromium (playwright-core, scripts/oidc/walk.mjs) signs in:
#      ada gets in and lands on /v1/session; eve (unknown) and an unverified
#      address are refused with a 403 page; a tampered state is refused (400)
#      and the genuine answer cannot be replayed;
#   4. the audit must hold ada's sign-in with channel oidc.
# Screenshots: .tools/artifacts/oidc/. Everything stays on loopback.
#
# Needs node and npm (oidc-provider and playwright-core are installed once
# into .tools/oidc, pinned by scripts/oidc/package-lock.json), /usr/bin/chromium
# (apt-get install chromium), Go and curl.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

browser_only=""
case "${1:-}" in
--browser-only) browser_only=1 ;;
"") ;;
*) echo "usage: $0 [--browser-only]" >&2; exit 2 ;;
esac

die() { echo "oidc-test: $*" >&2; exit 1; }

command -v node >/dev/null || die "node is not installed (Node.js 20 or later runs the provider and drives the browser)"
command -v curl >/dev/null || die "curl is not installed"
command -v go >/dev/null || die "go is not installed"
chromium="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$chromium" ] || die "$chromium does not exist; install Debian's chromium: apt-get install -y chromium"

./scripts/oidc-provider.sh install
tools="$root/.tools/oidc"

json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s||"null");const r=eval(process.argv[1]);console.log(typeof r==="string"?r:JSON.stringify(r))})' "$1"; }
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

work="$(mktemp -d)"
pid=""
provider_pid=""
ok=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ -n "$provider_pid" ]; then kill "$provider_pid" 2>/dev/null || true; wait "$provider_pid" 2>/dev/null || true; fi
  if [ -z "$ok" ]; then
    for log in runtime provider; do
      if [ -s "$work/$log.log" ]; then
        echo "oidc-test: the $log's last log lines:" >&2
        tail -20 "$work/$log.log" >&2
      fi
    done
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port="$(free_port)"
base="http://127.0.0.1:$port"

echo "starting the OpenID provider (oidc-provider) for Countersign at $base"
PORT=0 ISSUER_HOST=localhost READY_FILE="$work/issuer" REDIRECT_URIS="$base/auth/oidc/callback" \
  OIDC_PROVIDER_FROM="$tools" node scripts/oidc/provider.mjs >"$work/provider.log" 2>&1 &
provider_pid=$!
for i in $(seq 1 100); do
  if [ -s "$work/issuer" ] && curl -sf --max-time 2 "$(cat "$work/issuer")/.well-known/openid-configuration" >/dev/null 2>&1; then break; fi
  kill -0 "$provider_pid" 2>/dev/null || { provider_pid=""; die "the provider exited at start"; }
  [ "$i" = 100 ] && die "the provider did not answer within 10 s"
  sleep 0.1
done
issuer="$(cat "$work/issuer")"
echo "  issuer $issuer"

if [ -z "$browser_only" ]; then
  echo "Go tests of internal/oidcauth against it"
  COUNTERSIGN_OIDC_TEST_ISSUER="$issuer" COUNTERSIGN_REQUIRE_OIDC=1 go test -count=1 -race ./internal/oidcauth/
fi

echo "building the local runtime"
go build -o "$work/countersign" ./functions/local

token="oidc-admin-token-0123456789abcdef"
echo "starting it on $base with sign-in through $issuer"
COUNTERSIGN_ADDR="127.0.0.1:$port" COUNTERSIGN_DATA_DIR="$work/data" COUNTERSIGN_ADMIN_TOKEN="$token" \
  COUNTERSIGN_OIDC_ISSUER="$issuer" COUNTERSIGN_OIDC_NAME="Test provider" \
  COUNTERSIGN_OIDC_CLIENT_ID=countersign-local COUNTERSIGN_OIDC_CLIENT_SECRET=countersign-local-secret-0123456789 \
  env -u COUNTERSIGN_SES_ENDPOINT -u COUNTERSIGN_BASE_URL COUNTERSIGN_DEV=1 COUNTERSIGN_TIMER_INTERVAL=200ms \
  "$work/countersign" >"$work/runtime.log" 2>&1 &
pid=$!
for i in $(seq 1 100); do
  curl -sf "$base/healthz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { pid=""; die "the runtime exited at start"; }
  [ "$i" = 100 ] && die "the runtime did not answer /healthz within 10 s"
  sleep 0.1
done

# call METHOD PATH WANT [BODY]: prints the answer's body; fails on another status
call() {
  local method=$1 path=$2 want=$3 body=${4:-}
  local args=(-s -o "$work/body" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $token")
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' -d "$body")
  local got
  got="$(curl "${args[@]}" "$base$path")" || die "$method $path: curl failed"
  [ "$got" = "$want" ] || die "$method $path: want $want, got $got: $(cat "$work/body")"
  echo "  $method $path -> $got" >&2
  cat "$work/body"
}

echo "the admin adds ada@example.com"
ada="$(call POST /v1/members 201 '{"email":"ada@example.com","name":"Ada Lovelace","role":"editor"}' | json 'v.id')"

artifacts="$root/.tools/artifacts/oidc"
mkdir -p "$artifacts"
rm -f "$artifacts"/*.png
echo "signing in in chromium"
BASE="$base" ISSUER="$issuer" ARTIFACTS="$artifacts" CHROMIUM="$chromium" PLAYWRIGHT_CORE_FROM="$tools" \
  timeout 180 node scripts/oidc/walk.mjs || die "the browser walk failed (screenshots so far: $artifacts)"

echo "checking through the API"
found="$(call GET "/v1/audit" 200 |
  json "(v.items||[]).some(e => e.channel === 'oidc' && e.member === '$ada' && /sign/.test(e.action))")"
[ "$found" = "true" ] || die "the audit has no sign-in of $ada with channel oidc: $(cat "$work/body" | head -c 1500)"
echo "  the audit has ada's sign-in with channel oidc"

ok=1
echo "OpenID Connect test passed; screenshots:"
ls -1 "$artifacts"/*.png | sed 's/^/  /'
