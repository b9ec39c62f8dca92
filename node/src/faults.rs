//! Planted bugs for proving that the chaos harness catches real violations
//! (`sdr-node --unsafe-test-faults stale-reads,ack-before-commit,skip-fsync`).
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
//!   writes).

/// The set of planted bugs enabled for this process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TestFaults {
    pub stale_reads: bool,
    pub ack_before_commit: bool,
    pub skip_fsync: bool,
}

impl TestFaults {
    pub fn any(&self) -> bool {
        self.stale_reads || self.ack_before_commit || self.skip_fsync
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
                other => {
                    return Err(format!(
                        "unknown test fault '{other}' (known: stale-reads, ack-before-commit, skip-fsync)"
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
    }
}
