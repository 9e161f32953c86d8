# s2lite build, test and benchmark entry points.
#
# `make test` needs only Go: the MinIO it tests against is installed (pinned,
# cached in $(go env GOPATH)/bin) and started on a free loopback port by
# internal/tools/withminio, and stopped afterwards.

GO        ?= go
WITHMINIO := $(GO) run ./internal/tools/withminio --
TESTFLAGS ?= -race -count=1 -timeout 15m
RESULTS   ?= bench/results

.PHONY: all build vet test test-short bench bench-engine bench-ingest run clean

all: vet test

build:
	$(GO) build ./...

vet:
	$(GO) vet ./...

# Everything: the Go tests with the race detector against memory,
# local-directory and MinIO stores, then the official TypeScript SDK suite
# against the real binary.
test:
	$(WITHMINIO) $(GO) test $(TESTFLAGS) ./...
	$(MAKE) compat
	$(MAKE) deploy-test

# Quick loop without MinIO: S3 tests skip themselves.
test-short:
	$(GO) test -short -count=1 ./...

# The server on loopback port 8080 with in-memory storage (nothing survives a
# restart). Pass flags with ARGS, e.g. make run ARGS="--local-root /tmp/s2".
PORT ?= 8080
ARGS ?=
run:
	$(GO) run ./cmd/s2lite serve --port $(PORT) $(ARGS)

# Benchmarks against a real MinIO; results go to $(RESULTS). MinIO keeps its
# data in memory (/dev/shm, a tmpfs) where there is one: on a disk the
# kernel's periodic writeback of MinIO's dirty pages stalls PUTs for tens of
# milliseconds every half minute or so, which a few seconds of baseline
# rarely meet but an append run may, and the comparison becomes a lottery.
# BENCH_MINIO_DIR=/some/disk/dir measures MinIO on that disk instead.
BENCH_MINIO_DIR ?= $(shell test -d /dev/shm -a -w /dev/shm && echo /dev/shm)
BENCH_WITHMINIO := $(GO) run ./internal/tools/withminio $(if $(BENCH_MINIO_DIR),-dir $(BENCH_MINIO_DIR)) --

bench: bench-engine bench-ingest bench-server

bench-engine:
	$(BENCH_WITHMINIO) $(GO) run ./bench engine -out $(RESULTS)

bench-ingest:
	$(BENCH_WITHMINIO) $(GO) run ./bench ingest -out $(RESULTS)

clean:
	rm -rf bench/results/tmp

# Crash matrix and storage-fault tests (internal/crashtest): rewrites the
# failpoint markers in engine and objstore, runs the tests against a local
# directory and a throwaway MinIO, and restores the source tree afterwards,
# even when a test fails. Pass go test flags with FAULTFLAGS, e.g.
# make fault-test FAULTFLAGS="-run TestCrashMatrix -v".
.PHONY: fault-test
FAULTFLAGS ?=
fault-test:
	GO=$(GO) bash internal/tools/faulttest.sh $(FAULTFLAGS)

# Adversarial suite (internal/hostile): attacks the real binary with
# default flags (announced bodies never sent, trickled bodies, compression
# bombs, S2S frame bombs, read sessions that never drain) while a
# well-behaved client appends and reads; checks peak memory against the
# default --memory-limit, the good client's p99 and that memory returns.
# About a minute.
.PHONY: hostile-test
hostile-test:
	S2LITE_HOSTILE=1 $(GO) test -count=1 -timeout 10m -v -run TestHostileClients ./internal/hostile

# Cluster mode end to end (internal/clustertest): an embedded three-member
# etcd and three s2lite processes in cluster mode on loopback, one MinIO
# bucket path, appends and reads through random nodes recorded in a ledger
# and a lincheck history; faults: kill -9 of a partition owner (three
# times, failover measured: the FAILOVER line), SIGSTOP past the lease,
# the etcd leader crashed, a rolling restart, a fourth node added and
# removed, a node cut from etcd. After each, every stream is read back and
# checked against the ledger; porcupine checks the history at the end.
# About 3 minutes. S2LITE_CLUSTER_LOGS=DIR keeps the nodes' logs.
.PHONY: cluster-test
cluster-test:
	S2LITE_CLUSTER_TEST=1 $(WITHMINIO) $(GO) test -count=1 -timeout 20m -v -run TestCluster ./internal/clustertest

# Compatibility suite: the official TypeScript SDK (pinned in
# compat/package.json) against a freshly built s2lite on loopback, with both
# session transports (fetch/SSE and s2s over h2c). Needs Node.js >= 20.14 and
# npm; see compat/README.md.
.PHONY: compat
compat:
	GO="$(GO)" ./compat/run.sh

# The s2lite server end to end against MinIO (see bench/README.md): builds
# ./cmd/s2lite, runs it on loopback behind a request-counting proxy, and
# measures ack latency (open loop), throughput, tail latency, catch-up reads
# and object-store cost next to raw PUT/GET baselines from the same run.
# About 9 minutes; BENCHFLAGS=-quick for a rough 3-minute run, or e.g.
# BENCHFLAGS="-only latency" for one phase (add -points 1024x1@1000,... for
# chosen latency points).
.PHONY: bench-server
BENCHFLAGS ?=
bench-server:
	$(BENCH_WITHMINIO) $(GO) run ./bench server -out $(RESULTS) $(BENCHFLAGS)

# What forwarding costs in cluster mode (see bench/README.md): an embedded
# etcd and two cluster-mode nodes on MinIO; append ack latency (open loop),
# append throughput and catch-up reads through the owner of a basin and
# through the other node, which forwards, interleaved in rounds. About 4
# minutes; writes cluster.json and cluster.md.
.PHONY: bench-cluster
bench-cluster:
	$(BENCH_WITHMINIO) $(GO) run ./bench cluster -out $(RESULTS) $(BENCHFLAGS)

# Linearizability checks (internal/lincheck): concurrent clients against an
# in-process server, every call recorded and the history checked with
# porcupine, also under injected WAL faults and with a second server
# fencing the first. `make test` runs a short version; this runs more
# rounds with longer histories, on memory, a local directory and MinIO.
# S2LITE_LINCHECK_SEED=N replays a round's random choices.
.PHONY: lincheck
LINCHECKFLAGS ?= -v
lincheck:
	S2LITE_LINCHECK_LONG=1 $(WITHMINIO) $(GO) test -race -count=1 -timeout 30m $(LINCHECKFLAGS) ./internal/lincheck

# Packaging (deploy/, its own Go module): the Helm chart rendered with
# Helm's engine for several configurations, the Dockerfile's content, and
# an equivalent image built without a Docker daemon and run in a chroot.
# See deploy/README.md.
.PHONY: deploy-test
deploy-test:
	cd deploy && $(GO) test -count=1 ./...
