//! `system: redis-cluster` — Redis Cluster: `shards` primaries × (`replicas` − 1) replicas of
//! `redis-server --cluster-enabled yes`, created with `redis-cli --cluster create …
//! --cluster-replicas R --cluster-yes`; failover by the cluster itself (`cluster-node-timeout`,
//! default 2 s).
//!
//! Both of a node's ports go through switchboards ([`super::links`]): the client port and the
//! cluster bus (`cluster-port` is the real bus port; `cluster-announce-ip/port/bus-port` are
//! the switchboard addresses, so `-MOVED`/`-ASK` and gossip carry addresses the harness
//! controls), and every node binds to and sends from `127.0.1.n`. So partitions cut client,
//! replication and bus traffic alike; process faults hit the node's `redis-server`.
//! A "shard" is a primary and the replicas `redis-cli` gave it at creation (fixed for the run;
//! its current primary is [`System::leader_of`]).

use super::links::Switchboard;
use super::procs::{conf_value, hold_port, info, Proc};
use super::{io, which, BoxFuture, ClientConfig, System, SystemError};
use crate::cluster::NodeState;
use crate::proxy::LinkState;
use crate::scenario::{Scalar, Scenario, SystemKind};
use sdr_resp::Frame;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// Options of [`RedisCluster::start`].
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Node n in `<dir>/n<N>/`.
    pub dir: PathBuf,
    /// Primaries (≥ 3, as `redis-cli --cluster create` requires).
    pub shards: u32,
    /// Members per shard (primary + replicas), 2 or 3.
    pub replicas: u32,
    pub server_bin: String,
    pub cli_bin: String,
    pub node_timeout: Duration,
    pub min_replicas_to_write: Option<u32>,
    pub wait: Option<(u32, Duration)>,
    pub server_options: BTreeMap<String, Scalar>,
    pub ready_timeout: Duration,
}

impl ClusterOptions {
    pub fn new(dir: PathBuf) -> ClusterOptions {
        ClusterOptions {
            dir,
            shards: 3,
            replicas: 2,
            server_bin: "redis-server".into(),
            cli_bin: "redis-cli".into(),
            node_timeout: Duration::from_secs(2),
            min_replicas_to_write: None,
            wait: None,
            server_options: BTreeMap::new(),
            ready_timeout: Duration::from_secs(30),
        }
    }

    pub fn from_scenario(sc: &Scenario, dir: &std::path::Path) -> ClusterOptions {
        let s = &sc.system;
        let mut o = ClusterOptions::new(dir.to_path_buf());
        o.shards = sc.cluster.shards.max(3);
        o.replicas = sc.cluster.replicas().clamp(2, 3);
        if let Some(b) = &s.server {
            o.server_bin = b.clone();
        }
        if let Some(d) = s.node_timeout {
            o.node_timeout = d.0;
        }
        o.min_replicas_to_write = s.min_replicas_to_write;
        o.wait = s.wait.map(|n| (n, s.wait_timeout()));
        o.server_options = sc.node_config_options();
        o
    }
}

/// A node's cluster bus: the real port and its switchboard.
struct Bus {
    port: u16,
    held: Option<std::net::TcpListener>,
    board: Switchboard,
}

/// A running Redis Cluster.
pub struct RedisCluster {
    opts: ClusterOptions,
    nodes: Vec<Proc>,
    buses: Vec<Bus>,
    /// Shard s (1-based) = `groups[s-1]`: its creation-time primary first.
    groups: Vec<Vec<u32>>,
}

impl RedisCluster {
    pub async fn start(opts: ClusterOptions) -> Result<RedisCluster, SystemError> {
        let bin = which(&opts.server_bin)?;
        let cli = which(&opts.cli_bin)?;
        let n = opts.shards * opts.replicas;
        let ids: Vec<u32> = (1..=n).collect();
        let mut nodes = Vec::new();
        let mut buses = Vec::new();
        for id in &ids {
            let dir = opts.dir.join(format!("n{id}"));
            let p = Proc::new(format!("n{id} redis-server"), *id, dir, &ids).await?;
            let (port, held) = hold_port(p.ip)?;
            let board = Switchboard::start(SocketAddr::from((p.ip, port)), &ids, b"")
                .await
                .map_err(io("starting a bus switchboard"))?;
            buses.push(Bus {
                port,
                held: Some(held),
                board,
            });
            nodes.push(p);
        }
        for (p, bus) in nodes.iter_mut().zip(&buses) {
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
                "cluster-enabled yes".into(),
                "cluster-config-file nodes.conf".into(),
                format!("cluster-node-timeout {}", opts.node_timeout.as_millis()),
                format!("cluster-port {}", bus.port),
                "cluster-announce-ip 127.0.0.1".into(),
                format!("cluster-announce-port {}", p.public_port()),
                format!(
                    "cluster-announce-bus-port {}",
                    bus.board.listen_addr().port()
                ),
            ];
            if let Some(m) = opts.min_replicas_to_write {
                conf.push(format!("min-replicas-to-write {m}"));
                conf.push("min-replicas-max-lag 10".into());
            }
            for (k, v) in &opts.server_options {
                conf.push(format!("{k} {}", conf_value(&v.to_string())));
            }
            let file = p.dir.join("redis.conf");
            std::fs::write(&file, conf.join("\n") + "\n")
                .map_err(io(format!("writing {}", file.display())))?;
            p.set_command(bin.clone(), vec![file.display().to_string()]);
        }
        let mut sys = RedisCluster {
            opts,
            nodes,
            buses,
            groups: Vec::new(),
        };
        let limit = sys.opts.ready_timeout;
        for i in 0..sys.nodes.len() {
            sys.buses[i].held = None;
            sys.nodes[i].spawn()?;
        }
        for p in &mut sys.nodes {
            p.wait_ping(limit).await?;
        }
        // redis-cli connects from 127.0.0.1: through the client links.
        let mut cmd = tokio::process::Command::new(&cli);
        cmd.arg("--cluster").arg("create");
        for p in &sys.nodes {
            cmd.arg(p.public_addr());
        }
        cmd.arg("--cluster-replicas")
            .arg((sys.opts.replicas - 1).to_string())
            .arg("--cluster-yes")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let out = tokio::time::timeout(limit, cmd.output())
            .await
            .map_err(|_| SystemError::Setup("redis-cli --cluster create timed out".into()))?
            .map_err(io("running redis-cli --cluster create"))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let created = sys.opts.dir.join("cluster-create.log");
        std::fs::write(&created, &text).map_err(io("writing cluster-create.log"))?;
        if !out.status.success() {
            return Err(SystemError::Setup(format!(
                "redis-cli --cluster create failed ({}); see {}",
                out.status,
                created.display()
            )));
        }
        sys.wait_cluster_ok(limit).await?;
        // Replicas are assigned after the meet: wait until node 1's view has them all.
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match sys.read_groups().await {
                Ok(g) => {
                    sys.groups = g;
                    break;
                }
                Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        sys.wait_replicas_linked(limit).await?;
        Ok(sys)
    }

    /// Waits until every running node says `cluster_state:ok` and knows every node.
    async fn wait_cluster_ok(&self, limit: Duration) -> Result<(), SystemError> {
        let deadline = tokio::time::Instant::now() + limit;
        let want = self.nodes.len().to_string();
        for p in &self.nodes {
            if p.state() != NodeState::Up {
                continue;
            }
            loop {
                let m = cluster_info(p).await.unwrap_or_default();
                if m.get("cluster_state").map(String::as_str) == Some("ok")
                    && m.get("cluster_known_nodes") == Some(&want)
                {
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(SystemError::NotReady {
                        what: format!("{} (cluster_state {:?})", p.what, m.get("cluster_state")),
                        secs: limit.as_secs(),
                        log: p.log.display().to_string(),
                    });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// The shards from `CLUSTER NODES` of node 1: each primary (ordered by its first slot)
    /// with its replicas.
    async fn read_groups(&self) -> Result<Vec<Vec<u32>>, SystemError> {
        let text = match self.nodes[0].call(&["CLUSTER", "NODES"]).await? {
            Frame::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
            other => {
                return Err(SystemError::Setup(format!(
                    "CLUSTER NODES answered {other:?}"
                )))
            }
        };
        let by_port = |addr: &str| -> Option<u32> {
            let port: u16 = addr.split('@').next()?.rsplit(':').next()?.parse().ok()?;
            self.nodes
                .iter()
                .find(|p| p.public_port() == port)
                .map(|p| p.node)
        };
        // (first slot, node id, node name) of primaries; (primary name, id) of replicas.
        let mut primaries: Vec<(u32, u32, String)> = Vec::new();
        let mut replicas: Vec<(String, u32)> = Vec::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 8 {
                continue;
            }
            let Some(id) = by_port(f[1]) else { continue };
            if f[2].contains("master") {
                let first = f
                    .get(8)
                    .and_then(|s| s.split('-').next())
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(u32::MAX);
                primaries.push((first, id, f[0].to_string()));
            } else {
                replicas.push((f[3].to_string(), id));
            }
        }
        primaries.sort();
        let groups: Vec<Vec<u32>> = primaries
            .iter()
            .map(|(_, id, name)| {
                let mut g = vec![*id];
                g.extend(replicas.iter().filter(|(m, _)| m == name).map(|(_, r)| *r));
                g
            })
            .collect();
        if groups.len() != self.opts.shards as usize
            || groups
                .iter()
                .any(|g| g.len() != self.opts.replicas as usize)
        {
            return Err(SystemError::Setup(format!(
                "unexpected cluster layout {groups:?} from CLUSTER NODES:\n{text}"
            )));
        }
        Ok(groups)
    }

    /// Waits until every replica's link to its primary is up (its full sync is done).
    async fn wait_replicas_linked(&self, limit: Duration) -> Result<(), SystemError> {
        let deadline = tokio::time::Instant::now() + limit;
        for g in &self.groups {
            for id in g.iter().skip(1) {
                let p = &self.nodes[self.index(*id)?];
                loop {
                    let up = info(p, "replication").await.is_some_and(|m| {
                        m.get("master_link_status").map(String::as_str) == Some("up")
                    });
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
        }
        Ok(())
    }

    fn index(&self, id: u32) -> Result<usize, SystemError> {
        self.nodes
            .iter()
            .position(|p| p.node == id)
            .ok_or(SystemError::NoSuchNode(id))
    }

    /// The creation-time shards (primary first).
    pub fn groups(&self) -> &[Vec<u32>] {
        &self.groups
    }
}

async fn cluster_info(p: &Proc) -> Option<BTreeMap<String, String>> {
    match p.call(&["CLUSTER", "INFO"]).await {
        Ok(Frame::Bulk(b)) => Some(
            String::from_utf8_lossy(&b)
                .lines()
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect(),
        ),
        _ => None,
    }
}

impl System for RedisCluster {
    fn kind(&self) -> SystemKind {
        SystemKind::RedisCluster
    }
    fn ids(&self) -> Vec<u32> {
        self.nodes.iter().map(|p| p.node).collect()
    }
    fn shards(&self) -> u32 {
        self.groups.len() as u32
    }
    fn shard_ids(&self, s: u32) -> Vec<u32> {
        self.groups
            .get((s as usize).wrapping_sub(1))
            .cloned()
            .unwrap_or_default()
    }
    fn state(&self, id: u32) -> NodeState {
        self.index(id)
            .map(|i| self.nodes[i].state())
            .unwrap_or(NodeState::Down)
    }
    fn kill(&mut self, id: u32) -> BoxFuture<'_, Result<bool, SystemError>> {
        Box::pin(async move {
            let i = self.index(id)?;
            Ok(self.nodes[i].kill().await)
        })
    }
    fn terminate(&mut self, id: u32) -> BoxFuture<'_, Result<Option<String>, SystemError>> {
        Box::pin(async move {
            let i = self.index(id)?;
            Ok(self.nodes[i].terminate(Duration::from_secs(10)).await)
        })
    }
    fn restart(&mut self, id: u32) -> BoxFuture<'_, Result<bool, SystemError>> {
        Box::pin(async move {
            let i = self.index(id)?;
            if self.nodes[i].state() != NodeState::Down {
                return Ok(false);
            }
            let limit = self.opts.ready_timeout;
            self.nodes[i].spawn()?;
            self.nodes[i].wait_ping(limit).await?;
            Ok(true)
        })
    }
    fn pause(&mut self, id: u32) -> Result<bool, SystemError> {
        let i = self.index(id)?;
        Ok(self.nodes[i].pause())
    }
    fn resume(&mut self, id: u32) -> Result<bool, SystemError> {
        let i = self.index(id)?;
        Ok(self.nodes[i].resume())
    }
    fn leader_of(&self, s: u32) -> BoxFuture<'_, Option<u32>> {
        Box::pin(async move {
            // Among the shard's running members that say role:master, the one with the
            // highest config epoch (a partitioned old primary keeps saying master).
            let mut best: Option<(u64, u32)> = None;
            for id in self.shard_ids(s) {
                let Ok(i) = self.index(id) else { continue };
                let p = &self.nodes[i];
                if p.state() != NodeState::Up {
                    continue;
                }
                let master = info(p, "replication")
                    .await
                    .is_some_and(|m| m.get("role").map(String::as_str) == Some("master"));
                if !master {
                    continue;
                }
                let epoch = cluster_info(p)
                    .await
                    .and_then(|m| m.get("cluster_my_epoch").and_then(|e| e.parse().ok()))
                    .unwrap_or(0);
                if best.is_none_or(|(e, _)| epoch > e) {
                    best = Some((epoch, id));
                }
            }
            best.map(|(_, id)| id)
        })
    }
    fn wait_leader(&self, limit: Duration) -> BoxFuture<'_, Result<u32, SystemError>> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + limit;
            let mut first = None;
            for s in 1..=self.shards() {
                loop {
                    if let Some(l) = self.leader_of(s).await {
                        first.get_or_insert(l);
                        break;
                    }
                    if tokio::time::Instant::now() >= deadline {
                        return Err(SystemError::Setup(format!(
                            "shard {s} has no primary after {} s",
                            limit.as_secs()
                        )));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            // Serving again: every running node reports cluster_state:ok.
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            self.wait_cluster_ok(left.max(Duration::from_millis(100)))
                .await?;
            first.ok_or_else(|| SystemError::Setup("no shards".into()))
        })
    }
    fn set_link(&self, from: u32, to: u32, s: LinkState) -> bool {
        match self.index(to) {
            Ok(i) if from != 0 => {
                let a = self.nodes[i].board.set(from, s);
                let b = self.buses[i].board.set(from, s);
                a || b
            }
            _ => false,
        }
    }
    fn set_client_link(&self, id: u32, s: LinkState) -> bool {
        self.index(id).is_ok_and(|i| self.nodes[i].board.set(0, s))
    }
    fn set_link_latency(&self, from: u32, to: u32, d: Duration) -> bool {
        match self.index(to) {
            Ok(i) if from != 0 => {
                let a = self.nodes[i].board.set_latency(from, d);
                let b = self.buses[i].board.set_latency(from, d);
                a || b
            }
            _ => false,
        }
    }
    fn has_links(&self) -> bool {
        true
    }
    fn heal_links(&self) {
        for p in &self.nodes {
            p.board.heal();
        }
        for b in &self.buses {
            b.board.heal();
        }
    }
    fn stop_all(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            for p in &mut self.nodes {
                let _ = p.terminate(Duration::from_secs(10)).await;
            }
        })
    }
    fn client_addrs(&self) -> Vec<String> {
        self.nodes.iter().map(Proc::public_addr).collect()
    }
    fn client_config(&self) -> ClientConfig {
        ClientConfig {
            wait: self
                .opts
                .wait
                .map(|(n, t)| (n, t.as_millis().min(u128::from(u64::MAX)) as u64)),
            cas_via_eval: true,
            ..ClientConfig::direct()
        }
    }
    fn pids(&self) -> Vec<u32> {
        self.nodes.iter().filter_map(Proc::pid).collect()
    }
}
