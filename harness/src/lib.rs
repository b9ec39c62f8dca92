//! `sdr-harness`: Jepsen-style chaos runs of `sdr-node` clusters from YAML scenarios.
//!
//! Module map (roles stay apart: the workload decides, clients and nemeses act,
//! the checker only reads the history (finished, or per finished key when streaming); the graph of which module may
//! use which is in docs/architecture.md):
//! - [`scenario`] — the YAML schema (strict: unknown keys are errors with line
//!   and column) and its validation (`docs/scenario-format.md`): `schema`,
//!   `duration`, `target`, `validate`.
//! - [`workload`] — pure, seeded op generator (no I/O) with unique written values;
//!   its RNG is the workspace's `sdr-seeded`. Transactional models generate
//!   `txn` ops of micro-ops on keys of one hash-tag group.
//! - [`recorder`] — one monotonic clock per run; `history.jsonl` (typed
//!   `sdr_checker::event::Event` lines) and `nemesis.jsonl`; one op in flight
//!   per process, info ⇒ new process.
//! - [`client`] — async RESP client (on `sdr-resp`); replies ⇒ `ok` / `fail` /
//!   `info`; follows `-MOVED` and `-ASK`; Sentinel routing, `WAIT`, replica reads and
//!   cas by `EVAL` for external systems ([`client::ClientConfig`]); bounded per-op
//!   timeout; transactions as one
//!   pipelined `MULTI … EXEC` ([`client::txn_outcome`]).
//! - [`proxy`] — per-directed-link TCP proxy (peer links, and one client link
//!   per node): reject, blackhole, latency, heal (the default `network: proxy`).
//! - [`netns`] — the `network: netns` backend: a network namespace per node on a
//!   bridge, cuts as nftables rules, `tc netem`, teardown on every exit path.
//! - [`cluster`] — spawn / kill / terminate / pause / resume / restart nodes;
//!   sharded clusters, spares and membership changes (`sdr-node admin`);
//!   `process` (children never outlive the harness), `config` (typed node and
//!   admin YAML), [`cluster::node_bin`] (where the node binary is).
//! - [`system`] — the system under test behind one trait: `sdr` (the [`cluster`]),
//!   `redis-sentinel`, `redis-cluster`, `command` (any RESP server); the switchboard that
//!   routes external processes' links through per-source link states.
//! - [`nemesis`] — faults as one trait with outcome installed / skipped /
//!   indeterminate, one file per family (`process`, `network`, `disk`,
//!   `membership`, `clock`); `plan` (the pure seeded timeline) and `executor`.
//! - [`runner`] — one run end to end: run folder, load + faults, heal, final
//!   reads, checker (linearizability per key, or `sdr_checker::txn` for the
//!   transactional models), `result.json` / `report.html` / `plots.html`, summary.
//! - [`streaming_check`] — for long runs (`check: streaming`): each independent key
//!   checked as soon as it has retired and its ops completed, then forgotten (flat
//!   memory, keys-checked progress).
//! - [`plots`] — latency-over-time and throughput-over-time SVG graphs with
//!   fault intervals shaded.
//!
//! The binary is `sdr-harness` (`src/bin/sdr-harness.rs`: `run`, `validate`,
//! `up`); `scripts/chaos.sh` runs the suite. See `docs/chaos.md`.

pub mod client;
pub mod cluster;
pub mod nemesis;
pub mod netns;
pub mod plots;
pub mod proxy;
pub mod recorder;
pub mod runner;
pub mod scenario;
pub mod streaming_check;
pub mod system;
pub mod workload;
