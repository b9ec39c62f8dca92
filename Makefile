# sdr: Raft-replicated Redis-compatible store + chaos harness + linearizability checker.
CARGO ?= cargo

.PHONY: all build run test bench bench-checker fmt clippy clean

all: build

build:
	$(CARGO) build --release --workspace

run:
	$(CARGO) build --release -p sdr-node
	./target/release/sdr-node --bind 127.0.0.1 --port 6379 --data-dir ./data

test:
	$(CARGO) test --workspace --release

bench:
	scripts/bench-node.sh

bench-checker:
	scripts/bench-checker.sh

fmt:
	$(CARGO) fmt --all

clippy:
	$(CARGO) clippy --workspace --all-targets

clean:
	$(CARGO) clean
