//! `sdr-harness`: Jepsen-style chaos runs of `sdr-node` clusters from YAML scenarios.
//!
//! Module map (roles stay apart: the workload decides, clients and nemeses act,
//! the checker only reads the finished history):
//! - [`scenario`] — the YAML schema (strict: unknown keys are errors with line
//!   and column) and its validation (`docs/scenario-format.md`).
//! - [`workload`] — pure, seeded op generator (no I/O) with unique written values.
//! - [`recorder`] — one monotonic clock per run; `history.jsonl` and
//!   `nemesis.jsonl`; one op in flight per process, info ⇒ new process.
//! - [`client`] — async RESP2 client; replies ⇒ `ok` / `fail` / `info`;
//!   follows `-MOVED`; bounded per-op timeout.
//! - [`proxy`] — per-directed-link TCP proxy (peer links, and one client link
//!   per node): reject, blackhole, latency, heal.
//! - [`cluster`] — spawn / kill / terminate / pause / resume / restart nodes;
//!   sharded clusters, spares and membership changes (`sdr-node admin`);
//!   configs, data dirs and logs under the run folder; children never outlive
//!   the harness.
//! - [`nemesis`] — faults as one trait with outcome installed / skipped /
//!   indeterminate; the seeded fault timeline; grudges; torn WAL tails.
//! - [`runner`] — one run end to end: run folder, load + faults, heal, final
//!   reads, checker, `result.json` / `report.html` / `plots.html`, summary.
//! - [`plots`] — latency-over-time and throughput-over-time SVG graphs with
//!   fault intervals shaded.
//!
//! The binary is `sdr-harness` (`src/bin/sdr-harness.rs`: `run`, `validate`,
//! `up`); `scripts/chaos.sh` runs the suite. See `docs/chaos.md`.

pub mod client;
pub mod cluster;
pub mod nemesis;
pub mod plots;
pub mod proxy;
pub mod recorder;
pub mod runner;
pub mod scenario;
pub mod workload;
