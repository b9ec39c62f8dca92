//! `system: sdr` — the harness's own `sdr-node` clusters ([`Cluster`]) behind [`System`].
//! Every method delegates; the cluster keeps its own peer and client proxies.

use super::{BoxFuture, ClientConfig, System, SystemError};
use crate::cluster::{Cluster, ClusterOptions, Network, NodeState};
use crate::proxy::LinkState;
use crate::scenario::{NetworkKind, Scenario, SystemKind};
use std::path::Path;
use std::time::Duration;

/// Starts the scenario's sdr cluster in `dir` (node `n` in `dir/n<N>/`).
pub async fn start(
    sc: &Scenario,
    dir: &Path,
    bin: &Path,
    ready_timeout: Duration,
) -> Result<Cluster, SystemError> {
    Ok(Cluster::start(ClusterOptions {
        bin: bin.to_path_buf(),
        dir: dir.to_path_buf(),
        shards: sc.cluster.shards,
        replicas: sc.cluster.replicas(),
        spares: sc.cluster.spares,
        node_options: sc.node_config_options(),
        unsafe_test_faults: sc.unsafe_test_faults(),
        cluster_id: dir
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| "chaos".into()),
        ready_timeout,
        network: match sc.network {
            NetworkKind::Proxy => Network::Proxy,
            NetworkKind::Netns => Network::Netns,
        },
        fake_clock: sc.uses_clock_faults(),
    })
    .await?)
}

impl System for Cluster {
    fn kind(&self) -> SystemKind {
        SystemKind::Sdr
    }
    fn ids(&self) -> Vec<u32> {
        Cluster::ids(self)
    }
    fn size(&self) -> u32 {
        Cluster::size(self)
    }
    fn shards(&self) -> u32 {
        Cluster::shards(self)
    }
    fn shard_ids(&self, s: u32) -> Vec<u32> {
        Cluster::shard_ids(self, s)
    }
    fn state(&self, id: u32) -> NodeState {
        Cluster::state(self, id)
    }
    fn kill(&mut self, id: u32) -> BoxFuture<'_, Result<bool, SystemError>> {
        Box::pin(async move { Ok(Cluster::kill(self, id).await?) })
    }
    fn terminate(&mut self, id: u32) -> BoxFuture<'_, Result<Option<String>, SystemError>> {
        Box::pin(async move { Ok(Cluster::terminate(self, id).await?) })
    }
    fn restart(&mut self, id: u32) -> BoxFuture<'_, Result<bool, SystemError>> {
        Box::pin(async move { Ok(Cluster::restart(self, id).await?) })
    }
    fn pause(&mut self, id: u32) -> Result<bool, SystemError> {
        Ok(Cluster::pause(self, id)?)
    }
    fn resume(&mut self, id: u32) -> Result<bool, SystemError> {
        Ok(Cluster::resume(self, id)?)
    }
    fn leader_of(&self, s: u32) -> BoxFuture<'_, Option<u32>> {
        Box::pin(Cluster::leader_of(self, s))
    }
    fn leaders(&self) -> BoxFuture<'_, Vec<u32>> {
        Box::pin(Cluster::leaders(self))
    }
    fn wait_leader(&self, limit: Duration) -> BoxFuture<'_, Result<u32, SystemError>> {
        Box::pin(async move { Ok(Cluster::wait_leader(self, limit).await?) })
    }
    fn set_link(&self, from: u32, to: u32, s: LinkState) -> bool {
        Cluster::set_link(self, from, to, s)
    }
    fn set_client_link(&self, id: u32, s: LinkState) -> bool {
        Cluster::set_client_link(self, id, s)
    }
    fn set_link_latency(&self, from: u32, to: u32, d: Duration) -> bool {
        Cluster::set_link_latency(self, from, to, d)
    }
    fn has_links(&self) -> bool {
        Cluster::has_links(self)
    }
    fn heal_links(&self) {
        Cluster::heal_links(self)
    }
    fn heal_all(&mut self) -> BoxFuture<'_, Result<(), SystemError>> {
        Box::pin(async move { Ok(Cluster::heal_all(self).await?) })
    }
    fn stop_all(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(Cluster::stop_all(self))
    }
    fn client_addrs(&self) -> Vec<String> {
        Cluster::client_addrs(self)
    }
    fn client_config(&self) -> ClientConfig {
        ClientConfig::direct()
    }
    fn pids(&self) -> Vec<u32> {
        Cluster::pids(self)
    }
    fn set_netem(&self, id: u32, spec: Option<&crate::netns::NetemSpec>) -> Result<String, String> {
        Cluster::set_netem(self, id, spec)
    }
    fn set_clock_offset(&mut self, id: u32, offset_ms: i64) -> Result<i64, String> {
        Cluster::set_clock_offset(self, id, offset_ms)
    }
    fn clock_offset(&self, id: u32) -> i64 {
        Cluster::clock_offset(self, id)
    }
    fn as_sdr(&mut self) -> Option<&mut Cluster> {
        Some(self)
    }
}
