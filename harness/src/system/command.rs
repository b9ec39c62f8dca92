//! `system: command` — any RESP server a user has, started by a command template per node:
//! `start` (required) runs as `sh -c 'exec <start>'` in the node's folder; `stop`, `kill`,
//! `pause`, `resume` are optional templates (defaults: SIGTERM, SIGKILL, SIGSTOP, SIGCONT to
//! the started process). Placeholders: `{id}`, `{ip}` (the node's own loopback address,
//! `127.0.1.<id>`), `{port}` (where it must listen), `{dir}` (its folder), `{peers}` (the
//! other nodes' addresses, `host:port` comma-separated, through the switchboards), `{pid}`
//! (control templates only). Readiness is `PING` → `PONG`.
//!
//! Clients reach node n through its switchboard; a partition cuts the links between nodes
//! for connections the server opens *from* `{ip}` (e.g. `redis-server --bind {ip}
//! --bind-source-addr {ip}`); connections from elsewhere count as client links.
//! Leader discovery (`leader:`): `any` running node (default), `role` (`INFO replication`
//! says `role:master`), or a template whose output's first line is the leader's id.

use super::procs::{info, Proc};
use super::{BoxFuture, ClientConfig, System, SystemError};
use crate::cluster::NodeState;
use crate::proxy::LinkState;
use crate::scenario::{Scenario, SystemKind};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// How the leader is found.
#[derive(Clone, Debug, PartialEq)]
pub enum Leader {
    Any,
    Role,
    Command(String),
}

impl Leader {
    pub fn parse(s: Option<&str>) -> Leader {
        match s.map(str::trim) {
            None | Some("any") => Leader::Any,
            Some("role") => Leader::Role,
            Some(c) => Leader::Command(c.to_string()),
        }
    }
}

/// Options of [`CommandSystem::start`].
#[derive(Clone, Debug)]
pub struct CommandOptions {
    /// Node n lives in `<dir>/n<N>/`.
    pub dir: PathBuf,
    pub nodes: u32,
    pub start: String,
    pub stop: Option<String>,
    pub kill: Option<String>,
    pub pause: Option<String>,
    pub resume: Option<String>,
    pub leader: Leader,
    pub ready_timeout: Duration,
}

impl CommandOptions {
    pub fn new(dir: PathBuf, nodes: u32, start: &str) -> CommandOptions {
        CommandOptions {
            dir,
            nodes,
            start: start.into(),
            stop: None,
            kill: None,
            pause: None,
            resume: None,
            leader: Leader::Any,
            ready_timeout: Duration::from_secs(30),
        }
    }

    pub fn from_scenario(
        sc: &Scenario,
        dir: &std::path::Path,
    ) -> Result<CommandOptions, SystemError> {
        let s = &sc.system;
        let start = s.start.as_deref().ok_or_else(|| {
            SystemError::Setup("system.start: required for system command".into())
        })?;
        let mut o = CommandOptions::new(dir.to_path_buf(), sc.cluster.total(), start);
        o.stop = s.stop.clone();
        o.kill = s.kill.clone();
        o.pause = s.pause.clone();
        o.resume = s.resume.clone();
        o.leader = Leader::parse(s.leader.as_deref());
        Ok(o)
    }
}

/// Nodes started by command templates.
pub struct CommandSystem {
    opts: CommandOptions,
    nodes: Vec<Proc>,
}

/// Replaces the placeholders of a template.
pub fn expand(template: &str, vars: &[(&str, String)]) -> String {
    let mut out = template.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

impl CommandSystem {
    pub async fn start(opts: CommandOptions) -> Result<CommandSystem, SystemError> {
        let ids: Vec<u32> = (1..=opts.nodes.max(1)).collect();
        let mut nodes = Vec::new();
        for id in &ids {
            let dir = opts.dir.join(format!("n{id}"));
            nodes.push(Proc::new(format!("n{id} server"), *id, dir, &ids).await?);
        }
        let mut sys = CommandSystem { opts, nodes };
        for i in 0..sys.nodes.len() {
            let cmd = format!("exec {}", sys.expand(&sys.opts.start, i));
            sys.nodes[i].set_command(PathBuf::from("/bin/sh"), vec!["-c".into(), cmd]);
        }
        let limit = sys.opts.ready_timeout;
        for p in &mut sys.nodes {
            p.spawn()?;
        }
        for p in &mut sys.nodes {
            p.wait_ping(limit).await?;
        }
        Ok(sys)
    }

    fn vars(&self, i: usize) -> Vec<(&'static str, String)> {
        let p = &self.nodes[i];
        let peers: Vec<String> = self
            .nodes
            .iter()
            .filter(|q| q.node != p.node)
            .map(Proc::public_addr)
            .collect();
        vec![
            ("id", p.node.to_string()),
            ("ip", p.ip.to_string()),
            ("port", p.port.to_string()),
            ("dir", p.dir.display().to_string()),
            ("peers", peers.join(",")),
            ("pid", p.pid().map(|x| x.to_string()).unwrap_or_default()),
        ]
    }

    fn expand(&self, template: &str, i: usize) -> String {
        expand(template, &self.vars(i))
    }

    fn index(&self, id: u32) -> Result<usize, SystemError> {
        self.nodes
            .iter()
            .position(|p| p.node == id)
            .ok_or(SystemError::NoSuchNode(id))
    }

    /// Runs a control template for node `i` (bounded to 10 s); its output on success.
    async fn run(&self, template: &str, i: usize) -> Result<String, SystemError> {
        let cmd = self.expand(template, i);
        let mut c = tokio::process::Command::new("/bin/sh");
        c.arg("-c")
            .arg(&cmd)
            .current_dir(&self.nodes[i].dir)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let out = match tokio::time::timeout(Duration::from_secs(10), c.output()).await {
            Err(_) => return Err(SystemError::Setup(format!("`{cmd}` timed out after 10 s"))),
            Ok(Err(e)) => return Err(SystemError::Setup(format!("running `{cmd}`: {e}"))),
            Ok(Ok(o)) => o,
        };
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(SystemError::Setup(format!(
                "`{cmd}` failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    /// Stops node `i` with `template` (or the signal path) and reaps it.
    async fn stop_with(
        &mut self,
        id: u32,
        template: Option<String>,
        crash: bool,
    ) -> Result<Option<String>, SystemError> {
        let i = self.index(id)?;
        if self.nodes[i].state() == NodeState::Down {
            return Ok(None);
        }
        match template {
            Some(t) => {
                let r = self.run(&t, i).await;
                // The process must be gone within the grace period; else it is SIGKILLed.
                let st = self.nodes[i].forget(Duration::from_secs(10)).await;
                r.map(|_| st)
            }
            None if crash => Ok(self.nodes[i].kill().await.then(|| "killed".to_string())),
            None => Ok(self.nodes[i].terminate(Duration::from_secs(10)).await),
        }
    }
}

impl System for CommandSystem {
    fn kind(&self) -> SystemKind {
        SystemKind::Command
    }
    fn ids(&self) -> Vec<u32> {
        self.nodes.iter().map(|p| p.node).collect()
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
        self.index(id)
            .map(|i| self.nodes[i].state())
            .unwrap_or(NodeState::Down)
    }
    fn kill(&mut self, id: u32) -> BoxFuture<'_, Result<bool, SystemError>> {
        Box::pin(async move {
            let t = self.opts.kill.clone();
            Ok(self.stop_with(id, t, true).await?.is_some())
        })
    }
    fn terminate(&mut self, id: u32) -> BoxFuture<'_, Result<Option<String>, SystemError>> {
        Box::pin(async move {
            let t = self.opts.stop.clone();
            self.stop_with(id, t, false).await
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
        match self.opts.pause.clone() {
            None => Ok(self.nodes[i].pause()),
            Some(t) => {
                if self.nodes[i].state() != NodeState::Up {
                    return Ok(false);
                }
                // Control templates are short; run them synchronously (pause is not async).
                let cmd = self.expand(&t, i);
                let ok = std::process::Command::new("/bin/sh")
                    .arg("-c")
                    .arg(&cmd)
                    .stdin(Stdio::null())
                    .status()
                    .map_err(|e| SystemError::Setup(format!("running `{cmd}`: {e}")))?
                    .success();
                self.nodes[i].set_paused(ok);
                Ok(ok)
            }
        }
    }
    fn resume(&mut self, id: u32) -> Result<bool, SystemError> {
        let i = self.index(id)?;
        match self.opts.resume.clone() {
            None => Ok(self.nodes[i].resume()),
            Some(t) => {
                if self.nodes[i].state() != NodeState::Paused {
                    return Ok(false);
                }
                let cmd = self.expand(&t, i);
                let ok = std::process::Command::new("/bin/sh")
                    .arg("-c")
                    .arg(&cmd)
                    .stdin(Stdio::null())
                    .status()
                    .map_err(|e| SystemError::Setup(format!("running `{cmd}`: {e}")))?
                    .success();
                if ok {
                    self.nodes[i].set_paused(false);
                }
                Ok(ok)
            }
        }
    }
    fn leader_of(&self, s: u32) -> BoxFuture<'_, Option<u32>> {
        Box::pin(async move {
            if s != 1 {
                return None;
            }
            match &self.opts.leader {
                Leader::Any => self
                    .nodes
                    .iter()
                    .find(|p| p.state() == NodeState::Up)
                    .map(|p| p.node),
                Leader::Role => {
                    for p in &self.nodes {
                        if p.state() != NodeState::Up {
                            continue;
                        }
                        if info(p, "replication")
                            .await
                            .is_some_and(|m| m.get("role").map(String::as_str) == Some("master"))
                        {
                            return Some(p.node);
                        }
                    }
                    None
                }
                Leader::Command(t) => {
                    let out = self.run(t, 0).await.ok()?;
                    let id: u32 = out.lines().next()?.trim().parse().ok()?;
                    (self.state(id) == NodeState::Up).then_some(id)
                }
            }
        })
    }
    fn wait_leader(&self, limit: Duration) -> BoxFuture<'_, Result<u32, SystemError>> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + limit;
            loop {
                if let Some(l) = self.leader_of(1).await {
                    return Ok(l);
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(SystemError::Setup(format!(
                        "no leader after {} s",
                        limit.as_secs()
                    )));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    }
    fn set_link(&self, from: u32, to: u32, s: LinkState) -> bool {
        from != 0
            && self
                .index(to)
                .is_ok_and(|i| self.nodes[i].board.set(from, s))
    }
    fn set_client_link(&self, id: u32, s: LinkState) -> bool {
        self.index(id).is_ok_and(|i| self.nodes[i].board.set(0, s))
    }
    fn set_link_latency(&self, from: u32, to: u32, d: Duration) -> bool {
        from != 0
            && self
                .index(to)
                .is_ok_and(|i| self.nodes[i].board.set_latency(from, d))
    }
    fn has_links(&self) -> bool {
        self.nodes.len() > 1
    }
    fn heal_links(&self) {
        for p in &self.nodes {
            p.board.heal();
        }
    }
    fn stop_all(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            for id in self.ids() {
                let t = self.opts.stop.clone();
                if self.stop_with(id, t, false).await.is_err() {
                    if let Ok(i) = self.index(id) {
                        self.nodes[i].kill().await;
                    }
                }
            }
        })
    }
    fn client_addrs(&self) -> Vec<String> {
        self.nodes.iter().map(Proc::public_addr).collect()
    }
    fn client_config(&self) -> ClientConfig {
        ClientConfig {
            cas_via_eval: true,
            ..ClientConfig::direct()
        }
    }
    fn pids(&self) -> Vec<u32> {
        self.nodes.iter().filter_map(Proc::pid).collect()
    }
}
