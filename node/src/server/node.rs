//! A running node: storage + Raft + the RESP listener, and the boot/shutdown sequence.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::raft::network::SingleNodeNetwork;
use crate::raft::Raft;
use crate::storage::{self, WalOptions};
use crate::store::{Keyspace, SharedKeyspace};

use super::read_barrier::ReadBarrier;
use super::stats::Stats;

/// Options that `CONFIG SET` may change while the node runs.
#[derive(Clone, Debug)]
pub struct Settings {
    pub requirepass: Option<String>,
    pub maxclients: usize,
    pub timeout_secs: u64,
    pub proto_max_bulk_len: u64,
    pub client_query_buffer_limit: u64,
}

/// What `CLIENT LIST` / `CLIENT INFO` show about a connection.
#[derive(Clone, Debug)]
pub struct ClientEntry {
    pub addr: SocketAddr,
    pub name: String,
    pub lib_name: String,
    pub lib_ver: String,
    pub connected_at: Instant,
    pub last_command: String,
}

/// Shared state of a running node, handed to every session.
pub struct Node {
    pub id: u64,
    pub raft: Raft,
    pub keyspace: SharedKeyspace,
    pub reads: ReadBarrier,
    pub config: Config,
    pub settings: RwLock<Settings>,
    pub stats: Stats,
    pub started: Instant,
    pub local_addr: SocketAddr,
    pub clients: Mutex<BTreeMap<u64, ClientEntry>>,
    next_client_id: AtomicU64,
    shutting_down: AtomicBool,
    shutdown_tx: watch::Sender<bool>,
}

impl Node {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.config.request_timeout_ms)
    }

    pub fn settings(&self) -> Settings {
        match self.settings.read() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub fn update_settings(&self, f: impl FnOnce(&mut Settings)) {
        match self.settings.write() {
            Ok(mut s) => f(&mut s),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    pub fn next_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A receiver that flips to `true` when shutdown begins.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown_tx.subscribe()
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    /// Begins a graceful shutdown (also what `SHUTDOWN` would call).
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
        let _ = self.shutdown_tx.send(true);
    }

    pub fn with_clients<R>(&self, f: impl FnOnce(&mut BTreeMap<u64, ClientEntry>) -> R) -> R {
        match self.clients.lock() {
            Ok(mut c) => f(&mut c),
            Err(p) => f(&mut p.into_inner()),
        }
    }
}

fn raft_config(cfg: &Config) -> anyhow::Result<Arc<openraft::Config>> {
    let rc = openraft::Config {
        cluster_name: "sdr".to_string(),
        heartbeat_interval: cfg.raft.heartbeat_interval_ms,
        election_timeout_min: cfg.raft.election_timeout_min_ms,
        election_timeout_max: cfg.raft.election_timeout_max_ms,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(cfg.snapshot_every),
        // Keep no log before the snapshot: a one-member group never needs to replicate it.
        max_in_snapshot_log_to_keep: 0,
        ..Default::default()
    };
    Ok(Arc::new(rc.validate().context("invalid raft configuration")?))
}

/// Opens storage, starts Raft, serves clients until SIGINT/SIGTERM, then shuts down cleanly.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    cfg.validate()?;
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create data dir {}", cfg.data_dir.display()))?;

    let keyspace: SharedKeyspace = Arc::new(RwLock::new(Keyspace::default()));
    let wal = WalOptions { fsync: cfg.fsync, segment_bytes: cfg.wal_segment_bytes, ..WalOptions::default() };
    let (log_store, state_machine) = storage::open(&cfg.data_dir, wal, keyspace.clone())
        .with_context(|| format!("cannot open data dir {}", cfg.data_dir.display()))?;

    let listener = TcpListener::bind((cfg.bind.as_str(), cfg.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", cfg.bind, cfg.port))?;
    let local_addr = listener.local_addr()?;
    std::fs::write(cfg.data_dir.join("port"), local_addr.port().to_string())
        .with_context(|| format!("cannot write {}", cfg.data_dir.join("port").display()))?;

    let raft = Raft::new(cfg.node_id, raft_config(&cfg)?, SingleNodeNetwork, log_store, state_machine)
        .await
        .context("cannot start raft")?;
    bootstrap(&raft, cfg.node_id, local_addr).await?;

    let (shutdown_tx, _) = watch::channel(false);
    let node = Arc::new(Node {
        id: cfg.node_id,
        reads: ReadBarrier::spawn(raft.clone(), Duration::from_millis(cfg.request_timeout_ms)),
        raft: raft.clone(),
        keyspace,
        settings: RwLock::new(Settings {
            requirepass: cfg.requirepass.clone(),
            maxclients: cfg.maxclients,
            timeout_secs: cfg.timeout,
            proto_max_bulk_len: cfg.proto_max_bulk_len,
            client_query_buffer_limit: cfg.client_query_buffer_limit,
        }),
        config: cfg,
        stats: Stats::default(),
        started: Instant::now(),
        local_addr,
        clients: Mutex::new(BTreeMap::new()),
        next_client_id: AtomicU64::new(1),
        shutting_down: AtomicBool::new(false),
        shutdown_tx,
    });

    tokio::spawn(super::expiry::run(node.clone()));
    tracing::info!(addr = %local_addr, node_id = node.id, "ready to accept connections");

    let sessions = Arc::new(AtomicU64::new(0));
    let accept = accept_loop(node.clone(), listener, sessions.clone());
    tokio::select! {
        r = accept => r?,
        _ = shutdown_requested() => tracing::info!("shutdown requested: no longer accepting connections"),
    }
    node.begin_shutdown();

    // Let in-flight commands finish (sessions stop after their current batch).
    let grace = Instant::now() + Duration::from_secs(10);
    while sessions.load(Ordering::Relaxed) > 0 && Instant::now() < grace {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    raft.shutdown().await.map_err(|e| anyhow::anyhow!("raft shutdown failed: {e}"))?;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Initializes the one-member group exactly once: a node with existing Raft state (vote or log)
/// is never re-initialized.
async fn bootstrap(raft: &Raft, id: u64, addr: SocketAddr) -> anyhow::Result<()> {
    if raft.is_initialized().await.context("raft stopped during boot")? {
        return Ok(());
    }
    let mut members = BTreeMap::new();
    members.insert(id, openraft::BasicNode { addr: addr.to_string() });
    match raft.initialize(members).await {
        Ok(()) => Ok(()),
        Err(openraft::error::RaftError::APIError(openraft::error::InitializeError::NotAllowed(_))) => Ok(()),
        Err(e) => Err(anyhow::anyhow!("cannot initialize raft group: {e}")),
    }
}

async fn accept_loop(node: Arc<Node>, listener: TcpListener, live: Arc<AtomicU64>) -> anyhow::Result<()> {
    let mut backoff = Duration::from_millis(5);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => {
                backoff = Duration::from_millis(5);
                x
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning; keep serving existing clients.
                tracing::warn!(error = %e, "accept failed; retrying in {:?}", backoff);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        Stats::add(&node.stats.connections_received, 1);
        let node = node.clone();
        let live = live.clone();
        live.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            super::session::serve(node, stream, peer).await;
            live.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn shutdown_requested() {
    use tokio::signal::unix::{signal, SignalKind};
    let (mut term, mut int) = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(t), Ok(i)) => (t, i),
        _ => {
            tracing::error!("cannot install signal handlers; SIGTERM/SIGINT will kill the process");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}
