//! `system: redis-sentinel` — a `redis-server` primary, `nodes - 1` replicas and three
//! `redis-server --sentinel`s (Redis's own HA: failover by Sentinel quorum), each process in
//! its own folder under the run folder, on its own port.
//!
//! Node `n` is `redis-server` n (n1 starts as the primary) and, for n ≤ 3, Sentinel n: process
//! faults hit the server, a partition cuts both of a node's processes off from the other
//! side's (and `cut-clients` from the harness's clients). Every connection — client → server,
//! client → Sentinel, replica → primary, Sentinel → server, Sentinel → Sentinel — goes
//! through the switchboard of its target ([`super::links`]): every process binds to and sends
//! from `127.0.1.n`, and announces its switchboard address (`replica-announce-ip/port`,
//! `sentinel announce-ip/port`; the primary is monitored at its switchboard address), so every
//! address Redis hands around is one the harness controls.
//!
//! Servers run with `appendonly yes`, `appendfsync everysec` (Redis's recommended durable
//! setup) and `min-replicas-to-write` when the scenario sets it; `node:` options are added to
//! every server's config verbatim. Sentinel timeouts are small (`down-after` 1 s,
//! `failover-timeout` 3 s) so runs are short.

use super::procs::{conf_value, info, Proc};
use super::{io, which, BoxFuture, ClientConfig, Route, System, SystemError};
use crate::cluster::NodeState;
use crate::proxy::LinkState;
use crate::scenario::{ReadFrom, Scalar, Scenario, SystemKind};
use sdr_resp::Frame;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

/// The name the Sentinels monitor the primary under.
pub const MASTER_NAME: &str = "sdr";

/// Options of [`Sentinel::start`].
#[derive(Clone, Debug)]
pub struct SentinelOptions {
    /// The run folder: server n in `<dir>/n<N>/`, Sentinel n in `<dir>/n<N>/sentinel/`.
    pub dir: PathBuf,
    /// Servers (≥ 3: one primary, the rest replicas).
    pub servers: u32,
    pub server_bin: String,
    pub min_replicas_to_write: Option<u32>,
    /// `WAIT` after every write: replicas, timeout.
    pub wait: Option<(u32, Duration)>,
    pub read_from_replicas: bool,
    pub down_after: Duration,
    pub failover_timeout: Duration,
    /// Extra `redis.conf` lines for every server.
    pub server_options: BTreeMap<String, Scalar>,
    pub ready_timeout: Duration,
}

impl SentinelOptions {
    pub fn new(dir: PathBuf, servers: u32) -> SentinelOptions {
        SentinelOptions {
            dir,
            servers,
            server_bin: "redis-server".into(),
            min_replicas_to_write: None,
            wait: None,
            read_from_replicas: false,
            down_after: Duration::from_millis(1000),
            failover_timeout: Duration::from_secs(3),
            server_options: BTreeMap::new(),
            ready_timeout: Duration::from_secs(30),
        }
    }

    pub fn from_scenario(sc: &Scenario, dir: &std::path::Path) -> SentinelOptions {
        let s = &sc.system;
        let mut o = SentinelOptions::new(dir.to_path_buf(), sc.cluster.total().max(3));
        if let Some(b) = &s.server {
            o.server_bin = b.clone();
        }
        o.min_replicas_to_write = s.min_replicas_to_write;
        o.wait = s.wait.map(|n| (n, s.wait_timeout()));
        o.read_from_replicas = s.read_from() == ReadFrom::Replicas;
        if let Some(d) = s.down_after {
            o.down_after = d.0;
        }
        if let Some(d) = s.failover_timeout {
            o.failover_timeout = d.0;
        }
        o.server_options = sc.node_config_options();
        o
    }
}

/// A running Sentinel deployment.
pub struct Sentinel {
    opts: SentinelOptions,
    servers: Vec<Proc>,
    sentinels: Vec<Proc>,
}

const SENTINELS: u32 = 3;

impl Sentinel {
    /// Writes every config, starts the servers (n1 primary), waits until every replica is
    /// linked, starts three Sentinels and waits until each knows every replica and the other
    /// two Sentinels.
    pub async fn start(opts: SentinelOptions) -> Result<Sentinel, SystemError> {
        let bin = which(&opts.server_bin)?;
        let n = opts.servers.max(3);
        let ids: Vec<u32> = (1..=n).collect();
        let mut servers = Vec::new();
        for id in 1..=n {
            let dir = opts.dir.join(format!("n{id}"));
            servers.push(Proc::new(format!("n{id} redis-server"), id, dir, &ids).await?);
        }
        let mut sentinels = Vec::new();
        for id in 1..=SENTINELS {
            let dir = opts.dir.join(format!("n{id}")).join("sentinel");
            sentinels.push(Proc::new(format!("n{id} sentinel"), id, dir, &ids).await?);
        }
        let primary = servers[0].public_port();
        for p in &mut servers {
            let mut conf = vec![
                format!("bind {}", p.ip),
                format!("bind-source-addr {}", p.ip),
                "protected-mode no".into(),
                format!("port {}", p.port),
                format!("dir {}", conf_value(&p.dir.display().to_string())),
                "daemonize no".into(),
                "appendonly yes".into(),
                "appendfsync everysec".into(),
                "save \"\"".into(),
                // Full syncs start at once (default 5 s wait for more replicas): short runs.
                "repl-diskless-sync-delay 0".into(),
                "replica-announce-ip 127.0.0.1".into(),
                format!("replica-announce-port {}", p.public_port()),
            ];
            if let Some(m) = opts.min_replicas_to_write {
                conf.push(format!("min-replicas-to-write {m}"));
                conf.push("min-replicas-max-lag 10".into());
            }
            for (k, v) in &opts.server_options {
                conf.push(format!("{k} {}", conf_value(&v.to_string())));
            }
            if p.node != 1 {
                conf.push(format!("replicaof 127.0.0.1 {primary}"));
            }
            let file = p.dir.join("redis.conf");
            std::fs::write(&file, conf.join("\n") + "\n")
                .map_err(io(format!("writing {}", file.display())))?;
            p.set_command(bin.clone(), vec![file.display().to_string()]);
        }
        for s in &mut sentinels {
            let conf = [
                format!("bind {}", s.ip),
                format!("bind-source-addr {}", s.ip),
                "protected-mode no".into(),
                format!("port {}", s.port),
                format!("dir {}", conf_value(&s.dir.display().to_string())),
                "daemonize no".into(),
                "sentinel announce-ip 127.0.0.1".into(),
                format!("sentinel announce-port {}", s.public_port()),
                format!("sentinel monitor {MASTER_NAME} 127.0.0.1 {primary} 2"),
                format!(
                    "sentinel down-after-milliseconds {MASTER_NAME} {}",
                    opts.down_after.as_millis()
                ),
                format!(
                    "sentinel failover-timeout {MASTER_NAME} {}",
                    opts.failover_timeout.as_millis()
                ),
                format!("sentinel parallel-syncs {MASTER_NAME} 1"),
            ];
            let file = s.dir.join("sentinel.conf");
            std::fs::write(&file, conf.join("\n") + "\n")
                .map_err(io(format!("writing {}", file.display())))?;
            s.set_command(
                bin.clone(),
                vec![file.display().to_string(), "--sentinel".into()],
            );
        }
        let mut sys = Sentinel {
            opts,
            servers,
            sentinels,
        };
        let limit = sys.opts.ready_timeout;
        for p in &mut sys.servers {
            p.spawn()?;
        }
        for p in &mut sys.servers {
            p.wait_ping(limit).await?;
        }
        sys.wait_replicas_linked(limit).await?;
        for s in &mut sys.sentinels {
            s.spawn()?;
        }
        for s in &mut sys.sentinels {
            s.wait_ping(limit).await?;
        }
        sys.wait_sentinels_complete(limit).await?;
        Ok(sys)
    }

    async fn wait_replicas_linked(&self, limit: Duration) -> Result<(), SystemError> {
        let deadline = tokio::time::Instant::now() + limit;
        for p in self.servers.iter().skip(1) {
            loop {
                let up = info(p, "replication")
                    .await
                    .is_some_and(|m| m.get("master_link_status").map(String::as_str) == Some("up"));
                if up {
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(SystemError::NotReady {
                        what: format!("{} (replication link)", p.what),
                        secs: limit.as_secs(),
                        log: p.log.display().to_string(),
                    });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    async fn wait_sentinels_complete(&self, limit: Duration) -> Result<(), SystemError> {
        let deadline = tokio::time::Instant::now() + limit;
        let want_replicas = (self.servers.len() - 1).to_string();
        let want_others = (self.sentinels.len() - 1).to_string();
        for s in &self.sentinels {
            loop {
                let m = sentinel_master(s).await.unwrap_or_default();
                if m.get("num-slaves") == Some(&want_replicas)
                    && m.get("num-other-sentinels") == Some(&want_others)
                {
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(SystemError::NotReady {
                        what: format!(
                            "{} (knows {:?} replicas and {:?} other sentinels)",
                            s.what,
                            m.get("num-slaves"),
                            m.get("num-other-sentinels")
                        ),
                        secs: limit.as_secs(),
                        log: s.log.display().to_string(),
                    });
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }

    fn server(&self, id: u32) -> Result<&Proc, SystemError> {
        self.servers
            .get((id as usize).wrapping_sub(1))
            .ok_or(SystemError::NoSuchNode(id))
    }
    fn server_mut(&mut self, id: u32) -> Result<&mut Proc, SystemError> {
        self.servers
            .get_mut((id as usize).wrapping_sub(1))
            .ok_or(SystemError::NoSuchNode(id))
    }
    /// Every process of node `id` (its server and, for n ≤ 3, its Sentinel).
    fn node_procs(&self, id: u32) -> impl Iterator<Item = &Proc> {
        self.servers
            .iter()
            .chain(self.sentinels.iter())
            .filter(move |p| p.node == id)
    }

    /// The server id at a public address (`127.0.0.1:<switchboard port>`).
    fn id_at(&self, host: &str, port: &str) -> Option<u32> {
        if host != "127.0.0.1" {
            return None;
        }
        let port: u16 = port.parse().ok()?;
        self.servers
            .iter()
            .find(|p| p.public_port() == port)
            .map(|p| p.node)
    }

    /// The primary as the running Sentinels see it (the most common answer; ties: lowest id).
    pub async fn sentinel_view(&self) -> Option<u32> {
        let mut votes: BTreeMap<u32, u32> = BTreeMap::new();
        for s in &self.sentinels {
            if let Ok(Frame::Array(a)) = s
                .call(&["SENTINEL", "get-master-addr-by-name", MASTER_NAME])
                .await
            {
                if let [Frame::Bulk(h), Frame::Bulk(p)] = a.as_slice() {
                    if let Some(id) =
                        self.id_at(&String::from_utf8_lossy(h), &String::from_utf8_lossy(p))
                    {
                        *votes.entry(id).or_default() += 1;
                    }
                }
            }
        }
        votes
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(id, _)| id)
    }
}

/// `SENTINEL master <name>` as a map.
async fn sentinel_master(s: &Proc) -> Option<HashMap<String, String>> {
    match s.call(&["SENTINEL", "master", MASTER_NAME]).await {
        Ok(Frame::Array(a)) => Some(
            a.chunks(2)
                .filter_map(|kv| match kv {
                    [Frame::Bulk(k), Frame::Bulk(v)] => Some((
                        String::from_utf8_lossy(k).into_owned(),
                        String::from_utf8_lossy(v).into_owned(),
                    )),
                    _ => None,
                })
                .collect(),
        ),
        _ => None,
    }
}

impl System for Sentinel {
    fn kind(&self) -> SystemKind {
        SystemKind::RedisSentinel
    }
    fn ids(&self) -> Vec<u32> {
        self.servers.iter().map(|p| p.node).collect()
    }
    fn shards(&self) -> u32 {
        1
    }
    fn shard_ids(&self, s: u32) -> Vec<u32> {
        if s == 1 {
            self.ids()
        } else {
            vec![]
        }
    }
    fn state(&self, id: u32) -> NodeState {
        self.server(id).map(Proc::state).unwrap_or(NodeState::Down)
    }
    fn kill(&mut self, id: u32) -> BoxFuture<'_, Result<bool, SystemError>> {
        Box::pin(async move { Ok(self.server_mut(id)?.kill().await) })
    }
    fn terminate(&mut self, id: u32) -> BoxFuture<'_, Result<Option<String>, SystemError>> {
        Box::pin(async move {
            Ok(self
                .server_mut(id)?
                .terminate(Duration::from_secs(10))
                .await)
        })
    }
    fn restart(&mut self, id: u32) -> BoxFuture<'_, Result<bool, SystemError>> {
        Box::pin(async move {
            let limit = self.opts.ready_timeout;
            let p = self.server_mut(id)?;
            if p.state() != NodeState::Down {
                return Ok(false);
            }
            p.spawn()?;
            p.wait_ping(limit).await?;
            Ok(true)
        })
    }
    fn pause(&mut self, id: u32) -> Result<bool, SystemError> {
        Ok(self.server_mut(id)?.pause())
    }
    fn resume(&mut self, id: u32) -> Result<bool, SystemError> {
        Ok(self.server_mut(id)?.resume())
    }
    fn leader_of(&self, s: u32) -> BoxFuture<'_, Option<u32>> {
        Box::pin(async move {
            if s != 1 {
                return None;
            }
            let id = self.sentinel_view().await?;
            // Only a running primary is a target (Sentinel may not have noticed a kill yet).
            (self.state(id) == NodeState::Up).then_some(id)
        })
    }
    fn wait_leader(&self, limit: Duration) -> BoxFuture<'_, Result<u32, SystemError>> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + limit;
            loop {
                if let Some(id) = self.leader_of(1).await {
                    let role = match self.server(id) {
                        Ok(p) => info(p, "replication").await,
                        Err(_) => None,
                    };
                    if role.is_some_and(|m| m.get("role").map(String::as_str) == Some("master")) {
                        return Ok(id);
                    }
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(SystemError::Setup(format!(
                        "the Sentinels agree on no running primary after {} s",
                        limit.as_secs()
                    )));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    }
    fn set_link(&self, from: u32, to: u32, s: LinkState) -> bool {
        let mut any = false;
        for p in self.node_procs(to) {
            any |= p.board.set(from, s);
        }
        any && from != 0
    }
    fn set_client_link(&self, id: u32, s: LinkState) -> bool {
        let mut any = false;
        for p in self.node_procs(id) {
            any |= p.board.set(0, s);
        }
        any
    }
    fn set_link_latency(&self, from: u32, to: u32, d: Duration) -> bool {
        let mut any = false;
        for p in self.node_procs(to) {
            any |= p.board.set_latency(from, d);
        }
        any && from != 0
    }
    fn has_links(&self) -> bool {
        true
    }
    fn heal_links(&self) {
        for p in self.servers.iter().chain(self.sentinels.iter()) {
            p.board.heal();
        }
    }
    fn stop_all(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            for p in self.sentinels.iter_mut().chain(self.servers.iter_mut()) {
                let _ = p.terminate(Duration::from_secs(10)).await;
            }
        })
    }
    fn client_addrs(&self) -> Vec<String> {
        self.servers.iter().map(Proc::public_addr).collect()
    }
    fn client_config(&self) -> ClientConfig {
        ClientConfig {
            route: Route::Sentinel {
                sentinels: self.sentinels.iter().map(Proc::public_addr).collect(),
                master: MASTER_NAME.into(),
            },
            read_from_replicas: self.opts.read_from_replicas,
            wait: self
                .opts
                .wait
                .map(|(n, t)| (n, t.as_millis().min(u128::from(u64::MAX)) as u64)),
            cas_via_eval: true,
        }
    }
    fn pids(&self) -> Vec<u32> {
        self.servers
            .iter()
            .chain(self.sentinels.iter())
            .filter_map(Proc::pid)
            .collect()
    }
}
