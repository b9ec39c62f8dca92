//! Shared helpers for integration tests: spawn a real `sdr-node` process on an ephemeral port
//! with its own temporary data directory, and talk to it with real clients.
#![allow(dead_code)]

pub mod redis_server;
pub mod wire;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `sdr-node` child process. Killed (SIGKILL) on drop.
pub struct TestNode {
    pub child: Option<Child>,
    pub dir: PathBuf,
    pub port: u16,
    pub extra_args: Vec<String>,
    pub _tmp: Option<tempfile::TempDir>,
}

pub fn node_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sdr-node")
}

impl TestNode {
    /// Starts a node in a fresh temporary directory and waits until it serves commands.
    pub fn start(extra: &[&str]) -> TestNode {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("data");
        let mut n = TestNode {
            child: None,
            dir,
            port: 0,
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
            _tmp: Some(tmp),
        };
        n.spawn().expect("node starts");
        n
    }

    /// Spawns the process on the existing data dir and waits until it leads (one-member
    /// groups); returns the node's log on failure.
    pub fn spawn(&mut self) -> Result<(), String> {
        self.spawn_no_wait()?;
        self.wait_leader();
        Ok(())
    }

    /// Spawns the process and waits only until it listens (its port file exists).
    pub fn spawn_no_wait(&mut self) -> Result<(), String> {
        let port_file = self.dir.join("port");
        let _ = std::fs::remove_file(&port_file);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| e.to_string())?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let _ = std::fs::create_dir_all(&self.dir);
        let mut cmd = Command::new(node_bin());
        if self.extra_args.iter().any(|a| a == "--node-id") {
            // Cluster member: addresses and data dir come from the cluster file.
        } else {
            cmd.args([
                "--bind",
                "127.0.0.1",
                "--port",
                "0",
                "--log-level",
                "info",
                "--data-dir",
            ])
            .arg(&self.dir);
        }
        let child = cmd
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| e.to_string())?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!("node exited with {status}: {}", self.log()));
            }
            if let Ok(s) = std::fs::read_to_string(&port_file) {
                if let Ok(p) = s.trim().parse::<u16>() {
                    self.port = p;
                    break;
                }
            }
            if Instant::now() > deadline {
                return Err(format!("node did not write its port file: {}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn log_path(&self) -> PathBuf {
        let name = format!(
            "{}.log",
            self.dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("node")
        );
        self.dir.parent().unwrap_or(Path::new("/tmp")).join(name)
    }

    /// The node's log so far (stdout + stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Waits until INFO reports a Raft leader (a one-member group elects itself).
    pub fn wait_leader(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let info = self.client().get_connection().and_then(|mut c| {
                redis::cmd("INFO")
                    .arg("replication")
                    .query::<String>(&mut c)
            });
            if info.is_ok_and(|i| i.contains("role:master")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("node never became leader: {}", self.log());
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Connection URL, carrying `--requirepass` if the node was started with one.
    pub fn url(&self) -> String {
        let pass = self
            .extra_args
            .iter()
            .position(|a| a == "--requirepass")
            .and_then(|i| self.extra_args.get(i + 1));
        match pass {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}/", self.port),
            None => format!("redis://127.0.0.1:{}/", self.port),
        }
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("client")
    }

    pub fn conn(&self) -> redis::Connection {
        self.client().get_connection().expect("connect")
    }

    /// Sends raw bytes and returns whatever arrives until the reply looks complete or 2 s pass.
    pub fn raw(&self, bytes: &[u8]) -> std::io::Result<String> {
        let mut s = TcpStream::connect(self.addr())?;
        s.set_read_timeout(Some(Duration::from_millis(2000)))?;
        s.write_all(bytes)?;
        let mut r = BufReader::new(s);
        let mut first = String::new();
        r.read_line(&mut first)?;
        if let Some(len) = first.strip_prefix('$') {
            let n: i64 = len.trim().parse().unwrap_or(-1);
            if n >= 0 {
                let mut body = vec![0u8; n as usize + 2];
                r.read_exact(&mut body)?;
                return Ok(String::from_utf8_lossy(&body).into_owned());
            }
        }
        Ok(first)
    }

    /// SIGKILL, no cleanup.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return st.code();
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.spawn().expect("node restarts");
    }

    /// The `--node-id` this node was started with (cluster members only).
    pub fn node_id(&self) -> Option<u64> {
        let i = self.extra_args.iter().position(|a| a == "--node-id")?;
        self.extra_args.get(i + 1)?.parse().ok()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn wal_dir(&self) -> PathBuf {
        self.dir.join("wal")
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// True when `redis-cli` is on PATH.
/// The numeric `field` of `INFO section` on connection `c` (panics, naming it, if absent).
pub fn info_num(c: &mut redis::Connection, section: &str, field: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg(section).query(c).expect("INFO");
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {info}"))
}

pub fn have(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd} >/dev/null 2>&1"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A free TCP port on 127.0.0.1 (bound and released; racy in theory, fine for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A cluster of `sdr-node` processes sharing one generated cluster file.
pub struct TestCluster {
    pub nodes: Vec<TestNode>,
    pub config: PathBuf,
    pub cluster_id: String,
    pub secret: String,
    /// (id, raft port, client port) of every initial member.
    pub members: Vec<(u64, u16, u16)>,
    _tmp: tempfile::TempDir,
}

impl TestCluster {
    /// Starts `n` members and waits until they agree on a leader.
    pub fn start(n: u64) -> TestCluster {
        Self::start_with(n, "")
    }

    /// Like [`start`](Self::start) with extra top-level YAML options for every member.
    pub fn start_with(n: u64, extra_yaml: &str) -> TestCluster {
        let tmp = tempfile::tempdir().expect("tempdir");
        let members: Vec<(u64, u16, u16)> =
            (1..=n).map(|id| (id, free_port(), free_port())).collect();
        let cluster_id = format!("test-{}", std::process::id());
        let secret = "test-secret".to_string();
        let config = tmp.path().join("cluster.yaml");
        let yaml = format!(
            "{}{extra_yaml}",
            cluster_yaml(&cluster_id, &secret, &members, tmp.path())
        );
        std::fs::write(&config, yaml).expect("write config");
        let mut c = TestCluster {
            nodes: Vec::new(),
            config,
            cluster_id,
            secret,
            members: members.clone(),
            _tmp: tmp,
        };
        for (id, _, _) in &members {
            let node = c.spawn_member(*id);
            c.nodes.push(node);
        }
        c.wait_for_leader();
        c
    }

    /// Starts (without waiting for a leader) the member `id` of the cluster file.
    pub fn spawn_member(&self, id: u64) -> TestNode {
        let dir = self._tmp.path().join(format!("node-{id}"));
        let mut node = TestNode {
            child: None,
            dir,
            port: 0,
            extra_args: vec![
                "--config".into(),
                self.config.display().to_string(),
                "--node-id".into(),
                id.to_string(),
            ],
            _tmp: None,
        };
        node.spawn_no_wait().expect("member starts");
        node
    }

    /// Starts `shards` Raft groups of `replicas` members each (node ids 1.. in shard order)
    /// and waits until every group has a leader.
    pub fn start_sharded(shards: u64, replicas: u64) -> TestCluster {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cluster_id = format!("test-sharded-{}", std::process::id());
        let secret = "test-secret".to_string();
        let mut members = Vec::new();
        let mut yaml = format!(
            "data-dir: {}/node-{{id}}\nrequest-timeout-ms: 2000\ncluster:\n  id: {cluster_id}\n  secret: {secret}\n  shards:\n",
            tmp.path().display()
        );
        let mut id = 1;
        for shard in 1..=shards {
            yaml.push_str(&format!("    - id: {shard}\n      members:\n"));
            for _ in 0..replicas {
                let (raft, client) = (free_port(), free_port());
                yaml.push_str(&format!(
                    "        - {{id: {id}, raft: \"127.0.0.1:{raft}\", client: \"127.0.0.1:{client}\"}}\n"
                ));
                members.push((id, raft, client));
                id += 1;
            }
        }
        let config = tmp.path().join("cluster.yaml");
        std::fs::write(&config, yaml).expect("write config");
        let mut c = TestCluster {
            nodes: Vec::new(),
            config,
            cluster_id,
            secret,
            members: members.clone(),
            _tmp: tmp,
        };
        for (id, _, _) in &members {
            let node = c.spawn_member(*id);
            c.nodes.push(node);
        }
        // Every group has a leader once CLUSTER INFO reports ok on the first node.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = redis::Client::open(c.nodes[0].url())
                .and_then(|cl| cl.get_connection())
                .and_then(|mut conn| redis::cmd("CLUSTER").arg("INFO").query::<String>(&mut conn))
                .map(|info| info.contains("cluster_state:ok"))
                .unwrap_or(false);
            if ok {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "sharded cluster never reported cluster_state:ok"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        c
    }

    pub fn tmp(&self) -> &Path {
        self._tmp.path()
    }

    /// Runs `sdr-node admin ARGS --cluster <file>`; returns (success, stdout + stderr).
    pub fn admin(&self, config: &Path, args: &[&str]) -> (bool, String) {
        let out = Command::new(node_bin())
            .arg("admin")
            .arg("--cluster")
            .arg(config)
            .args(args)
            .output()
            .expect("run sdr-node admin");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    pub fn node(&mut self, id: u64) -> &mut TestNode {
        let i = self
            .nodes
            .iter()
            .position(|n| n.node_id() == Some(id))
            .expect("node id");
        &mut self.nodes[i]
    }

    /// `INFO replication` field of a running node, if it answers.
    pub fn info_field(node: &TestNode, field: &str) -> Option<String> {
        let mut c = redis::Client::open(node.url())
            .ok()?
            .get_connection()
            .ok()?;
        let info: String = redis::cmd("INFO").arg("replication").query(&mut c).ok()?;
        info.lines().find_map(|l| {
            l.strip_prefix(&format!("{field}:"))
                .map(|v| v.trim().to_string())
        })
    }

    /// Waits until every running member reports the same leader, itself running; returns its
    /// id.
    pub fn wait_for_leader(&self) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let leaders: Vec<Option<String>> = self
                .nodes
                .iter()
                .filter(|n| n.child.is_some())
                .map(|n| Self::info_field(n, "raft_leader_id"))
                .collect();
            if let Some(Some(first)) = leaders.first() {
                let running = self.nodes.iter().any(|n| {
                    n.child.is_some()
                        && n.node_id().map(|i| i.to_string()).as_deref() == Some(first.as_str())
                });
                if running && leaders.iter().all(|l| l.as_deref() == Some(first.as_str())) {
                    return first.parse().expect("leader id");
                }
            }
            assert!(Instant::now() < deadline, "no agreed leader: {leaders:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn leader(&mut self) -> &mut TestNode {
        let id = self.wait_for_leader();
        self.node(id)
    }

    /// A cluster-aware connection: the `redis` crate follows nothing, so tests talk to the
    /// leader directly.
    pub fn leader_conn(&mut self) -> redis::Connection {
        self.leader().conn()
    }
}

pub fn cluster_yaml(id: &str, secret: &str, members: &[(u64, u16, u16)], dir: &Path) -> String {
    let mut s = format!(
        "data-dir: {}/node-{{id}}\nlog-level: info\ncluster:\n  id: {id}\n  secret: {secret}\n  members:\n",
        dir.display()
    );
    for (mid, raft, client) in members {
        s.push_str(&format!(
            "    - {{id: {mid}, raft: \"127.0.0.1:{raft}\", client: \"127.0.0.1:{client}\"}}\n"
        ));
    }
    s
}
