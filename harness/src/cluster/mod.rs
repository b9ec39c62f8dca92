//! Cluster control: spawn, kill (SIGKILL), terminate (SIGTERM), pause
//! (SIGSTOP), resume (SIGCONT) and restart `sdr-node` processes, each with its
//! own config, data dir and log file under the run folder.
//!
//! - [`process`] — supervision: children never outlive the harness
//!   ([`Guarded`], [`kill_all_children`]).
//! - [`config`] — the typed `node.yaml` / `admin.yaml` files, serialised.
//! - this file — the [`Cluster`]: node folders, ports, proxies, start / stop /
//!   signal / restart, leader discovery, membership changes via `sdr-node admin`.
//!
//! Single node (`nodes: 1`): `sdr-node --config F --bind 127.0.0.1 --port P
//! --data-dir D` (first start with port 0; the chosen port is read from
//! `D/port` and reused on restart). Multi-node: one config file per node in the
//! cluster format (docs/chaos.md), every peer link routed through a
//! [`Proxy`] per directed pair.

pub mod config;
pub mod process;

pub use process::{kill_all_children, Guarded};

use crate::client::info_replication_from;
use crate::netns::{self, Cut, NetemSpec, Netns};
use crate::proxy::{LinkState, Proxy};
use crate::scenario::Scalar;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// Cluster control failed (a harness failure, never a verdict).
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("node binary {0} not found (build it with `cargo build --release -p sdr-node` or pass --node-bin)")]
    NoBinary(PathBuf),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("node {id} did not become ready within {secs} s (log: {log})")]
    NotReady { id: u32, secs: u64, log: String },
    #[error("node {id} exited during startup with {status} (log: {log})")]
    Exited {
        id: u32,
        status: String,
        log: String,
    },
    #[error("no node {0}")]
    NoSuchNode(u32),
    #[error("the cluster has no leader after {0} s")]
    NoLeader(u64),
    #[error(transparent)]
    Config(#[from] config::RenderError),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Io { what, source }
}

/// Node state as the harness sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    Up,
    Paused,
    Down,
}

struct Node {
    id: u32,
    /// Raft group (1-based).
    shard: u32,
    dir: PathBuf,
    data_dir: PathBuf,
    config: PathBuf,
    log: PathBuf,
    /// RESP port; 0 until known (single node, first start).
    port: u16,
    /// Raft port (0 for a single node).
    raft_port: u16,
    child: Option<Guarded>,
    paused: bool,
    /// A member the harness keeps running: initial members, added spares;
    /// not spares before `add-node`, not removed members.
    active: bool,
    /// A spare that has been added (it stays a member until removed).
    added: bool,
}

/// Options for [`Cluster::start`].
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    pub bin: PathBuf,
    /// The run folder; node `n` lives in `<dir>/n<N>/`.
    pub dir: PathBuf,
    /// Raft groups (1 = an unsharded cluster).
    pub shards: u32,
    /// Members per shard; node ids run 1.. in shard order.
    pub replicas: u32,
    /// Extra nodes (shard 1), started only by [`Cluster::add_node`].
    pub spares: u32,
    /// Written verbatim into every node config (kebab-case keys).
    pub node_options: BTreeMap<String, Scalar>,
    /// `--unsafe-test-faults` values (planted bugs), passed on the command line.
    pub unsafe_test_faults: Vec<String>,
    pub cluster_id: String,
    pub ready_timeout: Duration,
    /// The network backend (`proxy`: link proxies on 127.0.0.1; `netns`: namespaces).
    pub network: Network,
    /// Start nodes under libfaketime so clock faults can move their wall clock.
    pub fake_clock: bool,
}

/// The network between nodes and clients (scenario `network:`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Network {
    /// Per-directed-link TCP proxies on 127.0.0.1 (no root needed).
    #[default]
    Proxy,
    /// One network namespace per node on a bridge; cuts by nftables, netem by tc (root).
    Netns,
}

/// Where libfaketime is (Debian package `faketime`).
pub const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

impl ClusterOptions {
    /// An unsharded cluster of `nodes` nodes.
    pub fn simple(bin: PathBuf, dir: PathBuf, nodes: u32) -> ClusterOptions {
        ClusterOptions {
            bin,
            dir,
            shards: 1,
            replicas: nodes.max(1),
            spares: 0,
            node_options: BTreeMap::new(),
            unsafe_test_faults: vec![],
            cluster_id: "chaos".into(),
            ready_timeout: Duration::from_secs(30),
            network: Network::Proxy,
            fake_clock: false,
        }
    }
}

/// A local cluster.
pub struct Cluster {
    opts: ClusterOptions,
    nodes: Vec<Node>,
    /// Directed peer links `(from, to)` → proxy. `(0, to)`: the shared inbound
    /// link of a spare (what the group uses after `admin add`).
    links: HashMap<(u32, u32), Proxy>,
    /// Client → node links (the address every node advertises in `-MOVED`).
    client_links: HashMap<u32, Proxy>,
    /// `admin.yaml`: every node with direct addresses, for `sdr-node admin`.
    admin_file: Option<PathBuf>,
    /// Ports reserved for nodes not started yet (released just before the first start,
    /// so that no proxy or client socket of this process takes them meanwhile).
    held: HashMap<u32, Vec<std::net::TcpListener>>,
    /// The namespaces (network: netns); dropped (torn down) after the nodes.
    net: Option<Netns>,
    /// Clock offsets (ms) written to each node's libfaketime file (fake_clock).
    clock: HashMap<u32, i64>,
}

/// Where the `sdr-node` binary is: `explicit` (e.g. `--node-bin`), else
/// `$SDR_NODE_BIN`, else `<root>/target/release/sdr-node`, else
/// `<root>/target/debug/sdr-node` if that one exists. When none exists the
/// release path is returned, so [`Cluster::start`]'s "not found" names it.
/// The one lookup for the binary and the tests (the harness never links the node).
pub fn node_bin(explicit: Option<PathBuf>, root: &Path) -> PathBuf {
    if let Some(p) = explicit.or_else(|| std::env::var_os("SDR_NODE_BIN").map(PathBuf::from)) {
        return p;
    }
    let release = root.join("target/release/sdr-node");
    let debug = root.join("target/debug/sdr-node");
    if !release.is_file() && debug.is_file() {
        debug
    } else {
        release
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), ClusterError> {
    std::fs::write(path, text).map_err(io(format!("writing {}", path.display())))
}

/// A free port, held (bound) until `held` is dropped so that the proxies' own
/// ephemeral ports cannot take it before the node binds it.
fn free_port(held: &mut Vec<std::net::TcpListener>) -> Result<u16, ClusterError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("allocating a port"))?;
    let p = l.local_addr().map_err(io("allocating a port"))?.port();
    held.push(l);
    Ok(p)
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

impl Cluster {
    /// Creates node folders and configs, starts every initial node and waits until every shard has a leader.
    pub async fn start(mut opts: ClusterOptions) -> Result<Cluster, ClusterError> {
        if !opts.bin.is_file() {
            return Err(ClusterError::NoBinary(opts.bin.clone()));
        }
        // Nodes run with their own folder as working directory.
        opts.bin = opts
            .bin
            .canonicalize()
            .map_err(io(format!("resolving {}", opts.bin.display())))?;
        opts.shards = opts.shards.max(1);
        opts.replicas = opts.replicas.max(1);
        let total = opts.shards * opts.replicas;
        let all = total + opts.spares;
        if opts.fake_clock && !Path::new(LIBFAKETIME).is_file() {
            return Err(ClusterError::Io {
                what: "clock faults".into(),
                source: std::io::Error::other(format!(
                    "{LIBFAKETIME} not found (install the Debian package faketime)"
                )),
            });
        }
        let net = match opts.network {
            Network::Proxy => None,
            Network::Netns => {
                let ids: Vec<u32> = (1..=all).collect();
                Some(Netns::create(&ids).map_err(|e| ClusterError::Io {
                    what: "setting up network namespaces".into(),
                    source: std::io::Error::other(e.to_string()),
                })?)
            }
        };
        let mut nodes = Vec::new();
        // Ports stay bound by the harness until their node starts (a spare's until it is added).
        let mut held: HashMap<u32, Vec<std::net::TcpListener>> = HashMap::new();
        for id in 1..=all {
            let held = held.entry(id).or_default();
            let dir = opts.dir.join(format!("n{id}"));
            let data_dir = dir.join("data");
            std::fs::create_dir_all(&data_dir)
                .map_err(io(format!("creating {}", data_dir.display())))?;
            nodes.push(Node {
                id,
                shard: if id <= total {
                    (id - 1) / opts.replicas + 1
                } else {
                    1
                },
                config: dir.join("node.yaml"),
                log: dir.join("node.log"),
                dir,
                data_dir,
                port: if net.is_some() {
                    netns::RESP_PORT
                } else if all == 1 {
                    0
                } else {
                    free_port(held)?
                },
                raft_port: if net.is_some() {
                    netns::RAFT_PORT
                } else if all == 1 {
                    0
                } else {
                    free_port(held)?
                },
                child: None,
                paused: false,
                active: id <= total,
                added: false,
            });
        }
        let mut links = HashMap::new();
        let mut client_links = HashMap::new();
        let mut admin_file = None;
        // A node's own address for peers (netns: its namespace's; else 127.0.0.1).
        let host = |id: u32| -> std::net::IpAddr {
            match &net {
                Some(n) => std::net::IpAddr::V4(n.ip(id)),
                None => std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            }
        };
        // The member ids of every shard; `extra` (a spare's own file) joins shard 1.
        let groups = |extra: Option<u32>| -> Vec<(u32, Vec<u32>)> {
            (1..=opts.shards)
                .map(|s| {
                    let mut v: Vec<u32> = nodes
                        .iter()
                        .filter(|n| n.shard == s && n.id <= total)
                        .map(|n| n.id)
                        .collect();
                    if let Some(e) = extra {
                        if s == 1 {
                            v.push(e);
                        }
                    }
                    (s, v)
                })
                .collect()
        };
        // The groups as one reader sees them: `raft_of(m)` / `client(m)` are its addresses for m.
        let section_groups = |gs: Vec<(u32, Vec<u32>)>,
                              raft_of: &dyn Fn(u32) -> SocketAddr,
                              client: &dyn Fn(u32) -> SocketAddr|
         -> config::Groups {
            let members = |ids: &[u32]| -> Vec<config::Member> {
                ids.iter()
                    .map(|m| config::Member {
                        id: *m,
                        raft: raft_of(*m),
                        client: client(*m),
                    })
                    .collect()
            };
            if opts.shards == 1 {
                config::Groups::Members(members(&gs[0].1))
            } else {
                config::Groups::Shards(
                    gs.iter()
                        .map(|(id, ids)| config::Shard {
                            id: *id,
                            members: members(ids),
                        })
                        .collect(),
                )
            }
        };
        if all > 1 {
            // netns: direct addresses everywhere, the namespaces are the network. Otherwise
            // every raft link (from 0 = the admin CLI for spares) and every client link goes
            // through a proxy the network faults act on.
            if net.is_none() {
                for from in 0..=all {
                    for to in 1..=all {
                        if from != to && (from > 0 || to > total) {
                            let up = local(nodes[(to - 1) as usize].raft_port);
                            let p = Proxy::start(up)
                                .await
                                .map_err(io("starting a link proxy"))?;
                            links.insert((from, to), p);
                        }
                    }
                }
                for n in &nodes {
                    let refusal = format!(
                        "-CLUSTERDOWN harness proxy: n{} is unreachable (nothing was sent to it)\r\n",
                        n.id
                    );
                    let p = Proxy::start_client(local(n.port), refusal.as_bytes())
                        .await
                        .map_err(io("starting a client proxy"))?;
                    client_links.insert(n.id, p);
                }
            }
            let secret = format!("secret-{}", opts.cluster_id);
            // A member's own addresses (what it listens on, what the admin CLI dials).
            let direct = |m: u32| match &net {
                Some(_) => SocketAddr::new(host(m), netns::RAFT_PORT),
                None => local(nodes[(m - 1) as usize].raft_port),
            };
            let direct_client = |m: u32| match &net {
                Some(_) => SocketAddr::new(host(m), netns::RESP_PORT),
                None => local(nodes[(m - 1) as usize].port),
            };
            // Clients (and the nodes' redirects) go through the client proxy when there is one.
            let client_of = |m: u32| {
                client_links
                    .get(&m)
                    .map(Proxy::listen_addr)
                    .unwrap_or_else(|| direct_client(m))
            };
            let options = config::file_options(&opts.node_options);
            for node in &nodes {
                let me = node.id;
                // How `me` reaches m: through the (me, m) link proxy when there is one.
                let raft_of = |m: u32| -> SocketAddr {
                    if m == me {
                        direct(m)
                    } else {
                        links
                            .get(&(me, m))
                            .map(Proxy::listen_addr)
                            .unwrap_or_else(|| direct(m))
                    }
                };
                let file = config::NodeFile {
                    node_id: node.id,
                    data_dir: node.data_dir.display().to_string(),
                    bind: host(node.id).to_string(),
                    port: node.port,
                    options: options.clone(),
                    cluster: config::ClusterSection {
                        id: opts.cluster_id.clone(),
                        secret: secret.clone(),
                        raft_listen: Some(direct(node.id)),
                        groups: section_groups(
                            groups((node.id > total).then_some(node.id)),
                            &raft_of,
                            &client_of,
                        ),
                    },
                };
                write_file(&node.config, &file.render()?)?;
            }
            // The control plane (admin CLI) reaches every node directly.
            let admin = config::AdminFile {
                cluster: config::ClusterSection {
                    id: opts.cluster_id.clone(),
                    secret: secret.clone(),
                    raft_listen: None,
                    groups: section_groups(groups(None), &direct, &direct_client),
                },
            };
            let f = opts.dir.join("admin.yaml");
            write_file(&f, &admin.render()?)?;
            admin_file = Some(f);
        } else {
            let node = &nodes[0];
            write_file(&node.config, &config::single_node_file(&opts.node_options)?)?;
        }
        let mut c = Cluster {
            opts,
            nodes,
            links,
            client_links,
            admin_file,
            held,
            net,
            clock: HashMap::new(),
        };
        if c.opts.fake_clock {
            for id in 1..=all {
                c.write_clock(id, 0)?;
            }
        }
        for id in c.ids() {
            c.spawn(id)?;
        }
        for id in c.ids() {
            c.wait_node_serving(id, c.opts.ready_timeout).await?;
        }
        c.wait_leader(c.opts.ready_timeout).await?;
        Ok(c)
    }

    /// Number of active members.
    pub fn size(&self) -> u32 {
        self.nodes.iter().filter(|n| n.active).count() as u32
    }
    /// Ids of active members (running or not), in order.
    pub fn ids(&self) -> Vec<u32> {
        self.nodes
            .iter()
            .filter(|n| n.active)
            .map(|n| n.id)
            .collect()
    }
    pub fn shards(&self) -> u32 {
        self.opts.shards
    }
    /// The shard of node `id`.
    pub fn shard_of(&self, id: u32) -> u32 {
        self.node(id).map(|n| n.shard).unwrap_or(1)
    }
    /// Active members of shard `s`.
    pub fn shard_ids(&self, s: u32) -> Vec<u32> {
        self.nodes
            .iter()
            .filter(|n| n.active && n.shard == s)
            .map(|n| n.id)
            .collect()
    }
    /// Spares not yet added.
    pub fn spare_ids(&self) -> Vec<u32> {
        let total = self.opts.shards * self.opts.replicas;
        self.nodes
            .iter()
            .filter(|n| n.id > total && !n.added && !n.active)
            .map(|n| n.id)
            .collect()
    }
    /// The file for `sdr-node admin --cluster` (multi-node clusters).
    pub fn admin_file(&self) -> Option<&Path> {
        self.admin_file.as_deref()
    }

    fn node(&self, id: u32) -> Result<&Node, ClusterError> {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .ok_or(ClusterError::NoSuchNode(id))
    }
    fn node_mut(&mut self, id: u32) -> Result<&mut Node, ClusterError> {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .ok_or(ClusterError::NoSuchNode(id))
    }

    pub fn state(&self, id: u32) -> NodeState {
        match self.node(id) {
            Ok(n) if n.child.is_some() && n.paused => NodeState::Paused,
            Ok(n) if n.child.is_some() => NodeState::Up,
            _ => NodeState::Down,
        }
    }

    fn client_addr(&self, n: &Node) -> String {
        if let Some(net) = &self.net {
            return format!("{}:{}", net.ip(n.id), n.port);
        }
        match self.client_links.get(&n.id) {
            Some(p) => p.listen_addr().to_string(),
            None => format!("127.0.0.1:{}", n.port),
        }
    }

    /// Pids of every running node process (tests check cleanup with them).
    pub fn pids(&self) -> Vec<u32> {
        self.nodes
            .iter()
            .filter_map(|n| n.child.as_ref().map(Guarded::pid))
            .collect()
    }

    /// Client (RESP) address of every active node, in id order (through the client proxies).
    pub fn client_addrs(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.active)
            .map(|n| self.client_addr(n))
            .collect()
    }

    /// Client addresses by shard: `(shard, [(id, address)])`.
    pub fn client_addrs_by_shard(&self) -> Vec<(u32, Vec<(u32, String)>)> {
        (1..=self.opts.shards)
            .map(|s| {
                (
                    s,
                    self.nodes
                        .iter()
                        .filter(|n| n.active && n.shard == s)
                        .map(|n| (n.id, self.client_addr(n)))
                        .collect(),
                )
            })
            .collect()
    }

    /// The node's own RESP address (not proxied; the harness's control plane).
    fn direct_addr(&self, n: &Node) -> String {
        match &self.net {
            Some(net) => format!("{}:{}", net.ip(n.id), n.port),
            None => format!("127.0.0.1:{}", n.port),
        }
    }

    /// The control plane's source address (netns: one that no cut matches).
    fn control_from(&self) -> Option<std::net::IpAddr> {
        self.net
            .as_ref()
            .map(|n| std::net::IpAddr::V4(n.control_ip()))
    }

    /// The network namespaces (network: netns).
    pub fn netns(&self) -> Option<&Netns> {
        self.net.as_ref()
    }

    fn clock_file(&self, id: u32) -> Result<PathBuf, ClusterError> {
        Ok(self.node(id)?.dir.join("faketime.rc"))
    }

    /// Writes node `id`'s libfaketime offset file (atomically: a rename), so the
    /// running node's wall clock reads `real + offset_ms` from its next clock read on.
    fn write_clock(&mut self, id: u32, offset_ms: i64) -> Result<(), ClusterError> {
        let f = self.clock_file(id)?;
        let tmp = f.with_extension("rc.tmp");
        let sign = if offset_ms < 0 { '-' } else { '+' };
        let a = offset_ms.unsigned_abs();
        write_file(&tmp, &format!("{sign}{}.{:03}\n", a / 1000, a % 1000))?;
        std::fs::rename(&tmp, &f).map_err(io(format!("renaming {}", tmp.display())))?;
        self.clock.insert(id, offset_ms);
        Ok(())
    }

    /// Sets node `id`'s wall-clock offset (needs `fake_clock`). Returns the previous one.
    pub fn set_clock_offset(&mut self, id: u32, offset_ms: i64) -> Result<i64, String> {
        if !self.opts.fake_clock {
            return Err("the cluster was not started with fake clocks".into());
        }
        let before = self.clock.get(&id).copied().unwrap_or(0);
        self.write_clock(id, offset_ms).map_err(|e| e.to_string())?;
        Ok(before)
    }

    /// Node `id`'s current wall-clock offset in ms (0 without fake clocks).
    pub fn clock_offset(&self, id: u32) -> i64 {
        self.clock.get(&id).copied().unwrap_or(0)
    }

    /// Installs or removes netem on node `id` (network: netns only).
    pub fn set_netem(&self, id: u32, spec: Option<&NetemSpec>) -> Result<String, String> {
        match &self.net {
            Some(n) => n.set_netem(id, spec).map_err(|e| e.to_string()),
            None => Err("netem needs `network: netns`".into()),
        }
    }

    pub fn data_dir(&self, id: u32) -> Result<PathBuf, ClusterError> {
        Ok(self.node(id)?.data_dir.clone())
    }

    fn spawn(&mut self, id: u32) -> Result<(), ClusterError> {
        let single = self.nodes.len() == 1;
        let bin = self.opts.bin.clone();
        let ns_file = match &self.net {
            Some(n) => Some(
                std::fs::File::open(n.ns_path(id))
                    .map_err(io(format!("opening {}", n.ns_path(id).display())))?,
            ),
            None => None,
        };
        let bind = match &self.net {
            Some(n) => n.ip(id).to_string(),
            None => "127.0.0.1".into(),
        };
        let clock_file = self
            .opts
            .fake_clock
            .then(|| self.clock_file(id))
            .transpose()?;
        let faults = self.opts.unsafe_test_faults.join(",");
        let node = self.node_mut(id)?;
        if node.child.is_some() {
            return Ok(());
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .map_err(io(format!("opening {}", node.log.display())))?;
        let log2 = log.try_clone().map_err(io("cloning the log handle"))?;
        self.held.remove(&id);
        let node = self.node_mut(id)?;
        let mut cmd = Command::new(&bin);
        cmd.arg("--config").arg(&node.config);
        if single {
            let _ = std::fs::remove_file(node.data_dir.join("port"));
            cmd.arg("--bind")
                .arg(&bind)
                .arg("--port")
                .arg(node.port.to_string());
            cmd.arg("--data-dir").arg(&node.data_dir);
        }
        if !faults.is_empty() {
            cmd.arg("--unsafe-test-faults").arg(&faults);
        }
        if let Some(f) = &clock_file {
            // The wall clock follows the file; the monotonic clock (timers, Raft's election
            // and heartbeat timing, tokio) is left real, as Jepsen's clock nemesis does.
            cmd.env("LD_PRELOAD", LIBFAKETIME)
                .env("FAKETIME_TIMESTAMP_FILE", f)
                .env("FAKETIME_NO_CACHE", "1")
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
                .env("FAKETIME_DONT_RESET", "1");
        }
        if let Some(f) = &ns_file {
            use std::os::fd::AsRawFd;
            let fd = f.as_raw_fd();
            // SAFETY: setns is async-signal-safe; `fd` stays open until spawn returns
            // (it is O_CLOEXEC, so the node does not inherit it). The node process itself
            // enters the namespace, so its pid is the one the harness signals.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        cmd.current_dir(&node.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        let child = Guarded::spawn(cmd).map_err(io(format!("spawning {}", bin.display())))?;
        drop(ns_file);
        node.child = Some(child);
        node.paused = false;
        Ok(())
    }

    /// Waits until node `id` answers `INFO replication` (learning its port first if needed).
    pub async fn wait_node_serving(
        &mut self,
        id: u32,
        limit: Duration,
    ) -> Result<(), ClusterError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let node = self.node_mut(id)?;
            let log = node.log.display().to_string();
            if let Some(c) = node.child.as_mut() {
                if let Some(status) = c.try_exited() {
                    node.child = None;
                    return Err(ClusterError::Exited { id, status, log });
                }
            }
            if node.port == 0 {
                if let Ok(s) = std::fs::read_to_string(node.data_dir.join("port")) {
                    node.port = s.trim().parse().unwrap_or(0);
                }
            }
            let port = node.port;
            if port != 0 {
                let n = self.node(id)?;
                let addr = self.direct_addr(n);
                if info_replication_from(&addr, self.control_from(), Duration::from_millis(500))
                    .await
                    .is_ok()
                {
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClusterError::NotReady {
                    id,
                    secs: limit.as_secs(),
                    log,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The id of a node of shard `s` that reports `role:master`, if any (asks live members).
    pub async fn leader_of(&self, s: u32) -> Option<u32> {
        for n in &self.nodes {
            if !n.active || n.shard != s || n.child.is_none() || n.paused || n.port == 0 {
                continue;
            }
            if let Ok(info) = info_replication_from(
                &self.direct_addr(n),
                self.control_from(),
                Duration::from_millis(500),
            )
            .await
            {
                if info.get("role").map(String::as_str) == Some("master") {
                    return Some(n.id);
                }
            }
        }
        None
    }

    /// The leader of shard 1 (of the only group, unsharded).
    pub async fn leader(&self) -> Option<u32> {
        self.leader_of(1).await
    }

    /// The leader of every shard that has one.
    pub async fn leaders(&self) -> Vec<u32> {
        let mut v = Vec::new();
        for s in 1..=self.opts.shards {
            if let Some(l) = self.leader_of(s).await {
                v.push(l);
            }
        }
        v
    }

    /// Waits until every shard has a leader; returns shard 1's.
    pub async fn wait_leader(&self, limit: Duration) -> Result<u32, ClusterError> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut first = None;
        for s in 1..=self.opts.shards {
            loop {
                if let Some(l) = self.leader_of(s).await {
                    first.get_or_insert(l);
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(ClusterError::NoLeader(limit.as_secs()));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        first.ok_or(ClusterError::NoLeader(limit.as_secs()))
    }

    /// SIGKILL node `id` (no-op if down). Returns whether it was running.
    pub async fn kill(&mut self, id: u32) -> Result<bool, ClusterError> {
        let node = self.node_mut(id)?;
        node.paused = false;
        match node.child.take() {
            Some(c) => {
                c.kill().await;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// SIGTERM node `id` and wait for it to exit (SIGKILL after 10 s).
    pub async fn terminate(&mut self, id: u32) -> Result<Option<String>, ClusterError> {
        let node = self.node_mut(id)?;
        node.paused = false;
        match node.child.take() {
            Some(c) => Ok(Some(c.terminate(Duration::from_secs(10)).await)),
            None => Ok(None),
        }
    }

    /// Starts node `id` again with the same config and data, and waits until it serves.
    pub async fn restart(&mut self, id: u32) -> Result<bool, ClusterError> {
        if self.node(id)?.child.is_some() {
            return Ok(false);
        }
        self.spawn(id)?;
        let limit = self.opts.ready_timeout;
        self.wait_node_serving(id, limit).await?;
        Ok(true)
    }

    /// SIGSTOP. Returns whether the signal was delivered to a running, unpaused node.
    pub fn pause(&mut self, id: u32) -> Result<bool, ClusterError> {
        let node = self.node_mut(id)?;
        match &node.child {
            Some(c) if !node.paused => {
                let ok = c.signal(libc::SIGSTOP);
                node.paused = ok;
                Ok(ok)
            }
            _ => Ok(false),
        }
    }

    /// SIGCONT. Returns whether the node was paused.
    pub fn resume(&mut self, id: u32) -> Result<bool, ClusterError> {
        let node = self.node_mut(id)?;
        match &node.child {
            Some(c) if node.paused => {
                c.signal(libc::SIGCONT);
                node.paused = false;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Sets the state of the directed link `from → to`. Returns false if there is no such link.
    pub fn set_link(&self, from: u32, to: u32, s: LinkState) -> bool {
        if let Some(n) = &self.net {
            return from != to && n.set_link(from, to, cut_of(s)).is_ok();
        }
        match self.links.get(&(from, to)) {
            Some(p) => {
                p.set(s);
                true
            }
            None => false,
        }
    }

    /// Sets the state of the client link to node `id` (every client's traffic to it).
    pub fn set_client_link(&self, id: u32, s: LinkState) -> bool {
        if let Some(n) = &self.net {
            return n.set_client_link(id, cut_of(s)).is_ok();
        }
        match self.client_links.get(&id) {
            Some(p) => {
                p.set(s);
                true
            }
            None => false,
        }
    }

    /// Adds latency to the directed link `from → to`.
    pub fn set_link_latency(&self, from: u32, to: u32, d: Duration) -> bool {
        match self.links.get(&(from, to)) {
            Some(p) => {
                p.set_latency(d);
                true
            }
            None => false,
        }
    }

    pub fn has_links(&self) -> bool {
        match &self.net {
            Some(n) => n.nodes().len() > 1,
            None => !self.links.is_empty(),
        }
    }

    /// Heals every link (peer and client).
    pub fn heal_links(&self) {
        if let Some(n) = &self.net {
            let _ = n.heal();
        }
        for p in self.links.values().chain(self.client_links.values()) {
            p.heal();
        }
    }

    /// Heals links, resumes paused nodes and restarts down members.
    pub async fn heal_all(&mut self) -> Result<(), ClusterError> {
        self.heal_links();
        for id in self.ids() {
            self.resume(id)?;
        }
        for id in self.ids() {
            self.restart(id).await?;
        }
        Ok(())
    }

    /// Stops every node cleanly (SIGCONT + SIGTERM, SIGKILL after a grace period).
    pub async fn stop_all(&mut self) {
        let all: Vec<u32> = self.nodes.iter().map(|n| n.id).collect();
        for id in all {
            let _ = self.terminate(id).await;
        }
    }

    /// The newest `*.wal` file in `<data-dir>/wal/` of node `id`.
    pub fn newest_wal_segment(&self, id: u32) -> Result<Option<PathBuf>, ClusterError> {
        newest_wal_segment(&self.node(id)?.data_dir.join("wal"))
    }

    /// Runs `sdr-node admin --cluster admin.yaml ARGS` (bounded); Ok(output) on success.
    async fn admin(&self, shard: u32, args: &[String]) -> Result<String, String> {
        let file = self
            .admin_file
            .as_ref()
            .ok_or("single node: no membership")?;
        let mut cmd = Command::new(&self.opts.bin);
        cmd.arg("admin")
            .arg("--cluster")
            .arg(file)
            .arg("--shard")
            .arg(shard.to_string())
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let out = match tokio::time::timeout(Duration::from_secs(30), cmd.output()).await {
            Err(_) => return Err(format!("`admin {}` timed out after 30 s", args.join(" "))),
            Ok(Err(e)) => return Err(format!("running admin: {e}")),
            Ok(Ok(o)) => o,
        };
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = text.trim().replace('\n', " | ");
        if out.status.success() {
            Ok(text)
        } else {
            Err(format!("`admin {}` failed: {text}", args.join(" ")))
        }
    }

    /// Starts spare `id` (a file that lists it), waits until it serves, and adds it to
    /// shard 1 with `sdr-node admin add` (learner → catch-up → voter).
    pub async fn add_node(&mut self, id: u32) -> Result<String, String> {
        let (shard, raft, client) = {
            let n = self.node(id).map_err(|e| e.to_string())?;
            let raft = match &self.net {
                Some(net) if self.spare_ids().contains(&id) => {
                    SocketAddr::new(std::net::IpAddr::V4(net.ip(id)), netns::RAFT_PORT)
                }
                Some(_) => return Err(format!("n{id} is not a spare")),
                None => self
                    .links
                    .get(&(0, id))
                    .map(Proxy::listen_addr)
                    .ok_or(format!("n{id} is not a spare"))?,
            };
            (n.shard, raft, self.client_addr(n))
        };
        self.restart(id).await.map_err(|e| e.to_string())?;
        {
            let n = self.node_mut(id).map_err(|e| e.to_string())?;
            n.active = true;
            n.added = true;
        }
        let args = [
            "add".into(),
            "--id".into(),
            id.to_string(),
            "--raft".into(),
            raft.to_string(),
            "--client".into(),
            client,
        ];
        self.admin(shard, &args).await
    }

    /// Removes member `id` from its group with `sdr-node admin remove`, then stops it
    /// (it is no longer restarted by heals).
    pub async fn remove_node(&mut self, id: u32) -> Result<String, String> {
        let shard = self.node(id).map_err(|e| e.to_string())?.shard;
        let out = self
            .admin(shard, &["remove".into(), "--id".into(), id.to_string()])
            .await?;
        if let Ok(n) = self.node_mut(id) {
            n.active = false;
        }
        let _ = self.terminate(id).await;
        Ok(out)
    }
}

/// A proxy link state as a netns cut (`Pass` = no cut).
fn cut_of(s: LinkState) -> Option<Cut> {
    match s {
        LinkState::Pass => None,
        LinkState::Reject => Some(Cut::Reject),
        LinkState::Blackhole => Some(Cut::Drop),
    }
}

/// The newest (by name, then mtime) `*.wal` file in `dir`.
pub fn newest_wal_segment(dir: &Path) -> Result<Option<PathBuf>, ClusterError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ClusterError::Io {
                what: format!("listing {}", dir.display()),
                source: e,
            })
        }
    };
    let mut best: Option<PathBuf> = None;
    for e in rd.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "wal")
            && p.is_file()
            && best.as_ref().is_none_or(|b| p > *b)
        {
            best = Some(p);
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_bin_lookup_order() {
        let d = tempfile::tempdir().expect("tempdir");
        let explicit = PathBuf::from("/x/sdr-node");
        assert_eq!(node_bin(Some(explicit.clone()), d.path()), explicit);
        if std::env::var_os("SDR_NODE_BIN").is_some() {
            return; // the environment decides the rest
        }
        let release = d.path().join("target/release/sdr-node");
        let debug = d.path().join("target/debug/sdr-node");
        assert_eq!(
            node_bin(None, d.path()),
            release,
            "nothing built: name release"
        );
        std::fs::create_dir_all(debug.parent().expect("parent")).expect("mkdir");
        std::fs::write(&debug, b"").expect("write");
        assert_eq!(node_bin(None, d.path()), debug, "only a debug build");
        std::fs::create_dir_all(release.parent().expect("parent")).expect("mkdir");
        std::fs::write(&release, b"").expect("write");
        assert_eq!(node_bin(None, d.path()), release, "release preferred");
    }

    #[test]
    fn newest_segment_by_name() {
        let d = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            newest_wal_segment(&d.path().join("nope")).expect("ok"),
            None
        );
        for n in [
            "00000000000000000000.wal",
            "00000000000000000042.wal",
            "zzz.tmp",
        ] {
            std::fs::write(d.path().join(n), b"x").expect("write");
        }
        let p = newest_wal_segment(d.path()).expect("ok").expect("some");
        assert!(p.ends_with("00000000000000000042.wal"));
    }
}
