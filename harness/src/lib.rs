//! `sdr-harness`: Jepsen-style chaos runs of `sdr-node` clusters from YAML scenarios.
//!
//! Module map (data flows top to bottom):
//! - [`scenario`] — the YAML schema (strict; errors with line and column) and its validation.
//! - [`workload`] — pure, seeded op generator (no I/O): what the clients do.
pub mod scenario;
