#!/usr/bin/env bash
# Starts and stops a real OpenID provider on loopback, for the OpenID
# Connect tests (internal/oidcauth) and for trying "Sign in with OpenID
# Connect" with `make run`.
#
#   scripts/oidc-provider.sh start     install if needed, start, wait until its discovery document answers
#   scripts/oidc-provider.sh stop      stop the instance started by `start`
#   scripts/oidc-provider.sh endpoint  print the issuer URL of the running instance
#   scripts/oidc-provider.sh status    say whether it runs
#   scripts/oidc-provider.sh install   only install (scripts/oidc-test.sh uses it)
#
# The provider is the npm package oidc-provider (OpenID Certified), run by
# scripts/oidc/provider.mjs (its client, accounts and passwords are listed
# there), installed with playwright-core from scripts/oidc/package-lock.json
# into .tools/oidc/ (git-ignored). The issuer is http://127.0.0.1:PORT, the
# port OIDC_PORT (default 9400), or the next free one. The client's redirect
# URI is make run's, http://127.0.0.1:8080/auth/oidc/callback, plus any in
# OIDC_REDIRECT_URIS (comma-separated). Nothing it does leaves loopback.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
PREFIX="$TOOLS/oidc"
SRC="$ROOT/scripts/oidc"
PID_FILE="$TOOLS/oidc-provider.pid"
ISSUER_FILE="$TOOLS/oidc-provider.issuer"
LOG_FILE="$TOOLS/oidc-provider.log"
HOST=127.0.0.1
WAIT_SECONDS="${OIDC_WAIT_SECONDS:-30}"

die() {
	echo "oidc-provider: $*" >&2
	exit 1
}

running() {
	[[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null
}

port_busy() {
	(exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# installed: true when .tools/oidc holds exactly the lock file's packages.
installed() {
	[[ -f "$PREFIX/package-lock.json" && -f "$PREFIX/node_modules/oidc-provider/package.json" && -f "$PREFIX/node_modules/playwright-core/package.json" ]] &&
		cmp -s "$SRC/package-lock.json" "$PREFIX/package-lock.json" &&
		cmp -s "$SRC/package.json" "$PREFIX/package.json"
}

install() {
	installed && return
	command -v node >/dev/null 2>&1 || die "node is not installed; the provider needs Node.js 20 or later (Debian: apt-get install -y nodejs npm)"
	command -v npm >/dev/null 2>&1 || die "npm is needed to install oidc-provider; install Node.js and npm"
	mkdir -p "$PREFIX"
	cp "$SRC/package.json" "$SRC/package-lock.json" "$PREFIX/"
	printf 'installing oidc-provider and playwright-core (versions pinned in scripts/oidc/package-lock.json) into .tools/oidc '
	# npm ci installs exactly the lock file; a background job and dots, as
	# it takes a while on a cold cache
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$PREFIX" --no-audit --no-fund --loglevel=error >"$TOOLS/oidc-npm-install.log" 2>&1 &
	local npm_pid=$! waited=0
	while kill -0 "$npm_pid" 2>/dev/null; do
		((waited % 2 == 0)) && printf '.'
		sleep 0.5
		waited=$((waited + 1))
	done
	if ! wait "$npm_pid"; then
		echo " failed"
		rm -f "$PREFIX/package-lock.json"
		tail -n 20 "$TOOLS/oidc-npm-install.log" >&2
		die "npm ci failed (log: $TOOLS/oidc-npm-install.log)"
	fi
	echo " done ($((waited / 2)) s)"
	installed || die "npm ci ran, but .tools/oidc does not hold oidc-provider and playwright-core"
}

start() {
	if running; then
		echo "the OpenID provider already runs (pid $(cat "$PID_FILE")) at $(cat "$ISSUER_FILE")"
		echo "export COUNTERSIGN_OIDC_TEST_ISSUER=$(cat "$ISSUER_FILE")"
		return
	fi
	rm -f "$PID_FILE" "$ISSUER_FILE"
	command -v curl >/dev/null 2>&1 || die "curl is needed to check that the provider answers (Debian: apt-get install -y curl)"
	install

	local want="${OIDC_PORT:-9400}" port
	[[ "$want" =~ ^[0-9]+$ ]] || die "OIDC_PORT must be a port number, not '$want'"
	port="$want"
	while port_busy "$port"; do
		port=$((port + 1))
		((port < want + 100)) || die "ports $want to $((port - 1)) are all busy; set OIDC_PORT to a free one"
	done
	[[ "$port" == "$want" ]] || echo "port $want is busy; using $port instead"

	mkdir -p "$TOOLS"
	local ready="$TOOLS/oidc-provider.ready"
	rm -f "$ready"
	# setsid: it outlives this script (and a Ctrl-C in the terminal that started it)
	(cd "$ROOT" && exec setsid env PORT="$port" READY_FILE="$ready" REDIRECT_URIS="${OIDC_REDIRECT_URIS:-}" \
		OIDC_PROVIDER_FROM="$PREFIX" node scripts/oidc/provider.mjs >"$LOG_FILE" 2>&1 </dev/null) &
	local pid=$!
	echo "$pid" >"$PID_FILE"

	printf 'starting the OpenID provider (pid %s) on port %s ' "$pid" "$port"
	local waited=0 issuer=""
	while :; do
		if [[ -s "$ready" ]]; then
			issuer="$(cat "$ready")"
			curl -sf --max-time 2 "$issuer/.well-known/openid-configuration" 2>/dev/null | grep -q '"issuer"' && break
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			echo
			rm -f "$PID_FILE"
			echo "the OpenID provider exited before it answered; the end of $LOG_FILE:" >&2
			tail -n 30 "$LOG_FILE" >&2 || true
			exit 1
		fi
		if ((waited >= WAIT_SECONDS * 2)); then
			echo
			kill "$pid" 2>/dev/null || true
			rm -f "$PID_FILE"
			echo "the OpenID provider did not answer within ${WAIT_SECONDS}s; the end of $LOG_FILE:" >&2
			tail -n 30 "$LOG_FILE" >&2 || true
			exit 1
		fi
		printf '.'
		sleep 0.5
		waited=$((waited + 1))
	done
	echo "$issuer" >"$ISSUER_FILE"
	echo " ready"
	echo "the OpenID provider runs at $issuer (log: $LOG_FILE); stop it with scripts/oidc-provider.sh stop"
	echo "  client countersign-local, secret countersign-local-secret-0123456789; logins ada, grace, eve, ada-unverified, noemail, password countersign"
	echo "  to sign in to make run with it: COUNTERSIGN_OIDC_ISSUER=$issuer COUNTERSIGN_OIDC_CLIENT_ID=countersign-local COUNTERSIGN_OIDC_CLIENT_SECRET=countersign-local-secret-0123456789 make run"
	echo "export COUNTERSIGN_OIDC_TEST_ISSUER=$issuer"
}

stop() {
	if ! [[ -f "$PID_FILE" ]]; then
		echo "the OpenID provider is not running (no $PID_FILE)"
		return
	fi
	local pid
	pid="$(cat "$PID_FILE")"
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid"
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
		echo "stopped the OpenID provider (pid $pid)"
	else
		echo "the OpenID provider (pid $pid) was not running any more"
	fi
	rm -f "$PID_FILE" "$ISSUER_FILE" "$TOOLS/oidc-provider.ready"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
install) install ;;
endpoint)
	running || die "the OpenID provider is not running; start it with scripts/oidc-provider.sh start"
	cat "$ISSUER_FILE"
	;;
status)
	if running; then
		echo "the OpenID provider runs (pid $(cat "$PID_FILE")) at $(cat "$ISSUER_FILE")"
	else
		echo "the OpenID provider is not running"
		exit 1
	fi
	;;
*)
	echo "usage: $0 start|stop|endpoint|status|install" >&2
	exit 2
	;;
esac
