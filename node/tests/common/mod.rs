//! Shared helpers for integration tests: spawn a real `sdr-node` process on an ephemeral port
//! with its own temporary data directory, and talk to it with real clients.
#![allow(dead_code)]

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
    _tmp: Option<tempfile::TempDir>,
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

    /// Spawns the process on the existing data dir; returns the node's stderr on failure.
    pub fn spawn(&mut self) -> Result<(), String> {
        let port_file = self.dir.join("port");
        let _ = std::fs::remove_file(&port_file);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| e.to_string())?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let _ = std::fs::create_dir_all(&self.dir);
        let child = Command::new(node_bin())
            .args(["--bind", "127.0.0.1", "--port", "0", "--log-level", "info", "--data-dir"])
            .arg(&self.dir)
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| e.to_string())?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
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
        self.wait_leader();
        Ok(())
    }

    fn log_path(&self) -> PathBuf {
        self.dir.parent().unwrap_or(Path::new("/tmp")).join("node.log")
    }

    /// The node's log so far (stdout + stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Waits until INFO reports a Raft leader (a one-member group elects itself).
    pub fn wait_leader(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let info = self
                .client()
                .get_connection()
                .and_then(|mut c| redis::cmd("INFO").arg("replication").query::<String>(&mut c));
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
        let pass = self.extra_args.iter().position(|a| a == "--requirepass").and_then(|i| self.extra_args.get(i + 1));
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
pub fn have(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd} >/dev/null 2>&1"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}
