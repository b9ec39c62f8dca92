//! The system under test behind one trait, so the same workloads, faults and checker run
//! against systems we did not write (scenario `system:`, docs/chaos.md "Testing other systems").
//!
//! - this file — the [`System`] trait (start is each adapter's constructor; readiness,
//!   kill / terminate / pause / resume / restart, client addresses, leader discovery,
//!   links for partitions, cleanup), [`SystemError`], the client routing an adapter asks for
//!   ([`ClientConfig`]) and [`start`], which picks the adapter for a scenario.
//! - [`sdr`] — the harness's own `sdr-node` clusters ([`crate::cluster::Cluster`]).
//! - [`redis_sentinel`] — `redis-server` primary + replicas + three Sentinels.
//! - [`redis_cluster`] — Redis Cluster, 3 primaries × 1–2 replicas.
//! - [`command`] — any RESP server, driven by command templates.
//! - [`links`] — the switchboard: one proxy per external process, one link state per source
//!   node (processes of node `n` send from `127.0.1.n`).
//! - [`procs`] — an external process: its folder, log, guarded child, signals, readiness.
//!
//! Every child process is a [`crate::cluster::Guarded`]: killed when the adapter is dropped
//! (panic included) or the harness dies; adapters only ever signal pids they started.

pub mod command;
pub mod links;
pub mod procs;
pub mod redis_cluster;
pub mod redis_sentinel;
pub mod sdr;

pub use crate::client::{ClientConfig, Route};
use crate::cluster::{Cluster, ClusterError, NodeState};
use crate::proxy::LinkState;
use crate::scenario::{Scenario, SystemKind};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Controlling the system failed (a harness failure, never a verdict).
#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error(
        "{0} not found on PATH (install the Debian package redis-server, or set system.server)"
    )]
    NoBinary(String),
    #[error("{what} did not become ready within {secs} s (log: {log})")]
    NotReady {
        what: String,
        secs: u64,
        log: String,
    },
    #[error("{what} exited during startup with {status} (log: {log})")]
    Exited {
        what: String,
        status: String,
        log: String,
    },
    #[error("no node {0}")]
    NoSuchNode(u32),
    #[error("{0}")]
    Setup(String),
}

pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SystemError {
    let what = what.into();
    move |source| SystemError::Io { what, source }
}

/// A running system under test. Node ids are 1-based; "shards" are replication groups
/// (1 for a single group). Methods mirror what faults need; see each adapter for which
/// processes a node id stands for.
pub trait System: Send + Sync {
    fn kind(&self) -> SystemKind;
    /// Ids of active members (running or not), in order.
    fn ids(&self) -> Vec<u32>;
    fn size(&self) -> u32 {
        self.ids().len() as u32
    }
    fn shards(&self) -> u32;
    /// Active members of shard `s`.
    fn shard_ids(&self, s: u32) -> Vec<u32>;
    fn state(&self, id: u32) -> NodeState;
    /// SIGKILL (no-op if down); whether it was running.
    fn kill(&mut self, id: u32) -> BoxFuture<'_, Result<bool, SystemError>>;
    /// Clean stop; the exit status text if it was running.
    fn terminate(&mut self, id: u32) -> BoxFuture<'_, Result<Option<String>, SystemError>>;
    /// Starts a down node again with its config and data, and waits until it serves.
    fn restart(&mut self, id: u32) -> BoxFuture<'_, Result<bool, SystemError>>;
    fn pause(&mut self, id: u32) -> Result<bool, SystemError>;
    fn resume(&mut self, id: u32) -> Result<bool, SystemError>;
    /// The node that currently accepts writes for shard `s`, if known.
    fn leader_of(&self, s: u32) -> BoxFuture<'_, Option<u32>>;
    /// The leader of every shard that has one.
    fn leaders(&self) -> BoxFuture<'_, Vec<u32>> {
        Box::pin(async move {
            let mut v = Vec::new();
            for s in 1..=self.shards() {
                if let Some(l) = self.leader_of(s).await {
                    v.push(l);
                }
            }
            v
        })
    }
    /// Waits until every shard has a leader; returns shard 1's.
    fn wait_leader(&self, limit: Duration) -> BoxFuture<'_, Result<u32, SystemError>>;
    /// The directed link `from → to` between nodes; false if there is none.
    fn set_link(&self, from: u32, to: u32, s: LinkState) -> bool;
    /// Every client's link to node `id`.
    fn set_client_link(&self, id: u32, s: LinkState) -> bool;
    fn set_link_latency(&self, from: u32, to: u32, d: Duration) -> bool;
    fn has_links(&self) -> bool;
    fn heal_links(&self);
    /// Heals links, resumes paused nodes and restarts down members.
    fn heal_all(&mut self) -> BoxFuture<'_, Result<(), SystemError>> {
        Box::pin(async move {
            self.heal_links();
            for id in self.ids() {
                self.resume(id)?;
            }
            for id in self.ids() {
                self.restart(id).await?;
            }
            Ok(())
        })
    }
    /// Stops every process (SIGCONT + SIGTERM, SIGKILL after a grace period).
    fn stop_all(&mut self) -> BoxFuture<'_, ()>;
    /// Client addresses of every active node, in id order (through the proxies).
    fn client_addrs(&self) -> Vec<String>;
    fn client_config(&self) -> ClientConfig;
    /// Pids of every running process this adapter started (tests check cleanup with them).
    fn pids(&self) -> Vec<u32>;
    /// Installs (`Some`) or removes (`None`) netem on node `id`'s interface; what was
    /// applied, or why not (only the netns backend has interfaces).
    fn set_netem(
        &self,
        _id: u32,
        _spec: Option<&crate::netns::NetemSpec>,
    ) -> Result<String, String> {
        Err("netem needs `network: netns`".into())
    }
    /// Sets node `id`'s wall-clock offset in ms; returns the previous offset.
    fn set_clock_offset(&mut self, _id: u32, _offset_ms: i64) -> Result<i64, String> {
        Err(format!(
            "clock faults are not supported by system {}",
            self.kind().name()
        ))
    }
    /// Node `id`'s wall-clock offset in ms (0 where clocks are not faked).
    fn clock_offset(&self, _id: u32) -> i64 {
        0
    }
    /// The sdr cluster, for the faults only it supports (disk, membership).
    fn as_sdr(&mut self) -> Option<&mut Cluster> {
        None
    }
}

/// Where an executable is: `name` if it contains a `/`, else the first match on `$PATH`.
pub fn which(name: &str) -> Result<PathBuf, SystemError> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(SystemError::NoBinary(name.into()))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| SystemError::NoBinary(name.into()))
}

/// Starts the system a scenario names in the run folder `dir` (`node_bin`: sdr-node).
pub async fn start(
    sc: &Scenario,
    dir: &Path,
    node_bin: &Path,
) -> Result<Box<dyn System>, SystemError> {
    let limit = Duration::from_secs(30);
    Ok(match sc.system.kind {
        SystemKind::Sdr => Box::new(sdr::start(sc, dir, node_bin, limit).await?),
        SystemKind::RedisSentinel => Box::new(
            redis_sentinel::Sentinel::start(redis_sentinel::SentinelOptions::from_scenario(
                sc, dir,
            ))
            .await?,
        ),
        SystemKind::RedisCluster => Box::new(
            redis_cluster::RedisCluster::start(redis_cluster::ClusterOptions::from_scenario(
                sc, dir,
            ))
            .await?,
        ),
        SystemKind::Command => Box::new(
            command::CommandSystem::start(command::CommandOptions::from_scenario(sc, dir)?).await?,
        ),
    })
}
