//! `sdr-loadgen`: the closed-loop write load generator behind `make bench-cluster`
//! (`scripts/bench-cluster.sh`).
//!
//! One binary drives both systems with the same workload so that the comparison is about the
//! servers, not the clients: N client tasks, each issuing sequential writes (one in flight per
//! client, like etcd's own `benchmark put`), 100-byte values over a fixed key space, a warm-up
//! that is not measured, then a fixed measuring window. sdr-node is spoken to in RESP2 over
//! plain TCP (following `-MOVED` to the leader); etcd through its v3 gRPC `KV.Put`, using a
//! hand-written wire-compatible proto so that no `protoc` is needed.
//!
//! Subcommands (the script composes them):
//! - `bench`: one (system, clients) run; prints a `RESULT key=value ...` line. sdr clients
//!   route by hash slot (`router`), so they work against sharded clusters too.
//! - `failover`: SIGKILLs a pid (the sdr leader) and times the first successful write through
//!   any member.
//! - `sdr-wait` / `etcd-wait`: block until a cluster is whole and has a leader, print it.
//! - `ports`: print distinct free loopback ports for the script's cluster files.

mod etcd;
mod router;
mod sdr;
mod stats;

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use tokio::sync::mpsc;

use crate::router::SlotRouter;
use crate::sdr::{follower_lags, info_field, SdrConn, SdrError};
use crate::stats::Summary;

#[derive(Parser)]
#[command(
    name = "sdr-loadgen",
    about = "Write load generator for sdr-node and etcd clusters"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum System {
    Sdr,
    Etcd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs one closed-loop write benchmark and prints a RESULT line.
    Bench {
        #[arg(long, value_enum)]
        system: System,
        /// Comma-separated: `host:port` RESP addresses (sdr) or `http://host:port` client URLs
        /// (etcd). Client i starts on endpoint i mod len.
        #[arg(long, value_delimiter = ',', required = true)]
        endpoints: Vec<String>,
        #[arg(long, default_value_t = 1)]
        clients: usize,
        /// Measuring window, after the warm-up.
        #[arg(long, default_value_t = 10.0)]
        duration_secs: f64,
        #[arg(long, default_value_t = 1.0)]
        warmup_secs: f64,
        /// Keys are drawn uniformly from this many (`bench-000000` ...).
        #[arg(long, default_value_t = 10_000)]
        keys: u64,
        #[arg(long, default_value_t = 100)]
        value_size: usize,
        /// etcd only: HTTP/2 connections shared by the clients (0 = one per client).
        #[arg(long, default_value_t = 0)]
        etcd_conns: usize,
    },
    /// SIGKILLs `--kill-pid` and prints the milliseconds until a SET succeeds through any of
    /// `--endpoints` (following -MOVED).
    Failover {
        #[arg(long, value_delimiter = ',', required = true)]
        endpoints: Vec<String>,
        #[arg(long)]
        kill_pid: i32,
        #[arg(long, default_value_t = 30.0)]
        timeout_secs: f64,
    },
    /// Waits until every sdr member reports the same running leader, the leader sees all
    /// followers within `--max-lag` entries, and a write succeeds; prints `LEADER id addr`.
    SdrWait {
        #[arg(long, value_delimiter = ',', required = true)]
        endpoints: Vec<String>,
        #[arg(long, default_value_t = 60.0)]
        timeout_secs: f64,
        #[arg(long, default_value_t = 100)]
        max_lag: u64,
    },
    /// Waits until every etcd member reports the same leader and a put succeeds; prints
    /// `LEADER url`.
    EtcdWait {
        #[arg(long, value_delimiter = ',', required = true)]
        endpoints: Vec<String>,
        #[arg(long, default_value_t = 60.0)]
        timeout_secs: f64,
    },
    /// Prints N distinct free TCP ports on 127.0.0.1 (bound together, then released).
    Ports { n: usize },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start tokio runtime")?;
    rt.block_on(async move {
        match cli.cmd {
            Cmd::Bench {
                system,
                endpoints,
                clients,
                duration_secs,
                warmup_secs,
                keys,
                value_size,
                etcd_conns,
            } => {
                let w = Workload {
                    clients: clients.max(1),
                    warmup: Duration::from_secs_f64(warmup_secs),
                    duration: Duration::from_secs_f64(duration_secs),
                    keys: keys.max(1),
                    value: vec![b'x'; value_size],
                };
                let s = bench(system, &endpoints, &w, etcd_conns).await?;
                println!(
                    "RESULT system={} clients={} ops={} secs={:.2} wps={:.0} mean_ms={:.3} p50_ms={:.3} p90_ms={:.3} p99_ms={:.3} max_ms={:.3} errors={}",
                    match system {
                        System::Sdr => "sdr",
                        System::Etcd => "etcd",
                    },
                    w.clients,
                    s.ops,
                    s.secs,
                    s.writes_per_sec(),
                    ms(s.mean),
                    ms(s.p50),
                    ms(s.p90),
                    ms(s.p99),
                    ms(s.max),
                    s.errors
                );
                Ok(())
            }
            Cmd::Failover {
                endpoints,
                kill_pid,
                timeout_secs,
            } => {
                let (took, via) =
                    failover(&endpoints, kill_pid, Duration::from_secs_f64(timeout_secs)).await?;
                println!("FAILOVER_MS {:.1} via {via}", ms(took));
                Ok(())
            }
            Cmd::SdrWait {
                endpoints,
                timeout_secs,
                max_lag,
            } => {
                let (id, addr) =
                    sdr_wait(&endpoints, Duration::from_secs_f64(timeout_secs), max_lag).await?;
                println!("LEADER {id} {addr}");
                Ok(())
            }
            Cmd::EtcdWait {
                endpoints,
                timeout_secs,
            } => {
                let url = etcd_wait(&endpoints, Duration::from_secs_f64(timeout_secs)).await?;
                println!("LEADER {url}");
                Ok(())
            }
            Cmd::Ports { n } => {
                let listeners = (0..n)
                    .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
                    .collect::<std::io::Result<Vec<_>>>()
                    .context("bind a free port")?;
                let ports = listeners
                    .iter()
                    .map(|l| l.local_addr().map(|a| a.port().to_string()))
                    .collect::<std::io::Result<Vec<_>>>()?;
                println!("{}", ports.join(" "));
                Ok(())
            }
        }
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What every client does in one run.
struct Workload {
    clients: usize,
    warmup: Duration,
    duration: Duration,
    keys: u64,
    value: Vec<u8>,
}

/// A connected client of either system.
enum Client {
    Sdr(SlotRouter),
    Etcd(etcd::KvClient<tonic::transport::Channel>),
}

/// How long a single write may keep retrying (redirects, elections) before the client gives
/// up on it and counts it as failed.
const OP_DEADLINE: Duration = Duration::from_secs(10);
/// Pause before retrying after `-TRYAGAIN`/`-CLUSTERDOWN`/a transport error: long enough not
/// to spin on a cluster that is electing, short compared with an election.
const RETRY_BACKOFF: Duration = Duration::from_millis(5);

impl Client {
    /// Writes `key = value` until it is acknowledged; returns how many failed attempts it took
    /// (each counted as an error in the output), or an error once [`OP_DEADLINE`] passes.
    async fn put(&mut self, key: &[u8], value: &[u8]) -> Result<u64, (u64, String)> {
        let deadline = Instant::now() + OP_DEADLINE;
        let mut failed = 0;
        loop {
            let err = match self {
                Client::Sdr(c) => match c.set_once(key, value).await {
                    Ok(()) => return Ok(failed),
                    // Redirects are how a cluster client finds the leader, not failures.
                    Err(SdrError::Server { msg, .. }) if sdr::moved_target(&msg).is_some() => {
                        continue
                    }
                    Err(e) => e.to_string(),
                },
                Client::Etcd(c) => {
                    let req = etcd::pb::PutRequest {
                        key: key.to_vec(),
                        value: value.to_vec(),
                        ..Default::default()
                    };
                    match c.put(req).await {
                        Ok(_) => return Ok(failed),
                        Err(status) => status.to_string(),
                    }
                }
            };
            failed += 1;
            if Instant::now() >= deadline {
                return Err((failed, err));
            }
            tokio::time::sleep(RETRY_BACKOFF).await;
        }
    }
}

/// Connects `w.clients` clients, releases them together, and merges their measurements.
async fn bench(
    system: System,
    endpoints: &[String],
    w: &Workload,
    etcd_conns: usize,
) -> Result<Summary> {
    let mut clients = Vec::with_capacity(w.clients);
    match system {
        System::Sdr => {
            for i in 0..w.clients {
                clients.push(Client::Sdr(SlotRouter::new(
                    &endpoints[i % endpoints.len()],
                    Duration::from_secs(10),
                )));
            }
        }
        System::Etcd => {
            // One HTTP/2 connection per client by default, mirroring one TCP connection per
            // sdr client; `--etcd-conns` lets gRPC multiplex instead.
            let conns = if etcd_conns == 0 {
                w.clients
            } else {
                etcd_conns.min(w.clients)
            };
            let mut channels = Vec::with_capacity(conns);
            for i in 0..conns {
                channels.push(etcd::connect(&endpoints[i % endpoints.len()]).await?);
            }
            for i in 0..w.clients {
                clients.push(Client::Etcd(etcd::KvClient::new(
                    channels[i % conns].clone(),
                )));
            }
        }
    }
    let start = Instant::now();
    let measure_from = start + w.warmup;
    let end = measure_from + w.duration;
    let (tx, mut rx) = mpsc::unbounded_channel();
    for (i, mut client) in clients.into_iter().enumerate() {
        let tx = tx.clone();
        let value = w.value.clone();
        let keys = w.keys;
        tokio::spawn(async move {
            let mut rng = sdr_seeded::Rng::new(i as u64 + 1);
            let mut samples = Vec::new();
            let mut errors = 0u64;
            let mut last_err = None;
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let key = format!("bench-{:06}", rng.below(keys));
                let res = client.put(key.as_bytes(), &value).await;
                let measured = t0 >= measure_from;
                match res {
                    Ok(failed) => {
                        if measured {
                            samples.push(t0.elapsed().as_micros() as u64);
                            errors += failed;
                        }
                    }
                    Err((failed, e)) => {
                        if measured {
                            errors += failed;
                        }
                        last_err = Some(e);
                    }
                }
            }
            let _ = tx.send((samples, errors, last_err));
        });
    }
    drop(tx);
    let mut all = Vec::new();
    let mut errors = 0;
    while let Some((samples, e, last_err)) = rx.recv().await {
        all.extend(samples);
        errors += e;
        if let Some(err) = last_err {
            eprintln!("sdr-loadgen: a client gave up on a write: {err}");
        }
    }
    if all.is_empty() {
        bail!("no write succeeded during the measuring window");
    }
    Ok(Summary::from_samples(all, errors, w.duration.as_secs_f64()))
}

/// SIGKILLs `pid`, then races one prober per endpoint; returns the time from the kill to the
/// first acknowledged SET and the member that acknowledged it.
async fn failover(endpoints: &[String], pid: i32, limit: Duration) -> Result<(Duration, String)> {
    if pid <= 0 {
        bail!("refusing to kill pid {pid}");
    }
    let t0 = Instant::now();
    // SAFETY: plain kill(2) on a pid the caller (the bench script) started.
    if unsafe { libc::kill(pid, libc::SIGKILL) } != 0 {
        bail!("kill -9 {pid}: {}", std::io::Error::last_os_error());
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut probes = Vec::new();
    for ep in endpoints {
        let tx = tx.clone();
        let ep = ep.clone();
        probes.push(tokio::spawn(async move {
            // Short timeouts: a request stuck on a member that just lost its leader should not
            // hide a new leader that is already accepting writes.
            let mut c = SdrConn::new(&ep, Duration::from_millis(500));
            loop {
                match c.set_once(b"failover-probe", b"x").await {
                    Ok(()) => {
                        let _ = tx.send((t0.elapsed(), ep.clone()));
                        return;
                    }
                    Err(SdrError::Server { msg, .. }) if sdr::moved_target(&msg).is_some() => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(2)).await,
                }
            }
        }));
    }
    drop(tx);
    let first = tokio::time::timeout(limit, rx.recv()).await;
    for p in &probes {
        p.abort();
    }
    match first {
        Ok(Some(r)) => Ok(r),
        _ => bail!("no write succeeded within {limit:?} of killing the leader"),
    }
}

/// See [`Cmd::SdrWait`].
async fn sdr_wait(endpoints: &[String], limit: Duration, max_lag: u64) -> Result<(u64, String)> {
    let deadline = Instant::now() + limit;
    loop {
        let err = match sdr_whole(endpoints, max_lag).await {
            Ok(found) => return Ok(found),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            return Err(err.context(format!("sdr cluster not whole after {limit:?}")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sdr_whole(endpoints: &[String], max_lag: u64) -> Result<(u64, String)> {
    let mut leader: Option<String> = None;
    let mut leader_info = None;
    for ep in endpoints {
        let info = SdrConn::new(ep, Duration::from_secs(2))
            .info_replication()
            .await
            .with_context(|| format!("INFO replication on {ep}"))?;
        let l = info_field(&info, "raft_leader_id")
            .unwrap_or("")
            .to_string();
        if l.is_empty() {
            bail!("{ep} knows no leader");
        }
        match &leader {
            Some(prev) if *prev != l => bail!("members disagree on the leader ({prev} vs {l})"),
            _ => leader = Some(l.clone()),
        }
        if info_field(&info, "raft_node_id") == Some(l.as_str()) {
            leader_info = Some(info);
        }
    }
    let id = leader.unwrap_or_default();
    let Some(info) = leader_info else {
        bail!("leader {id} is not among the endpoints answering");
    };
    let followers: usize = info_field(&info, "connected_slaves")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let lags = follower_lags(&info);
    if followers + 1 < endpoints.len() || lags.iter().any(|&l| l > max_lag) {
        bail!("leader {id} sees {followers} followers, lags {lags:?}");
    }
    let addr = info_field(&info, "raft_leader_addr")
        .unwrap_or("")
        .to_string();
    // In a sharded cluster the probe key may belong to another group: a `-MOVED` to an address
    // outside this group still proves the leader answers authoritatively.
    let mut c = SdrConn::new(&addr, Duration::from_secs(5));
    match c.set_once(b"bench-ready", b"1").await {
        Ok(()) => {}
        Err(SdrError::Server { msg, .. })
            if sdr::moved_target(&msg).is_some_and(|t| !endpoints.contains(&t)) => {}
        Err(e) => return Err(e).with_context(|| format!("write through leader {addr}")),
    }
    Ok((id.parse().context("leader id")?, addr))
}

/// See [`Cmd::EtcdWait`].
async fn etcd_wait(endpoints: &[String], limit: Duration) -> Result<String> {
    let deadline = Instant::now() + limit;
    loop {
        let err = match etcd_whole(endpoints).await {
            Ok(url) => return Ok(url),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            return Err(err.context(format!("etcd cluster not whole after {limit:?}")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn etcd_whole(endpoints: &[String]) -> Result<String> {
    let mut leader = None;
    let mut leader_url = None;
    for url in endpoints {
        let (me, l) = etcd::status(url).await?;
        if l == 0 {
            bail!("{url} knows no leader");
        }
        if leader.is_some_and(|p| p != l) {
            bail!("etcd members disagree on the leader");
        }
        leader = Some(l);
        if me == l {
            leader_url = Some(url.clone());
        }
    }
    let Some(url) = leader_url else {
        bail!("leader is not among the endpoints");
    };
    let mut kv = etcd::KvClient::new(etcd::connect(&url).await?);
    kv.put(etcd::pb::PutRequest {
        key: b"bench-ready".to_vec(),
        value: b"1".to_vec(),
        ..Default::default()
    })
    .await
    .with_context(|| format!("put through etcd leader {url}"))?;
    Ok(url)
}
