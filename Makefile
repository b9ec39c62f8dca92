# sdr: Raft-replicated Redis-compatible store + chaos harness + linearizability checker.
CARGO ?= cargo
CLUSTER_DIR ?= ./data/cluster
SHARDS ?= 1
# make cluster SHARDS=3 starts the 3x3 sharded cluster of config/cluster-3x3.yaml.
CLUSTER_FILE ?= $(if $(filter 1,$(SHARDS)),config/cluster-3.yaml,config/cluster-$(SHARDS)x3.yaml)

FUZZ_TARGET ?= resp_command_decoder
FUZZ_RUNS ?= 10000000

.PHONY: all build run test test-long fuzz fuzz-smoke redis-suite chaos chaos-external chaos-long cluster cluster-stop bench bench-checker bench-cluster bench-shards fmt clippy clean

all: build

build:
	$(CARGO) build --release --workspace

## make run: one node on 127.0.0.1:6379, data in ./data (Ctrl-C stops it cleanly).
run:
	$(CARGO) build --release -p sdr-node
	./target/release/sdr-node --bind 127.0.0.1 --port 6379 --data-dir ./data

## make test: the whole test suite (unit, property, integration with real processes).
test:
	$(CARGO) test --workspace --release

## make test-long: the long property runs (3 x 2,000 fresh stateright differential histories,
## 2 x 5,000 pruning-oracle histories, 2 x 50,000 transactional histories against the
## brute-force serializability checker); CI runs it after make test.
test-long:
	SDR_LONG=1 $(CARGO) test --release -p sdr-checker --test differential --test prune_oracle --test txn_differential

## make fuzz-smoke: build every cargo-fuzz target (fuzz/, nightly) and run each for 5 s from
## its committed corpus; fails on any crash (CI runs it after test-long). See docs/fuzzing.md.
fuzz-smoke:
	scripts/fuzz-smoke.sh

## make fuzz FUZZ_TARGET=wal_recovery FUZZ_RUNS=10000000: one long libFuzzer run of a target,
## growing fuzz/corpus-run/<target> (not committed) from the seeds in fuzz/corpus/<target>.
fuzz:
	mkdir -p fuzz/corpus-run/$(FUZZ_TARGET)
	cd fuzz && cargo +nightly fuzz run $(FUZZ_TARGET) corpus-run/$(FUZZ_TARGET) corpus/$(FUZZ_TARGET) -- \
		-runs=$(FUZZ_RUNS) -rss_limit_mb=1024 -malloc_limit_mb=512 -print_final_stats=1

## make chaos: every scenario against local clusters; prints the verdict table.
## make chaos SCENARIO=scenarios/x.yaml SEED=7 runs one.
chaos:
	$(CARGO) build --release -p sdr-node -p sdr-harness
	SCENARIO="$(SCENARIO)" SEED="$(SEED)" scripts/chaos.sh

## make chaos-external: scenarios/external/ — Redis Sentinel and Redis Cluster (redis-server
## 7.0 from /usr/bin) showing their documented anomalies (expect: violation), and the same fault
## schedules against sdr (expect: linearizable). SEEDS=20 runs seeds 1..20 of each (docs/chaos.md).
chaos-external:
	$(CARGO) build --release -p sdr-node -p sdr-harness
	SEEDS="$(SEEDS)" scripts/chaos.sh --scenarios scenarios/external/*.yaml

## make chaos-long: scenarios/long/ — runs of an hour, checked key by key while they run
## (`check: streaming`, docs/chaos.md "Long runs"). Not in CI.
chaos-long:
	$(CARGO) build --release -p sdr-node -p sdr-harness
	scripts/chaos.sh --scenarios scenarios/long/*.yaml

## make cluster: three members of config/cluster-3.yaml in the background
## (make cluster SHARDS=3: nine members, three shards, of config/cluster-3x3.yaml).
cluster:
	$(CARGO) build --release -p sdr-node
	scripts/cluster.sh start $(CLUSTER_FILE) $(CLUSTER_DIR)

cluster-stop:
	scripts/cluster.sh stop $(CLUSTER_FILE) $(CLUSTER_DIR)

bench:
	scripts/bench-node.sh

## make bench-checker [PORCUPINE_SRC=DIR]: sdr-check vs Porcupine on the same files.
bench-checker:
	PORCUPINE_SRC="$(PORCUPINE_SRC)" scripts/bench-checker.sh

## make redis-suite REDIS_SRC=DIR: Redis 7.0.15's TCL suite against redis-server and sdr-node,
## per-unit pass counts side by side (docs/compatibility.md).
redis-suite:
	cargo build --release -p sdr-node
	scripts/redis-suite.sh "$(REDIS_SRC)"

bench-cluster:
	scripts/bench-cluster.sh

bench-shards:
	scripts/bench-shards.sh

fmt:
	$(CARGO) fmt --all

clippy:
	$(CARGO) clippy --workspace --all-targets

clean:
	$(CARGO) clean
