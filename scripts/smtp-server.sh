#!/usr/bin/env bash
# Starts and stops a real SMTP server on loopback, for the SMTP adapter's
# tests (internal/notify/smtpmail, internal/notify) and for trying
# COUNTERSIGN_SMTP_URL with `make run`.
#
#   scripts/smtp-server.sh start     install if needed, start, wait until it answers
#   scripts/smtp-server.sh stop      stop the instance started by `start`
#   scripts/smtp-server.sh endpoint  print the HTTP URL of the running instance (COUNTERSIGN_SMTP_TEST_URL)
#   scripts/smtp-server.sh status    say whether it runs
#   scripts/smtp-server.sh install   only install
#
# The server is nodemailer's smtp-server (npm), run by scripts/smtp/server.mjs
# (its listeners, its account and the recipients it refuses are listed
# there), installed from scripts/smtp/package-lock.json into .tools/smtp/
# (git-ignored). Its TLS certificate is self-signed, for 127.0.0.1 and
# localhost, made once with openssl into .tools/smtp/tls/. The SMTP
# listeners take free ports; the HTTP side (where the tests read the
# messages back, and learn the SMTP ports and the certificate) is on
# SMTP_TEST_PORT (default 8025), or the next free one. Nothing it accepts
# leaves the machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
PREFIX="$TOOLS/smtp"
SRC="$ROOT/scripts/smtp"
PID_FILE="$TOOLS/smtp-server.pid"
URL_FILE="$TOOLS/smtp-server.url"
LOG_FILE="$TOOLS/smtp-server.log"
HOST=127.0.0.1
WAIT_SECONDS="${SMTP_WAIT_SECONDS:-30}"

die() {
	echo "smtp-server: $*" >&2
	exit 1
}

running() {
	[[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null
}

port_busy() {
	(exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# installed: true when .tools/smtp holds exactly the lock file's packages.
installed() {
	[[ -f "$PREFIX/package-lock.json" && -f "$PREFIX/node_modules/smtp-server/package.json" ]] &&
		cmp -s "$SRC/package-lock.json" "$PREFIX/package-lock.json" &&
		cmp -s "$SRC/package.json" "$PREFIX/package.json"
}

install() {
	if ! installed; then
		command -v node >/dev/null 2>&1 || die "node is not installed; the SMTP server needs Node.js 20 or later (Debian: apt-get install -y nodejs npm)"
		command -v npm >/dev/null 2>&1 || die "npm is needed to install smtp-server; install Node.js and npm"
		mkdir -p "$PREFIX"
		cp "$SRC/package.json" "$SRC/package-lock.json" "$PREFIX/"
		printf 'installing smtp-server (versions pinned in scripts/smtp/package-lock.json) into .tools/smtp '
		# npm ci installs exactly the lock file; a background job and dots
		npm ci --prefix "$PREFIX" --no-audit --no-fund --loglevel=error >"$TOOLS/smtp-npm-install.log" 2>&1 &
		local npm_pid=$! waited=0
		while kill -0 "$npm_pid" 2>/dev/null; do
			((waited % 2 == 0)) && printf '.'
			sleep 0.5
			waited=$((waited + 1))
		done
		if ! wait "$npm_pid"; then
			echo " failed"
			rm -f "$PREFIX/package-lock.json"
			tail -n 20 "$TOOLS/smtp-npm-install.log" >&2
			die "npm ci failed (log: $TOOLS/smtp-npm-install.log)"
		fi
		echo " done ($((waited / 2)) s)"
		installed || die "npm ci ran, but .tools/smtp does not hold smtp-server"
	fi
	if [[ ! -s "$PREFIX/tls/cert.pem" || ! -s "$PREFIX/tls/key.pem" ]]; then
		command -v openssl >/dev/null 2>&1 || die "openssl is needed once, to make the test server's certificate (Debian: apt-get install -y openssl)"
		mkdir -p "$PREFIX/tls"
		openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=localhost" \
			-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
			-keyout "$PREFIX/tls/key.pem" -out "$PREFIX/tls/cert.pem" >"$TOOLS/smtp-openssl.log" 2>&1 ||
			{ cat "$TOOLS/smtp-openssl.log" >&2; die "openssl could not make the certificate"; }
		echo "made a self-signed certificate for 127.0.0.1 and localhost in .tools/smtp/tls/"
	fi
}

start() {
	if running; then
		echo "the SMTP test server already runs (pid $(cat "$PID_FILE")) at $(cat "$URL_FILE")"
		echo "export COUNTERSIGN_SMTP_TEST_URL=$(cat "$URL_FILE")"
		return
	fi
	rm -f "$PID_FILE" "$URL_FILE"
	command -v curl >/dev/null 2>&1 || die "curl is needed to check that the server answers (Debian: apt-get install -y curl)"
	install

	local want="${SMTP_TEST_PORT:-8025}" port
	[[ "$want" =~ ^[0-9]+$ ]] || die "SMTP_TEST_PORT must be a port number, not '$want'"
	port="$want"
	while port_busy "$port"; do
		port=$((port + 1))
		((port < want + 100)) || die "ports $want to $((port - 1)) are all busy; set SMTP_TEST_PORT to a free one"
	done
	[[ "$port" == "$want" ]] || echo "port $want is busy; using $port instead"

	mkdir -p "$TOOLS"
	local ready="$TOOLS/smtp-server.ready"
	rm -f "$ready"
	# setsid: it outlives this script (and a Ctrl-C in the terminal that started it)
	(cd "$ROOT" && exec setsid env PORT="$port" READY_FILE="$ready" SMTP_SERVER_FROM="$PREFIX" \
		TLS_CERT="$PREFIX/tls/cert.pem" TLS_KEY="$PREFIX/tls/key.pem" \
		node scripts/smtp/server.mjs >"$LOG_FILE" 2>&1 </dev/null) &
	local pid=$!
	echo "$pid" >"$PID_FILE"

	printf 'starting the SMTP test server (pid %s) on port %s ' "$pid" "$port"
	local waited=0 url=""
	while :; do
		if [[ -s "$ready" ]]; then
			url="$(cat "$ready")"
			curl -sf --max-time 2 "$url/info" 2>/dev/null | grep -q '"starttls"' && break
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			echo
			rm -f "$PID_FILE"
			echo "the SMTP test server exited before it answered; the end of $LOG_FILE:" >&2
			tail -n 30 "$LOG_FILE" >&2 || true
			exit 1
		fi
		if ((waited >= WAIT_SECONDS * 2)); then
			echo
			kill "$pid" 2>/dev/null || true
			rm -f "$PID_FILE"
			echo "the SMTP test server did not answer within ${WAIT_SECONDS}s; the end of $LOG_FILE:" >&2
			tail -n 30 "$LOG_FILE" >&2 || true
			exit 1
		fi
		printf '.'
		sleep 0.5
		waited=$((waited + 1))
	done
	echo "$url" >"$URL_FILE"
	echo " ready"
	echo "the SMTP test server runs: $(tail -n 1 "$LOG_FILE") (log: $LOG_FILE); stop it with scripts/smtp-server.sh stop"
	local plain
	plain="$(curl -s --max-time 2 "$url/info" | sed -E 's/.*"plain":"([^"]+)".*/\1/')"
	echo "  to send make run's mail to it: COUNTERSIGN_SMTP_URL='smtp://$plain?tls=none' make run; read it at $url/messages"
	echo "export COUNTERSIGN_SMTP_TEST_URL=$url"
}

stop() {
	if ! [[ -f "$PID_FILE" ]]; then
		echo "the SMTP test server is not running (no $PID_FILE)"
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
		echo "stopped the SMTP test server (pid $pid)"
	else
		echo "the SMTP test server (pid $pid) was not running any more"
	fi
	rm -f "$PID_FILE" "$URL_FILE" "$TOOLS/smtp-server.ready"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
install) install ;;
endpoint)
	running || die "the SMTP test server is not running; start it with scripts/smtp-server.sh start"
	cat "$URL_FILE"
	;;
status)
	if running; then
		echo "the SMTP test server runs (pid $(cat "$PID_FILE")) at $(cat "$URL_FILE")"
	else
		echo "the SMTP test server is not running"
		exit 1
	fi
	;;
*)
	echo "usage: $0 start|stop|endpoint|status|install" >&2
	exit 2
	;;
esac
