#!/usr/bin/env bash
# Compatibility suite: runs the official S2 TypeScript SDK (@s2-dev/streamstore,
# version pinned in compat/package.json) against a freshly built s2lite.
#
#   1. builds s2lite into a temporary directory;
#   2. starts `s2lite serve` (in-memory storage) on a free loopback port, polls
#      /health, and runs every test file with `node --test`;
#   3. starts a second server with --local-root and runs the session tests
#      against it (set COMPAT_SKIP_LOCAL=1 to skip);
#   4. starts an embedded etcd and a three-node cluster (--cluster-etcd) on one
#      shared --local-root and runs every test file with the SDK pointed at
#      the first node, then the record and session tests pointed at the
#      third (set COMPAT_SKIP_CLUSTER=1 to skip);
#   5. stops each server with SIGTERM and checks that it exits 0 in time.
#
# Exits non-zero if any test failed or a server misbehaved on start/stop.
# Extra arguments are passed to `node --test` (e.g. --test-name-pattern=...).
#
# Environment: COMPAT_KEEP_LOGS=1 keeps the temporary directory (server logs);
# COMPAT_FILES overrides the test files of the in-memory run.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
GO="${GO:-go}"

work="$(mktemp -d "${TMPDIR:-/tmp}/s2lite-compat.XXXXXX")"
server_pid=""
status=0

cleanup() {
	local pid
	for pid in "${cluster_pids[@]}" $etcd_pid; do
		kill -KILL "$pid" 2>/dev/null
	done
	if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
	fi
	if [[ "${COMPAT_KEEP_LOGS:-0}" == 1 ]]; then
		echo "compat: logs kept in $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

log() { echo "compat: $*"; }

command -v node >/dev/null || { log "node is required"; exit 2; }
command -v npm >/dev/null || { log "npm is required"; exit 2; }
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if (( node_major < 20 )); then
	log "Node.js >= 20 is required (found $(node --version))"
	exit 2
fi

log "building s2lite"
(cd "$repo" && "$GO" build -o "$work/s2lite" ./cmd/s2lite) || { log "build failed"; exit 2; }

if [[ ! -d "$here/node_modules/@s2-dev/streamstore" ]]; then
	log "installing the SDK (npm ci)"
	(cd "$here" && npm ci --no-audit --no-fund) || { log "npm ci failed"; exit 2; }
fi
log "SDK @s2-dev/streamstore $(node -p "require('$here/node_modules/@s2-dev/streamstore/package.json').version"), node $(node --version)"

free_port() {
	node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# start_server NAME [extra serve flags...]: starts s2lite on a free loopback
# port, sets $server_pid and $port, and waits for /health.
start_server() {
	local name="$1"
	shift
	local host_flag=()
	if "$work/s2lite" serve --help 2>&1 | grep -q -- '-host'; then
		host_flag=(--host 127.0.0.1)
	fi
	local attempt
	for attempt in 1 2 3; do
		port="$(free_port)"
		"$work/s2lite" serve "${host_flag[@]}" --port "$port" "$@" >"$work/$name.log" 2>&1 &
		server_pid=$!
		local i
		for i in $(seq 1 100); do
			if curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null; then
				log "$name server up on 127.0.0.1:$port (pid $server_pid)"
				# The tests use the root token the server printed; a
				# server on storage that already has one prints none.
				local printed
				printed="$(sed -n 's/^export S2_ACCESS_TOKEN="\(.*\)"$/\1/p' "$work/$name.log")"
				if [[ -n "$printed" ]]; then
					token="$printed"
				fi
				return 0
			fi
			if ! kill -0 "$server_pid" 2>/dev/null; then
				break
			fi
			sleep 0.1
		done
		log "$name server did not become healthy (attempt $attempt); log follows"
		sed 's/^/    /' "$work/$name.log" | tail -20
		kill -TERM "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
		server_pid=""
	done
	return 1
}

# stop_server NAME: SIGTERM, then require exit status 0 within 15 s.
stop_server() {
	local name="$1"
	[[ -n "$server_pid" ]] || return 0
	kill -TERM "$server_pid"
	local i
	for i in $(seq 1 150); do
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$server_pid" 2>/dev/null; then
		log "FAIL: $name server did not exit within 15 s of SIGTERM"
		kill -KILL "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
		server_pid=""
		return 1
	fi
	wait "$server_pid"
	local rc=$?
	server_pid=""
	if [[ $rc -ne 0 ]]; then
		log "FAIL: $name server exited with status $rc after SIGTERM; log tail:"
		tail -20 "$work/$name.log" | sed 's/^/    /'
		return 1
	fi
	log "$name server stopped cleanly (exit 0)"
	return 0
}

total_pass=0
total_fail=0
token=""

# run_tests NAME FILES...: runs node --test against the current server.
run_tests() {
	local name="$1"
	shift
	log "running $name tests against http://127.0.0.1:$port"
	local out="$work/$name.tests.log"
	(
		cd "$here" &&
			S2_ACCESS_TOKEN="$token" \
				S2_ACCOUNT_ENDPOINT="http://127.0.0.1:$port" \
				S2_BASIN_ENDPOINT="http://127.0.0.1:$port" \
				node --test --test-force-exit --test-concurrency=6 --test-reporter=spec "${NODE_TEST_ARGS[@]}" "$@"
	) 2>&1 | tee "$out"
	local rc=${PIPESTATUS[0]}
	local p f
	p="$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$out" | tail -1)"
	f="$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$out" | tail -1)"
	total_pass=$((total_pass + ${p:-0}))
	total_fail=$((total_fail + ${f:-0}))
	return "$rc"
}

etcd_pid=""
cluster_pids=()
cluster_ports=()

stop_cluster() {
	local rc=0 i pid
	for i in "${!cluster_pids[@]}"; do
		pid="${cluster_pids[$i]}"
		kill -TERM "$pid" 2>/dev/null || continue
	done
	for i in "${!cluster_pids[@]}"; do
		pid="${cluster_pids[$i]}"
		local j
		for j in $(seq 1 200); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "FAIL: cluster node n$((i + 1)) did not exit within 20 s of SIGTERM"
			kill -KILL "$pid" 2>/dev/null
			rc=1
		fi
		wait "$pid"
		local st=$?
		if [[ $st -ne 0 && $rc -eq 0 ]]; then
			log "FAIL: cluster node n$((i + 1)) exited with status $st; log tail:"
			tail -20 "$work/cluster-n$((i + 1)).log" | sed 's/^/    /'
			rc=1
		fi
	done
	cluster_pids=()
	if [[ -n "$etcd_pid" ]]; then
		kill -TERM "$etcd_pid" 2>/dev/null
		wait "$etcd_pid" 2>/dev/null
		etcd_pid=""
	fi
	[[ $rc -eq 0 ]] && log "cluster stopped cleanly (every node exit 0)"
	return $rc
}

# run_cluster: etcd, three nodes, the suite through n1 and again through n3.
run_cluster() {
	(cd "$repo" && "$GO" build -o "$work/withetcd" ./internal/tools/withetcd) || { log "building withetcd failed"; return 1; }
	"$work/withetcd" -url-file "$work/etcd.url" >"$work/etcd.log" 2>&1 &
	etcd_pid=$!
	local i
	for i in $(seq 1 300); do
		[[ -s "$work/etcd.url" ]] && break
		sleep 0.1
	done
	[[ -s "$work/etcd.url" ]] || { log "etcd did not start"; cat "$work/etcd.log"; stop_cluster; return 1; }
	local etcd_url root_token=compat-cluster-root-token-0123456789
	etcd_url="$(cat "$work/etcd.url")"
	mkdir -p "$work/cluster-root"
	for i in 1 2 3; do
		cluster_ports[$i]="$(free_port)"
		"$work/s2lite" serve --host 127.0.0.1 --port "${cluster_ports[$i]}" --local-root "$work/cluster-root" \
			--cluster-etcd "$etcd_url" --advertise-url "http://127.0.0.1:${cluster_ports[$i]}" --node-id "n$i" \
			--cluster-partitions 8 --root-token "$root_token" >"$work/cluster-n$i.log" 2>&1 &
		cluster_pids+=($!)
	done
	local ready=0
	for i in $(seq 1 300); do
		ready=0
		local p
		for p in "${cluster_ports[@]}"; do
			curl -fsS -o /dev/null "http://127.0.0.1:$p/ready" 2>/dev/null && ready=$((ready + 1))
		done
		[[ $ready -eq 3 ]] && break
		sleep 0.1
	done
	if [[ $ready -ne 3 ]]; then
		log "the cluster did not become ready; logs follow"
		tail -n 15 "$work"/cluster-n*.log | sed 's/^/    /'
		stop_cluster
		return 1
	fi
	log "cluster up: n1..n3 on ports ${cluster_ports[*]}"
	local rc=0 saved_port="$port" saved_token="$token"
	token="$root_token"
	port="${cluster_ports[1]}"
	run_tests "cluster-n1" test/basins.test.mjs test/streams.test.mjs test/records.test.mjs test/sessions-fetch.test.mjs test/sessions-s2s.test.mjs test/accessTokens.test.mjs test/encryption.test.mjs test/metrics.test.mjs || rc=1
	port="${cluster_ports[3]}"
	run_tests "cluster-n3" test/records.test.mjs test/sessions-fetch.test.mjs test/sessions-s2s.test.mjs || rc=1
	port="$saved_port"
	token="$saved_token"
	stop_cluster || rc=1
	return $rc
}

NODE_TEST_ARGS=("$@")
start=$(date +%s)

# 1. In-memory server: every test file.
if start_server memory; then
	# shellcheck disable=SC2206
	files=(${COMPAT_FILES:-test/basins.test.mjs test/streams.test.mjs test/records.test.mjs test/sessions-fetch.test.mjs test/sessions-s2s.test.mjs test/accessTokens.test.mjs test/encryption.test.mjs test/metrics.test.mjs})
	run_tests "in-memory" "${files[@]}" || status=1
	stop_server memory || status=1
else
	status=1
fi

# 2. Local-directory server: the session tests again (durable write path).
if [[ "${COMPAT_SKIP_LOCAL:-0}" != 1 ]]; then
	mkdir -p "$work/local-root"
	if start_server local --local-root "$work/local-root"; then
		run_tests "local-root" test/sessions-fetch.test.mjs test/sessions-s2s.test.mjs || status=1
		stop_server local || status=1
	else
		status=1
	fi
fi

# 3. A three-node cluster on one shared directory, coordinated by an
# embedded etcd: the SDK sees one endpoint; requests for partitions owned by
# the other nodes are forwarded.
if [[ "${COMPAT_SKIP_CLUSTER:-0}" != 1 ]]; then
	if run_cluster; then :; else status=1; fi
fi

log "total $(( $(date +%s) - start )) s; $([[ $status -eq 0 ]] && echo PASS || echo FAIL)"
echo "compat: $total_pass passed, $total_fail failed"
exit $status
