#!/usr/bin/env bash
# Starts and stops a local Amazon SES v2 emulator for the email adapter's
# tests (internal/notify/sesmail) and for running Countersign locally.
#
#   scripts/ses-local.sh start     install if needed, start, wait until it answers
#   scripts/ses-local.sh stop      stop the instance started by `start`
#   scripts/ses-local.sh endpoint  print the endpoint URL of the running instance
#   scripts/ses-local.sh status    say whether it runs
#
# The emulator is the npm package aws-ses-v2-local (Node.js), installed under
# .tools/ses/ (git-ignored). It serves the SES v2 API (POST
# /v2/email/outbound-emails is SendEmail) and keeps every email it accepts in
# memory, where it can be read back:
#
#   GET  /store[?since=EPOCH_SECONDS]  {"emails":[{messageId, from, destination:{to,cc,bcc},
#                                       subject, body:{text,html}, at, ...}], ...}
#   POST /clear-store                  forget every email
#   GET  /health-check                 200 when it runs
#   GET  /                             a web viewer of the inbox
#
# The API wants an Authorization header that starts with "AWS" (any dummy
# SigV4 credentials; the SDK sends one); the store and health check do not.
# The port is SES_PORT (default 8005); if that port is busy, the next free
# one is used and reported. Mail is never forwarded anywhere (SMTP_TRANSPORT
# is cleared for the emulator).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
PREFIX="$TOOLS/ses"
PACKAGE=aws-ses-v2-local
# Newer releases depend on packages the registry here lacks; this version,
# with its dependencies resolved as of BEFORE, installs and works.
VERSION=2.4.1
BEFORE=2025-10-01
CLI="$PREFIX/node_modules/$PACKAGE/dist/cli.js"
PID_FILE="$TOOLS/ses-local.pid"
PORT_FILE="$TOOLS/ses-local.port"
LOG_FILE="$TOOLS/ses-local.log"
HOST=127.0.0.1
WAIT_SECONDS="${SES_WAIT_SECONDS:-30}"

die() {
	echo "ses-local: $*" >&2
	exit 1
}

# running: true when the pid file names a live process.
running() {
	[[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null
}

endpoint() {
	echo "http://$HOST:$(cat "$PORT_FILE")"
}

# port_busy PORT: true when something accepts connections on PORT.
port_busy() {
	(exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# answers PORT: true when the emulator's health check answers 200 on PORT
# and its store answers with JSON.
answers() {
	local code
	code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$HOST:$1/health-check" 2>/dev/null)" || true
	[[ "$code" == 200 ]] || return 1
	curl -s --max-time 2 "http://$HOST:$1/store" 2>/dev/null | grep -q '"emails"'
}

install() {
	if [[ -f "$CLI" ]]; then
		return
	fi
	command -v npm >/dev/null 2>&1 || die "npm is needed to install $PACKAGE (the SES emulator); install Node.js and npm"
	echo "installing $PACKAGE@$VERSION under $PREFIX (once)"
	mkdir -p "$PREFIX"
	npm install --prefix "$PREFIX" --no-audit --no-fund --save-exact --before="$BEFORE" "$PACKAGE@$VERSION" >"$TOOLS/ses-npm-install.log" 2>&1 ||
		{ tail -n 20 "$TOOLS/ses-npm-install.log" >&2; die "npm install $PACKAGE failed (log: $TOOLS/ses-npm-install.log)"; }
	[[ -f "$CLI" ]] || die "$PACKAGE installed, but $CLI is missing"
}

start() {
	if running; then
		echo "the SES emulator already runs (pid $(cat "$PID_FILE")) at $(endpoint)"
		echo "export COUNTERSIGN_SES_ENDPOINT=$(endpoint)"
		return
	fi
	rm -f "$PID_FILE" "$PORT_FILE"
	command -v node >/dev/null 2>&1 || die "node is not installed; the SES emulator needs Node.js (Debian: apt-get install -y nodejs npm)"
	command -v curl >/dev/null 2>&1 || die "curl is needed to check that the SES emulator answers (Debian: apt-get install -y curl)"
	install

	local want="${SES_PORT:-8005}" port
	[[ "$want" =~ ^[0-9]+$ ]] || die "SES_PORT must be a port number, not '$want'"
	port="$want"
	while port_busy "$port"; do
		port=$((port + 1))
		((port < want + 100)) || die "ports $want to $((port - 1)) are all busy; set SES_PORT to a free one"
	done
	if [[ "$port" != "$want" ]]; then
		echo "port $want is busy; using $port instead"
	fi

	mkdir -p "$TOOLS"
	# setsid detaches it from this shell's process group, so it outlives the
	# script (and a Ctrl-C in the terminal that started it).
	(cd "$PREFIX" && exec setsid env -u SMTP_TRANSPORT node "$CLI" --host "$HOST" --port "$port" >"$LOG_FILE" 2>&1 </dev/null) &
	local pid=$!
	echo "$pid" >"$PID_FILE"
	echo "$port" >"$PORT_FILE"

	printf 'starting the SES emulator (pid %s) on port %s ' "$pid" "$port"
	local waited=0
	until answers "$port"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo
			rm -f "$PID_FILE" "$PORT_FILE"
			echo "the SES emulator exited before it answered; the end of $LOG_FILE:" >&2
			tail -n 30 "$LOG_FILE" >&2 || true
			exit 1
		fi
		if ((waited >= WAIT_SECONDS * 2)); then
			echo
			kill "$pid" 2>/dev/null || true
			rm -f "$PID_FILE" "$PORT_FILE"
			echo "the SES emulator did not answer on port $port within ${WAIT_SECONDS}s; the end of $LOG_FILE:" >&2
			tail -n 30 "$LOG_FILE" >&2 || true
			exit 1
		fi
		printf '.'
		sleep 0.5
		waited=$((waited + 1))
	done
	echo " ready"
	echo "the SES emulator runs at $(endpoint) (stored mail: $(endpoint)/store; log: $LOG_FILE); stop it with scripts/ses-local.sh stop"
	echo "export COUNTERSIGN_SES_ENDPOINT=$(endpoint)"
}

stop() {
	if ! [[ -f "$PID_FILE" ]]; then
		echo "the SES emulator is not running (no $PID_FILE)"
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
		if kill -0 "$pid" 2>/dev/null; then
			kill -9 "$pid" 2>/dev/null || true
		fi
		echo "stopped the SES emulator (pid $pid)"
	else
		echo "the SES emulator (pid $pid) was not running any more"
	fi
	rm -f "$PID_FILE" "$PORT_FILE"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
endpoint)
	running || die "the SES emulator is not running; start it with scripts/ses-local.sh start"
	endpoint
	;;
status)
	if running; then
		echo "the SES emulator runs (pid $(cat "$PID_FILE")) at $(endpoint)"
	else
		echo "the SES emulator is not running"
		exit 1
	fi
	;;
*)
	echo "usage: $0 start|stop|endpoint|status" >&2
	exit 2
	;;
esac
