//! Planted bugs for proving that the chaos harness catches real violations
//! (`sdr-node --unsafe-test-faults stale-reads,ack-before-commit,skip-fsync,non-atomic-exec,
//! stale-read-in-multi`).
//!
//! They exist only behind that command-line flag — the configuration file cannot enable them —
//! and the node logs a loud warning at start. Each breaks one guarantee on purpose:
//!
//! - `stale-reads`: reads are served from local state on any member, without the read-index
//!   check (a partitioned old leader or a lagging follower answers with stale data);
//! - `ack-before-commit`: writes are acknowledged `+OK` as soon as they are proposed, before
//!   they commit (an isolated leader acknowledges writes that never commit);
//! - `skip-fsync`: the WAL acknowledges appends while they are still in process memory and
//!   flushes them about once a second, without fsync (killing every node loses acknowledged
//!   writes);
//! - `non-atomic-exec`: EXEC proposes each queued command as a log entry of its own, one after
//!   the other, so other clients' writes interleave with a transaction's and reads see it half
//!   applied (the transactional checker finds the cycles);
//! - `stale-read-in-multi`: a read-only transaction is answered from local state on any member,
//!   without the read barrier, and its queued reads are accepted on a follower instead of
//!   `-MOVED` (a partitioned old leader or a lagging follower answers with a stale snapshot).

/// The set of planted bugs enabled for this process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TestFaults {
    pub stale_reads: bool,
    pub ack_before_commit: bool,
    pub skip_fsync: bool,
    pub non_atomic_exec: bool,
    pub stale_read_in_multi: bool,
}

/// Every planted bug's name, as `--unsafe-test-faults` takes it.
pub const NAMES: &[&str] = &[
    "stale-reads",
    "ack-before-commit",
    "skip-fsync",
    "non-atomic-exec",
    "stale-read-in-multi",
];

impl TestFaults {
    pub fn any(&self) -> bool {
        !self.names().is_empty()
    }

    /// Names of the enabled faults, for the start-up warning.
    pub fn names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.stale_reads {
            v.push("stale-reads");
        }
        if self.ack_before_commit {
            v.push("ack-before-commit");
        }
        if self.skip_fsync {
            v.push("skip-fsync");
        }
        if self.non_atomic_exec {
            v.push("non-atomic-exec");
        }
        if self.stale_read_in_multi {
            v.push("stale-read-in-multi");
        }
        v
    }
}

impl std::str::FromStr for TestFaults {
    type Err = String;

    /// A comma-separated list; unknown names are an error.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut f = TestFaults::default();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "stale-reads" => f.stale_reads = true,
                "ack-before-commit" => f.ack_before_commit = true,
                "skip-fsync" => f.skip_fsync = true,
                "non-atomic-exec" => f.non_atomic_exec = true,
                "stale-read-in-multi" => f.stale_read_in_multi = true,
                other => {
                    return Err(format!(
                        "unknown test fault '{other}' (known: {})",
                        NAMES.join(", ")
                    ))
                }
            }
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_rejects_unknown() {
        let f: TestFaults = "stale-reads, skip-fsync".parse().unwrap();
        assert!(f.stale_reads && f.skip_fsync && !f.ack_before_commit);
        assert_eq!(f.names(), vec!["stale-reads", "skip-fsync"]);
        assert!("fast-mode"
            .parse::<TestFaults>()
            .unwrap_err()
            .contains("unknown test fault 'fast-mode'"));
        assert!(!TestFaults::default().any());
        let all: TestFaults = NAMES.join(",").parse().unwrap();
        assert_eq!(all.names(), NAMES);
        let f: TestFaults = "non-atomic-exec".parse().unwrap();
        assert!(f.any() && f.non_atomic_exec && !f.stale_read_in_multi);
    }
}
