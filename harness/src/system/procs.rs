//! One external process of an adapter: its folder and log, the command that starts it, the
//! guarded child (never outlives the harness: [`Guarded`]), its switchboard, signals, and
//! readiness by `PING`. Knows nothing about Redis roles; the adapters do.

use super::links::{node_ip, Switchboard};
use super::{io, SystemError};
use crate::client::Conn;
use crate::cluster::{Guarded, NodeState};
use sdr_resp::Frame;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// A free port on `ip`, held (bound) until the process starts, so nothing else takes it.
pub fn hold_port(ip: Ipv4Addr) -> Result<(u16, std::net::TcpListener), SystemError> {
    let l = std::net::TcpListener::bind(SocketAddr::from((ip, 0)))
        .map_err(io(format!("allocating a port on {ip}")))?;
    let p = l.local_addr().map_err(io("allocating a port"))?.port();
    Ok((p, l))
}

/// One process (a `redis-server`, a Sentinel, a command-started server).
pub struct Proc {
    /// For messages: `n2 redis-server`.
    pub what: String,
    /// The node it belongs to (its source address is `127.0.1.<node>`).
    pub node: u32,
    pub dir: PathBuf,
    pub log: PathBuf,
    /// Where it listens itself (the harness's control plane talks here directly).
    pub ip: Ipv4Addr,
    pub port: u16,
    /// Everybody else connects here.
    pub board: Switchboard,
    program: PathBuf,
    args: Vec<String>,
    held: Option<std::net::TcpListener>,
    child: Option<Guarded>,
    paused: bool,
}

impl Proc {
    /// Creates the folder, holds a port on `127.0.1.<node>` and starts the switchboard in
    /// front of it (`sources`: the nodes that may connect). Nothing runs yet.
    pub async fn new(
        what: String,
        node: u32,
        dir: PathBuf,
        sources: &[u32],
    ) -> Result<Proc, SystemError> {
        std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        let ip = node_ip(node);
        let (port, held) = hold_port(ip)?;
        let refusal = format!(
            "-CLUSTERDOWN harness proxy: {what} is unreachable (nothing was sent to it)\r\n"
        );
        let board = Switchboard::start(SocketAddr::from((ip, port)), sources, refusal.as_bytes())
            .await
            .map_err(io("starting a switchboard"))?;
        Ok(Proc {
            log: dir.join(format!(
                "{}.log",
                what.rsplit(' ').next().unwrap_or("process")
            )),
            what,
            node,
            dir,
            ip,
            port,
            board,
            program: PathBuf::new(),
            args: Vec::new(),
            held: Some(held),
            child: None,
            paused: false,
        })
    }

    /// Sets the command line used by [`Proc::spawn`].
    pub fn set_command(&mut self, program: PathBuf, args: Vec<String>) {
        self.program = program;
        self.args = args;
    }

    /// `127.0.0.1:<switchboard port>`: the address every other party uses.
    pub fn public_addr(&self) -> String {
        self.board.listen_addr().to_string()
    }
    pub fn public_port(&self) -> u16 {
        self.board.listen_addr().port()
    }
    pub fn direct_addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Guarded::pid)
    }

    pub fn state(&self) -> NodeState {
        match &self.child {
            Some(_) if self.paused => NodeState::Paused,
            Some(_) => NodeState::Up,
            None => NodeState::Down,
        }
    }

    /// Starts the process (no-op if it runs), output appended to its log, in its folder.
    pub fn spawn(&mut self) -> Result<(), SystemError> {
        if self.child.is_some() {
            return Ok(());
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(io(format!("opening {}", self.log.display())))?;
        let log2 = log.try_clone().map_err(io("cloning the log handle"))?;
        self.held = None;
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        let child =
            Guarded::spawn(cmd).map_err(io(format!("spawning {}", self.program.display())))?;
        self.child = Some(child);
        self.paused = false;
        Ok(())
    }

    /// Waits until the process answers `PING` with `PONG` on its own address.
    pub async fn wait_ping(&mut self, limit: Duration) -> Result<(), SystemError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Some(status) = c.try_exited() {
                    self.child = None;
                    return Err(SystemError::Exited {
                        what: self.what.clone(),
                        status,
                        log: self.log.display().to_string(),
                    });
                }
            }
            if self.child.is_some() {
                if let Ok(Frame::Simple(s)) = self.call(&["PING"]).await {
                    if s == "PONG" {
                        return Ok(());
                    }
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(SystemError::NotReady {
                    what: self.what.clone(),
                    secs: limit.as_secs(),
                    log: self.log.display().to_string(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One command on the process's own address (bounded to 500 ms); not for paused ones.
    pub async fn call(&self, args: &[&str]) -> Result<Frame, SystemError> {
        if self.child.is_none() || self.paused {
            return Err(SystemError::Setup(format!("{} is not running", self.what)));
        }
        let limit = Duration::from_millis(500);
        let addr = self.direct_addr();
        let err = |e: crate::client::ClientError| SystemError::Setup(format!("{addr}: {e}"));
        let mut c = Conn::connect(&addr, limit).await.map_err(err)?;
        let argv: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        c.call(&argv, limit).await.map_err(err)
    }

    /// SIGKILL and reap; whether it was running.
    pub async fn kill(&mut self) -> bool {
        self.paused = false;
        match self.child.take() {
            Some(c) => {
                c.kill().await;
                true
            }
            None => false,
        }
    }

    /// SIGTERM (+ SIGCONT), SIGKILL after `grace`.
    pub async fn terminate(&mut self, grace: Duration) -> Option<String> {
        self.paused = false;
        match self.child.take() {
            Some(c) => Some(c.terminate(grace).await),
            None => None,
        }
    }

    /// Sends `sig` to the running process (pause/resume bookkeeping by the caller's choice).
    pub fn signal(&self, sig: libc::c_int) -> bool {
        self.child.as_ref().is_some_and(|c| c.signal(sig))
    }

    pub fn pause(&mut self) -> bool {
        if self.child.is_none() || self.paused {
            return false;
        }
        self.paused = self.signal(libc::SIGSTOP);
        self.paused
    }

    pub fn resume(&mut self) -> bool {
        if self.child.is_none() || !self.paused {
            return false;
        }
        self.signal(libc::SIGCONT);
        self.paused = false;
        true
    }

    /// Marks the process paused or running (for adapters whose pause is a command).
    pub fn set_paused(&mut self, p: bool) {
        self.paused = p && self.child.is_some();
    }

    /// Forgets the child after an external command stopped it (reaps it if it exited).
    pub async fn forget(&mut self, grace: Duration) -> Option<String> {
        let mut c = self.child.take()?;
        self.paused = false;
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            if let Some(s) = c.try_exited() {
                drop(c);
                return Some(s);
            }
            if tokio::time::Instant::now() >= deadline {
                c.kill().await;
                return Some("killed after the grace period".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// `INFO <section>` of a process as a map.
pub async fn info(p: &Proc, section: &str) -> Option<std::collections::HashMap<String, String>> {
    match p.call(&["INFO", section]).await {
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

/// A config value as Redis writes it (`"..."` quoted when it has spaces or is empty).
pub fn conf_value(v: &str) -> String {
    if v.is_empty() || v.contains(char::is_whitespace) || v.contains('"') {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        v.to_string()
    }
}
