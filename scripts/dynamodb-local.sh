#!/usr/bin/env bash
# Starts and stops Amazon's DynamoDB Local for the DynamoDB store's tests and
# for running Countersign locally against DynamoDB.
#
#   scripts/dynamodb-local.sh start     install if needed, start, wait until it answers
#   scripts/dynamodb-local.sh stop      stop the instance started by `start`
#   scripts/dynamodb-local.sh endpoint  print the endpoint URL of the running instance
#   scripts/dynamodb-local.sh status    say whether it runs
#
# DynamoDB Local comes from the npm package amplify-dynamodb-simulator, which
# ships DynamoDBLocal.jar; it is installed under .tools/ (git-ignored). It
# needs Java. The port is DYNAMODB_PORT (default 8000); if that port is busy,
# the next free one is used and reported. Data lives in memory only; one
# database serves every credential and region (-sharedDb), so the tests, the
# local runtime and the AWS CLI see the same tables; telemetry is off (the
# machines reach no address but package registries).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
PACKAGE=amplify-dynamodb-simulator
EMULATOR="$TOOLS/node_modules/$PACKAGE/emulator"
PID_FILE="$TOOLS/dynamodb-local.pid"
PORT_FILE="$TOOLS/dynamodb-local.port"
LOG_FILE="$TOOLS/dynamodb-local.log"
HOST=127.0.0.1
WAIT_SECONDS="${DYNAMODB_WAIT_SECONDS:-30}"

die() {
	echo "dynamodb-local: $*" >&2
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

# answers PORT: true when DynamoDB Local answers an API call on PORT. Any
# HTTP answer to a signed-looking request will do; DynamoDB Local replies
# with JSON even to a request it refuses.
answers() {
	local code
	code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
		-H 'Content-Type: application/x-amz-json-1.0' \
		-H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
		-H 'Authorization: AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0' \
		--data '{}' "http://$HOST:$1/" 2>/dev/null)" || true
	[[ "$code" =~ ^[2-4][0-9][0-9]$ ]]
}

install() {
	if [[ -f "$EMULATOR/DynamoDBLocal.jar" ]]; then
		return
	fi
	command -v npm >/dev/null 2>&1 || die "npm is needed to install $PACKAGE (DynamoDB Local); install Node.js and npm"
	echo "installing $PACKAGE under $TOOLS (once)"
	mkdir -p "$TOOLS"
	npm install --prefix "$TOOLS" --no-audit --no-fund "$PACKAGE" >"$TOOLS/npm-install.log" 2>&1 ||
		{ tail -n 20 "$TOOLS/npm-install.log" >&2; die "npm install $PACKAGE failed (log: $TOOLS/npm-install.log)"; }
	[[ -f "$EMULATOR/DynamoDBLocal.jar" ]] || die "$PACKAGE installed, but $EMULATOR/DynamoDBLocal.jar is missing"
}

start() {
	if running; then
		echo "DynamoDB Local already runs (pid $(cat "$PID_FILE")) at $(endpoint)"
		echo "export COUNTERSIGN_DYNAMODB_ENDPOINT=$(endpoint)"
		return
	fi
	rm -f "$PID_FILE" "$PORT_FILE"
	command -v java >/dev/null 2>&1 ||
		die "java is not installed; DynamoDB Local needs a Java runtime (Debian: apt-get install -y default-jre-headless)"
	command -v curl >/dev/null 2>&1 || die "curl is needed to check that DynamoDB Local answers (Debian: apt-get install -y curl)"
	install

	local want="${DYNAMODB_PORT:-8000}" port
	[[ "$want" =~ ^[0-9]+$ ]] || die "DYNAMODB_PORT must be a port number, not '$want'"
	port="$want"
	while port_busy "$port"; do
		port=$((port + 1))
		((port < want + 100)) || die "ports $want to $((port - 1)) are all busy; set DYNAMODB_PORT to a free one"
	done
	if [[ "$port" != "$want" ]]; then
		echo "port $want is busy; using $port instead"
	fi

	mkdir -p "$TOOLS"
	# setsid detaches it from this shell's process group, so it outlives the
	# script (and a Ctrl-C in the terminal that started it).
	(cd "$EMULATOR" && exec setsid java -Djava.library.path="$EMULATOR/DynamoDBLocal_lib" \
		-jar "$EMULATOR/DynamoDBLocal.jar" -inMemory -sharedDb -disableTelemetry -port "$port" >"$LOG_FILE" 2>&1 </dev/null) &
	local pid=$!
	echo "$pid" >"$PID_FILE"
	echo "$port" >"$PORT_FILE"

	printf 'starting DynamoDB Local (pid %s) on port %s ' "$pid" "$port"
	local waited=0
	until answers "$port"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo
			rm -f "$PID_FILE" "$PORT_FILE"
			echo "DynamoDB Local exited before it answered; the end of $LOG_FILE:" >&2
			tail -n 30 "$LOG_FILE" >&2 || true
			exit 1
		fi
		if ((waited >= WAIT_SECONDS * 2)); then
			echo
			kill "$pid" 2>/dev/null || true
			rm -f "$PID_FILE" "$PORT_FILE"
			echo "DynamoDB Local did not answer on port $port within ${WAIT_SECONDS}s; the end of $LOG_FILE:" >&2
			tail -n 30 "$LOG_FILE" >&2 || true
			exit 1
		fi
		printf '.'
		sleep 0.5
		waited=$((waited + 1))
	done
	echo " ready"
	echo "DynamoDB Local runs at $(endpoint) (log: $LOG_FILE); stop it with scripts/dynamodb-local.sh stop"
	echo "export COUNTERSIGN_DYNAMODB_ENDPOINT=$(endpoint)"
}

stop() {
	if ! [[ -f "$PID_FILE" ]]; then
		echo "DynamoDB Local is not running (no $PID_FILE)"
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
		echo "stopped DynamoDB Local (pid $pid)"
	else
		echo "DynamoDB Local (pid $pid) was not running any more"
	fi
	rm -f "$PID_FILE" "$PORT_FILE"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
endpoint)
	running || die "DynamoDB Local is not running; start it with scripts/dynamodb-local.sh start"
	endpoint
	;;
status)
	if running; then
		echo "DynamoDB Local runs (pid $(cat "$PID_FILE")) at $(endpoint)"
	else
		echo "DynamoDB Local is not running"
		exit 1
	fi
	;;
*)
	echo "usage: $0 start|stop|endpoint|status" >&2
	exit 2
	;;
esac
