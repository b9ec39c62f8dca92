//! Durability options shared by the WAL and the configuration.

use serde::Deserialize;

/// When the WAL calls `fsync`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsyncPolicy {
    /// Acknowledge an append only after it is fsynced; concurrent appends share one fsync
    /// (group commit). The default.
    #[default]
    Always,
    /// Acknowledge after `write(2)`; a background timer fsyncs once a second (up to ~1 s of
    /// acknowledged writes can be lost on power failure, none on a process crash).
    Everysec,
    /// Never fsync; the OS flushes when it likes.
    No,
}

impl std::str::FromStr for FsyncPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Ok(FsyncPolicy::Always),
            "everysec" => Ok(FsyncPolicy::Everysec),
            "no" => Ok(FsyncPolicy::No),
            other => Err(format!(
                "invalid fsync policy '{other}' (expected always, everysec or no)"
            )),
        }
    }
}

impl std::fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::Everysec => "everysec",
            FsyncPolicy::No => "no",
        })
    }
}

/// WAL tuning.
#[derive(Clone, Debug)]
pub struct WalOptions {
    pub fsync: FsyncPolicy,
    /// A segment is closed and a new one started once it exceeds this many bytes.
    pub segment_bytes: u64,
    /// PLANTED BUG for chaos testing (`--unsafe-test-faults skip-fsync`): acknowledge appends
    /// while they are still in this process's memory, write them to the OS at most about once a
    /// second and never fsync. A crash then loses acknowledged writes. Never set otherwise.
    pub unsafe_skip_fsync: bool,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            fsync: FsyncPolicy::Always,
            segment_bytes: 64 * 1024 * 1024,
            unsafe_skip_fsync: false,
        }
    }
}
