//! Cluster control: spawn, kill (SIGKILL), terminate (SIGTERM), pause
//! (SIGSTOP), resume (SIGCONT) and restart `sdr-node` processes, each with its
//! own config, data dir and log file under the run folder.
//!
//! Children never outlive the harness: every child is spawned with
//! `kill_on_drop` (drop, including unwinding after a panic), in its own process
//! group (a terminal Ctrl-C does not reach it directly), with
//! `PR_SET_PDEATHSIG = SIGKILL` (the harness dying kills it), and registered
//! so a Ctrl-C handler can kill them all ([`kill_all_children`]).
//!
//! Single node (`nodes: 1`): `sdr-node --config F --bind 127.0.0.1 --port P
//! --data-dir D` (first start with port 0; the chosen port is read from
//! `D/port` and reused on restart). Multi-node: one config file per node in the
//! cluster format (docs/chaos.md), every peer link routed through a
//! [`Proxy`] per directed pair.

use crate::client::info_replication;
use crate::proxy::{LinkState, Proxy};
use crate::scenario::Scalar;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;
use tokio::process::{Child, Command};

/// Cluster control failed (a harness failure, never a verdict).
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("node binary {0} not found (build it with `cargo build --release -p sdr-node` or pass --node-bin)")]
    NoBinary(PathBuf),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("node {id} did not become ready within {secs} s (log: {log})")]
    NotReady { id: u32, secs: u64, log: String },
    #[error("node {id} exited during startup with {status} (log: {log})")]
    Exited { id: u32, status: String, log: String },
    #[error("no node {0}")]
    NoSuchNode(u32),
    #[error("the cluster has no leader after {0} s")]
    NoLeader(u64),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Io { what, source }
}

static CHILDREN: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

fn register(pid: u32) {
    if let Ok(mut g) = CHILDREN.lock() {
        g.insert(pid);
    }
}

fn unregister(pid: u32) {
    if let Ok(mut g) = CHILDREN.lock() {
        g.remove(&pid);
    }
}

/// SIGKILLs every child the harness has spawned and not yet reaped (for signal handlers).
pub fn kill_all_children() -> usize {
    let pids: Vec<u32> = CHILDREN.lock().map(|g| g.iter().copied().collect()).unwrap_or_default();
    for &p in &pids {
        signal(p, libc::SIGKILL);
    }
    pids.len()
}

fn signal(pid: u32, sig: libc::c_int) -> bool {
    let Ok(p) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(p, sig) == 0 }
}

/// A spawned child that is SIGKILLed when dropped.
pub struct Guarded {
    child: Child,
    pid: u32,
}

impl Guarded {
    /// Spawns `cmd` with kill-on-drop, its own process group and a parent-death signal.
    pub fn spawn(mut cmd: Command) -> std::io::Result<Guarded> {
        cmd.kill_on_drop(true);
        // SAFETY: the closure only calls async-signal-safe functions (setpgid, prctl).
        unsafe {
            cmd.pre_exec(|| {
                libc::setpgid(0, 0);
                #[cfg(target_os = "linux")]
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0);
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        let pid = child.id().ok_or_else(|| std::io::Error::other("child exited before its pid was known"))?;
        register(pid);
        Ok(Guarded { child, pid })
    }
    pub fn pid(&self) -> u32 {
        self.pid
    }
    pub fn signal(&self, sig: libc::c_int) -> bool {
        signal(self.pid, sig)
    }
    /// SIGKILL and reap.
    pub async fn kill(mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait().await;
        unregister(self.pid);
    }
    /// SIGTERM (and SIGCONT, in case it is stopped); SIGKILL after `grace`. Returns the exit status text.
    pub async fn terminate(mut self, grace: Duration) -> String {
        self.signal(libc::SIGTERM);
        self.signal(libc::SIGCONT);
        let st = match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(Ok(s)) => s.to_string(),
            _ => {
                self.signal(libc::SIGKILL);
                let _ = self.child.wait().await;
                "killed after the grace period".into()
            }
        };
        unregister(self.pid);
        st
    }
    /// `Some(status)` if the child has exited.
    pub fn try_exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(s)) => Some(s.to_string()),
            _ => None,
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        // kill_on_drop sends SIGKILL as well; do it explicitly so it also happens
        // if tokio's handle was already taken apart.
        self.signal(libc::SIGKILL);
        unregister(self.pid);
    }
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
    dir: PathBuf,
    data_dir: PathBuf,
    config: PathBuf,
    log: PathBuf,
    /// RESP port; 0 until known (single node, first start).
    port: u16,
    child: Option<Guarded>,
    paused: bool,
}

/// Options for [`Cluster::start`].
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    pub bin: PathBuf,
    /// The run folder; node `n` lives in `<dir>/n<N>/`.
    pub dir: PathBuf,
    pub nodes: u32,
    /// Written verbatim into every node config (kebab-case keys).
    pub node_options: BTreeMap<String, Scalar>,
    pub cluster_id: String,
    pub ready_timeout: Duration,
}

/// A local cluster.
pub struct Cluster {
    opts: ClusterOptions,
    nodes: Vec<Node>,
    /// Directed peer links `(from, to)` → proxy.
    links: HashMap<(u32, u32), Proxy>,
}

fn yaml_scalar(s: &Scalar) -> String {
    match s {
        Scalar::Str(v) => serde_json::Value::from(v.as_str()).to_string(),
        other => other.to_string(),
    }
}

fn free_port() -> Result<u16, ClusterError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("allocating a port"))?;
    Ok(l.local_addr().map_err(io("allocating a port"))?.port())
}

impl Cluster {
    /// Creates node folders and configs, starts every node and waits until the cluster is ready.
    pub async fn start(mut opts: ClusterOptions) -> Result<Cluster, ClusterError> {
        if !opts.bin.is_file() {
            return Err(ClusterError::NoBinary(opts.bin.clone()));
        }
        // Nodes run with their own folder as working directory.
        opts.bin = opts.bin.canonicalize().map_err(io(format!("resolving {}", opts.bin.display())))?;
        let n = opts.nodes.max(1);
        let mut nodes = Vec::new();
        for id in 1..=n {
            let dir = opts.dir.join(format!("n{id}"));
            let data_dir = dir.join("data");
            std::fs::create_dir_all(&data_dir).map_err(io(format!("creating {}", data_dir.display())))?;
            nodes.push(Node {
                id,
                config: dir.join("node.yaml"),
                log: dir.join("node.log"),
                dir,
                data_dir,
                port: if n == 1 { 0 } else { free_port()? },
                child: None,
                paused: false,
            });
        }
        let mut links = HashMap::new();
        if n > 1 {
            let raft: Vec<u16> = (0..n).map(|_| free_port()).collect::<Result<_, _>>()?;
            let raft_addr = |id: u32| -> SocketAddr { SocketAddr::from(([127, 0, 0, 1], raft[(id - 1) as usize])) };
            for from in 1..=n {
                for to in 1..=n {
                    if from != to {
                        let p = Proxy::start(raft_addr(to)).await.map_err(io("starting a link proxy"))?;
                        links.insert((from, to), p);
                    }
                }
            }
            let secret = format!("secret-{}", opts.cluster_id);
            for node in &nodes {
                let mut y = String::new();
                y.push_str(&format!("node-id: {}\n", node.id));
                y.push_str(&format!("data-dir: {}\n", serde_json::Value::from(node.data_dir.display().to_string())));
                y.push_str("bind: 127.0.0.1\n");
                y.push_str(&format!("port: {}\n", node.port));
                for (k, v) in &opts.node_options {
                    y.push_str(&format!("{k}: {}\n", yaml_scalar(v)));
                }
                y.push_str("cluster:\n");
                y.push_str(&format!("  id: {}\n", serde_json::Value::from(opts.cluster_id.as_str())));
                y.push_str(&format!("  secret: {}\n", serde_json::Value::from(secret.as_str())));
                y.push_str(&format!("  raft-listen: \"{}\"\n", raft_addr(node.id)));
                y.push_str("  members:\n");
                for m in &nodes {
                    let r = if m.id == node.id {
                        raft_addr(m.id)
                    } else {
                        links.get(&(node.id, m.id)).map(Proxy::listen_addr).unwrap_or_else(|| raft_addr(m.id))
                    };
                    y.push_str(&format!(
                        "    - {{id: {}, raft: \"{}\", client: \"127.0.0.1:{}\"}}\n",
                        m.id, r, m.port
                    ));
                }
                std::fs::write(&node.config, y).map_err(io(format!("writing {}", node.config.display())))?;
            }
        } else {
            let node = &nodes[0];
            let mut y = String::from("# single node: bind, port and data-dir are passed as flags\n");
            for (k, v) in &opts.node_options {
                y.push_str(&format!("{k}: {}\n", yaml_scalar(v)));
            }
            std::fs::write(&node.config, y).map_err(io(format!("writing {}", node.config.display())))?;
        }
        let mut c = Cluster { opts, nodes, links };
        for id in 1..=n {
            c.spawn(id)?;
        }
        for id in 1..=n {
            c.wait_node_serving(id, c.opts.ready_timeout).await?;
        }
        c.wait_leader(c.opts.ready_timeout).await?;
        Ok(c)
    }

    pub fn size(&self) -> u32 {
        self.nodes.len() as u32
    }
    pub fn ids(&self) -> Vec<u32> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    fn node(&self, id: u32) -> Result<&Node, ClusterError> {
        self.nodes.iter().find(|n| n.id == id).ok_or(ClusterError::NoSuchNode(id))
    }
    fn node_mut(&mut self, id: u32) -> Result<&mut Node, ClusterError> {
        self.nodes.iter_mut().find(|n| n.id == id).ok_or(ClusterError::NoSuchNode(id))
    }

    pub fn state(&self, id: u32) -> NodeState {
        match self.node(id) {
            Ok(n) if n.child.is_some() && n.paused => NodeState::Paused,
            Ok(n) if n.child.is_some() => NodeState::Up,
            _ => NodeState::Down,
        }
    }

    /// Client (RESP) address of every node, in id order.
    pub fn client_addrs(&self) -> Vec<String> {
        self.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect()
    }

    pub fn data_dir(&self, id: u32) -> Result<PathBuf, ClusterError> {
        Ok(self.node(id)?.data_dir.clone())
    }

    fn spawn(&mut self, id: u32) -> Result<(), ClusterError> {
        let single = self.nodes.len() == 1;
        let bin = self.opts.bin.clone();
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
        let mut cmd = Command::new(&bin);
        cmd.arg("--config").arg(&node.config);
        if single {
            let _ = std::fs::remove_file(node.data_dir.join("port"));
            cmd.arg("--bind").arg("127.0.0.1").arg("--port").arg(node.port.to_string());
            cmd.arg("--data-dir").arg(&node.data_dir);
        }
        cmd.current_dir(&node.dir).stdin(Stdio::null()).stdout(Stdio::from(log)).stderr(Stdio::from(log2));
        let child = Guarded::spawn(cmd).map_err(io(format!("spawning {}", bin.display())))?;
        node.child = Some(child);
        node.paused = false;
        Ok(())
    }

    /// Waits until node `id` answers `INFO replication` (learning its port first if needed).
    pub async fn wait_node_serving(&mut self, id: u32, limit: Duration) -> Result<(), ClusterError> {
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
            if node.port != 0 {
                let addr = format!("127.0.0.1:{}", node.port);
                if info_replication(&addr, Duration::from_millis(500)).await.is_ok() {
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClusterError::NotReady { id, secs: limit.as_secs(), log });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The id of a node that reports `role:master`, if any (asks live nodes).
    pub async fn leader(&self) -> Option<u32> {
        for n in &self.nodes {
            if n.child.is_none() || n.paused || n.port == 0 {
                continue;
            }
            let addr = format!("127.0.0.1:{}", n.port);
            if let Ok(info) = info_replication(&addr, Duration::from_millis(500)).await {
                if info.get("role").map(String::as_str) == Some("master") {
                    return Some(n.id);
                }
            }
        }
        None
    }

    /// Waits until some node is leader.
    pub async fn wait_leader(&self, limit: Duration) -> Result<u32, ClusterError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(l) = self.leader().await {
                return Ok(l);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClusterError::NoLeader(limit.as_secs()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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
        match self.links.get(&(from, to)) {
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
        !self.links.is_empty()
    }

    /// Heals every link.
    pub fn heal_links(&self) {
        for p in self.links.values() {
            p.heal();
        }
    }

    /// Heals links, resumes paused nodes and restarts down nodes.
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
        for id in self.ids() {
            let _ = self.terminate(id).await;
        }
    }

    /// The newest `*.wal` file in `<data-dir>/wal/` of node `id`.
    pub fn newest_wal_segment(&self, id: u32) -> Result<Option<PathBuf>, ClusterError> {
        newest_wal_segment(&self.node(id)?.data_dir.join("wal"))
    }
}

/// The newest (by name, then mtime) `*.wal` file in `dir`.
pub fn newest_wal_segment(dir: &Path) -> Result<Option<PathBuf>, ClusterError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ClusterError::Io { what: format!("listing {}", dir.display()), source: e }),
    };
    let mut best: Option<PathBuf> = None;
    for e in rd.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "wal") && p.is_file() && best.as_ref().is_none_or(|b| p > *b) {
            best = Some(p);
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc_state(pid: u32) -> Option<char> {
        let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let after = s.rsplit_once(')')?.1;
        after.trim_start().chars().next()
    }

    fn gone(pid: u32) -> bool {
        matches!(proc_state(pid), None | Some('Z') | Some('X'))
    }

    #[test]
    fn a_panic_kills_the_child() {
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                let mut cmd = Command::new("sleep");
                cmd.arg("30");
                let g = Guarded::spawn(cmd).expect("spawn sleep");
                tx.send(g.pid()).expect("send pid");
                tokio::time::sleep(Duration::from_millis(50)).await;
                panic!("planned panic with a live child");
            })
        });
        assert!(t.join().is_err(), "the thread must panic");
        let pid = rx.recv().expect("pid");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !gone(pid) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(gone(pid), "child {pid} survived the panic: state {:?}", proc_state(pid));
    }

    #[tokio::test]
    async fn pause_resume_and_kill_all() {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let g = Guarded::spawn(cmd).expect("spawn sleep");
        let pid = g.pid();
        assert!(g.signal(libc::SIGSTOP));
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while proc_state(pid) != Some('T') && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(proc_state(pid), Some('T'));
        assert!(g.signal(libc::SIGCONT));
        assert!(kill_all_children() >= 1);
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while !gone(pid) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(gone(pid));
        drop(g);
    }

    #[test]
    fn newest_segment_by_name() {
        let d = tempfile::tempdir().expect("tempdir");
        assert_eq!(newest_wal_segment(&d.path().join("nope")).expect("ok"), None);
        for n in ["00000000000000000000.wal", "00000000000000000042.wal", "zzz.tmp"] {
            std::fs::write(d.path().join(n), b"x").expect("write");
        }
        let p = newest_wal_segment(d.path()).expect("ok").expect("some");
        assert!(p.ends_with("00000000000000000042.wal"));
    }
}
