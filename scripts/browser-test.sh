#!/usr/bin/env bash
# A real browser walks an e-mail approval, a sign-in and the web console on
# the local runtime.
#
# Starts the local runtime (free port, temporary data, COUNTERSIGN_DEV=1),
# seeds what TestEmailApprovalEndToEnd seeds (a reviewer, a project, a flag,
# approvals on, a production change that becomes a change request), waits for
# the reviewer's "Review requested" mail, then has Debian's chromium (driven
# by playwright-core, scripts/browser/walk.mjs) open /dev/mail, the message,
# its Approve link, confirm with a comment and see the outcome; then
# (scripts/browser/signin.mjs) the reviewer's invitation signs them in, the
# account page signs them out and /login sends a new link. Afterwards the
# API must say the request is approved and the audit must hold the approval
# with channel "email" and the sign-in. Then (scripts/browser/console.mjs) the
# console's proof walk of issue 12: it seeds a requester, a reviewer and an
# admin (invited), a project "web" with a flag to change and a pending request
# for the phone; two people edit, review, approve and apply in two browser
# contexts, a phone approves, an admin looks at the admin pages, and every
# page is checked with axe-core, for CSP violations, other origins, its weight
# and its layout. Screenshots: .tools/artifacts/browser/.
#
# Needs node (with npm, once, to install playwright-core and axe-core into .tools/browser),
# /usr/bin/chromium (apt-get install chromium), Go and curl.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

die() { echo "browser-test: $*" >&2; exit 1; }

command -v node >/dev/null || die "node is not installed (Node.js 18 or later is needed to drive the browser)"
command -v curl >/dev/null || die "curl is not installed"
command -v go >/dev/null || die "go is not installed"
chromium="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$chromium" ] || die "$chromium does not exist; install Debian's chromium: apt-get install -y chromium"

# json EXPR: evaluates EXPR on the JSON read from stdin (bound to v) and prints it
json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s||"null");const r=eval(process.argv[1]);console.log(typeof r==="string"?r:JSON.stringify(r))})' "$1"; }

# playwright-core and axe-core, pinned in scripts/browser/package.json, into .tools/browser
tools="$root/.tools/browser"
install_pinned() { # install_pinned PACKAGE: installs the pinned version unless it is there
  local name=$1 want have=""
  want="$(json "v.dependencies[\"$name\"]" <scripts/browser/package.json)"
  [ -f "$tools/node_modules/$name/package.json" ] &&
    have="$(json 'v.version' <"$tools/node_modules/$name/package.json")"
  [ "$have" = "$want" ] && return 0
  command -v npm >/dev/null || die "npm is not installed (needed once to install $name into .tools/browser)"
  echo "installing $name@$want into .tools/browser"
  mkdir -p "$tools"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$tools" --no-audit --no-fund --loglevel=error \
    "$name@$want" >"$tools/npm-install.log" 2>&1 ||
    { tail -20 "$tools/npm-install.log" >&2; die "npm install $name@$want failed (log: $tools/npm-install.log)"; }
}
install_pinned playwright-core
install_pinned axe-core

work="$(mktemp -d)"
pid=""
ok=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ -z "$ok" ] && [ -f "$work/runtime.log" ]; then
    echo "browser-test: the runtime's last log lines:" >&2
    tail -20 "$work/runtime.log" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "building the local runtime"
go build -o "$work/countersign" ./functions/local

port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
base="http://127.0.0.1:$port"
token="browser-admin-token-0123456789abcdef"
echo "starting it on $base"
COUNTERSIGN_ADDR="127.0.0.1:$port" COUNTERSIGN_DATA_DIR="$work/data" COUNTERSIGN_ADMIN_TOKEN="$token" \
  env -u COUNTERSIGN_SES_ENDPOINT COUNTERSIGN_DEV=1 COUNTERSIGN_TIMER_INTERVAL=200ms "$work/countersign" >"$work/runtime.log" 2>&1 &
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

echo "seeding (as TestEmailApprovalEndToEnd)"
call POST /v1/members 201 '{"email":"rev@example.com","name":"Rev","role":"editor"}' >/dev/null
call POST /v1/projects 201 '{"key":"shop","name":"Shop"}' >/dev/null
call POST /v1/projects/shop/flags 201 '{"key":"f","name":"F","variants":[{"key":"on","value":true}]}' >/dev/null
# the console walk's admin, added now: once approvals are on, adding an
# admin needs a second admin (a governance request)
call POST /v1/members 201 '{"email":"ada@example.com","name":"Ada Admin","role":"admin"}' >/dev/null
# the console walk's bypass: the bootstrap admin may bypass approval in
# shop's production, granted now (once approvals are on, a grant weakens
# the rules: a governance request); kill-switch is the flag it bypasses
admin_id="$(call GET '/v1/members?limit=100' 200 | json 'v.items.find(m => m.email === "admin@localhost.localdomain").id')"
call POST /v1/projects/shop/flags 201 '{"key":"kill-switch","name":"Kill switch","variants":[{"key":"on","value":true}]}' >/dev/null
grant="$(call GET /v1/projects/shop/environments/production/approval-settings 200 | json "Object.assign(v, {bypass: [{member_id: \"$admin_id\"}]})")"
call PUT /v1/projects/shop/environments/production/approval-settings 200 "$grant" >/dev/null
call PUT /v1/settings 200 '{"approvals":true,"version":0}' >/dev/null
cr_id="$(call PUT /v1/projects/shop/flags/f/environments/production 202 '{"enabled":true}' 'If-Match: "0"' | json 'v.id')"
[ -n "$cr_id" ] && [ "$cr_id" != "undefined" ] || die "the 202 answer has no change request id"
echo "  change request $cr_id"

echo "waiting for the reviewer's mail"
for i in $(seq 1 100); do
  n="$(curl -sf "$base/dev/mail.json" | json 'v.filter(m => (m.to||[]).includes("rev@example.com") && m.subject.includes("Review requested")).length')" || n=0
  [ "$n" -ge 1 ] && break
  [ "$i" = 100 ] && die "no \"Review requested\" mail to rev@example.com within 10 s: $(curl -s "$base/dev/mail.json")"
  sleep 0.1
done
echo "  it is at $base/dev/mail"

artifacts="$root/.tools/artifacts/browser"
mkdir -p "$artifacts"
rm -f "$artifacts"/*.png
echo "walking it in chromium"
BASE="$base" ARTIFACTS="$artifacts" CHROMIUM="$chromium" PLAYWRIGHT_CORE_FROM="$tools" \
  timeout 180 node scripts/browser/walk.mjs || die "the browser walk failed (screenshots so far: $artifacts)"

echo "signing the reviewer in from their invitation, in chromium"
BASE="$base" ARTIFACTS="$artifacts" CHROMIUM="$chromium" PLAYWRIGHT_CORE_FROM="$tools" INVITEE=rev@example.com \
  timeout 180 node scripts/browser/signin.mjs || die "the sign-in walk failed (screenshots so far: $artifacts)"

echo "checking through the API"
status="$(call GET "/v1/change-requests/$cr_id" 200 | json 'v.status')"
[ "$status" = "approved" ] || die "change request $cr_id is $status after the walk, want approved"
echo "  change request $cr_id is approved"
found="$(call GET "/v1/audit?project=shop" 200 |
  json '(v.items||[]).some(e => e.action === "change_request.approved" && e.channel === "email")')"
[ "$found" = "true" ] || die "the audit has no change_request.approved entry with channel email"
echo "  the audit has change_request.approved with channel email"
found="$(call GET "/v1/audit" 200 |
  json '["auth.signed_in", "auth.signed_out", "auth.sign_in_link_requested"].every(a => (v.items||[]).some(e => e.action === a && (a !== "auth.signed_in" || e.channel === "email")))')"
[ "$found" = "true" ] || die "the audit lacks the sign-in (channel email), the sign-out or the link request"
echo "  the audit has the sign-in (channel email), the sign-out and the link request"

echo "seeding the console walk: a requester and a reviewer (invited; the admin was invited above), a project with two flags, a pending request"
call POST /v1/members 201 '{"email":"rita@example.com","name":"Rita Requester","role":"editor"}' >/dev/null
call POST /v1/members 201 '{"email":"ravi@example.com","name":"Ravi Reviewer","role":"editor"}' >/dev/null
call POST /v1/projects 201 '{"key":"web","name":"Web shop"}' >/dev/null
# a boolean flag: "on" serves true, "control" false ("off" is the reserved fallback)
call POST /v1/projects/web/flags 201 '{"key":"new-checkout","name":"New checkout","variants":[{"key":"on","value":true},{"key":"control","value":false}]}' >/dev/null
call POST /v1/projects/web/flags 201 '{"key":"dark-mode","name":"Dark mode","variants":[{"key":"on","value":true},{"key":"control","value":false}]}' >/dev/null
# approvals on (the walk above turned them on; production is protected by default and needs one approval)
settings="$(call GET /v1/settings 200)"
if [ "$(echo "$settings" | json 'v.approvals')" != "true" ]; then
  call PUT /v1/settings 200 "{\"approvals\":true,\"version\":$(echo "$settings" | json 'v.version')}" >/dev/null
fi
policy="$(call GET /v1/projects/web/environments/production/approval-settings 200)"
[ "$(echo "$policy" | json 'v.required !== "off" && v.min_approvals === 1 && !v.allow_self_approval')" = "true" ] ||
  die "production's approval settings are not \"one approval, not by the requester\": $policy"
# the phone approves this one (requested by the admin token, so the reviewer may review it)
phone_cr="$(call PUT /v1/projects/web/flags/dark-mode/environments/production 202 '{"enabled":true}' 'If-Match: "0"' | json 'v.id')"
[ -n "$phone_cr" ] && [ "$phone_cr" != "undefined" ] || die "the 202 answer has no change request id"
for who in rita ravi ada; do
  for i in $(seq 1 100); do
    n="$(curl -sf "$base/dev/mail.json" | json "v.filter(m => (m.to||[]).includes(\"$who@example.com\") && m.subject === \"You are invited to Countersign\").length")" || n=0
    [ "$n" -ge 1 ] && break
    [ "$i" = 100 ] && die "no invitation to $who@example.com within 10 s"
    sleep 0.1
  done
done
echo "  invitations sent; request $phone_cr waits for the phone"
# a team for the approval settings and the flag's maintainer team
call POST /v1/teams 201 '{"key":"sre","name":"SRE","members":[]}' >/dev/null
# a bypass (a kill switch, with its reason): its review after waits for another reviewer
got="$(curl -s -o "$work/body" -w '%{http_code}' -X PUT -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -H 'If-Match: "0"' -H 'Countersign-Bypass-Reason: INC-1 kill switch for the browser walk' \
  -d '{"enabled":true}' "$base/v1/projects/shop/flags/kill-switch/environments/production")"
[ "$got" = 200 ] || die "the bypass answered $got: $(cat "$work/body")"
bypass_cr="$(call GET '/v1/change-requests?status=review_after' 200 | json '(v.items.find(c => c.bypass && c.bypass.reason.startsWith("INC-1")) || {}).id')"
[ -n "$bypass_cr" ] && [ "$bypass_cr" != "undefined" ] || die "the bypass opened no review after"
echo "  bypass: review after $bypass_cr waits for an acknowledgement"

echo "walking the console in chromium: requester, reviewer, phone, admin (axe-core on every page)"
BASE="$base" ARTIFACTS="$artifacts" CHROMIUM="$chromium" PLAYWRIGHT_CORE_FROM="$tools" PHONE_REQUEST="$phone_cr" BYPASS_REQUEST="$bypass_cr" TEAM=sre \
  PROJECT=web FLAG=new-checkout REQUESTER=rita@example.com REVIEWER=ravi@example.com ADMIN=ada@example.com \
  timeout 300 node scripts/browser/console.mjs || die "the console walk failed (screenshots so far: $artifacts)"

echo "checking the console's work through the API"
config="$(call GET /v1/projects/web/flags/new-checkout/environments/production 200)"
found="$(echo "$config" | json 'v.enabled === true && v.rules.some(r => r.name === "germany" && r.rollout === 25 && r.conditions.some(c => c.attribute === "country" && c.operator === "in" && c.values.includes("DE")))')"
[ "$found" = "true" ] || die "production's targeting of new-checkout lacks the rule the console walk added: $config"
echo "  production's targeting of new-checkout has the rule \"germany\" (country in DE, 25 %)"
status="$(call GET "/v1/change-requests/$phone_cr" 200 | json 'v.status')"
[ "$status" = "approved" ] || die "change request $phone_cr is $status after the phone approved it, want approved"
echo "  change request $phone_cr, approved on the phone, is approved"
status="$(call GET "/v1/change-requests/$bypass_cr" 200 | json 'v.status')"
[ "$status" = "applied" ] || die "the review after $bypass_cr is $status after the reviewer acknowledged it, want applied"
found="$(call GET "/v1/audit?project=shop" 200 | json '(v.items||[]).some(e => e.action === "change_request.acknowledged" && e.channel === "console")')"
[ "$found" = "true" ] || die "the audit has no change_request.acknowledged entry with channel console"
echo "  the review after $bypass_cr was acknowledged in the console"
[ "$(call GET /v1/projects/web/flags/new-checkout 200 | json 'v.maintainer_team')" = "sre" ] || die "the console walk did not set new-checkout's maintainer team"
echo "  new-checkout's maintainer team is sre"
audit="$(call GET "/v1/audit?project=web&flag=new-checkout" 200)"
[ "$(echo "$audit" | json '["created", "approved", "applied"].every(a => (v.items||[]).some(e => e.action === "change_request." + a && e.channel === "console"))')" = "true" ] ||
  die "the audit lacks change_request.created, .approved or .applied for new-checkout with channel console"
echo "  the audit's entries for new-checkout (action, channel): $(echo "$audit" | json '(v.items||[]).filter(e => e.action.startsWith("change_request.")).reverse().map(e => e.action.replace("change_request.", "") + " " + e.channel).join(", ")')"

ok=1
echo "browser test passed; screenshots:"
ls -1 "$artifacts"/*.png | sed 's/^/  /'
