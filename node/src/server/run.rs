//! Booting and serving a node: open storage, start Raft (and the peer gRPC server, the leader
//! poller of a sharded cluster), bootstrap, accept client connections until SIGINT/SIGTERM,
//! then shut down cleanly. The top of `server`: it uses every other module, none uses it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cluster::members::AddressBook;
use crate::cluster::topology::{refresh_leaders, Topology};
use crate::config::Config;
use crate::keyspace::{Keyspace, SharedKeyspace};
use crate::raft::auth::PeerAuth;
use crate::raft::network::GrpcNetwork;
use crate::raft::{bootstrap, service, Raft};
use crate::storage::{self, WalOptions};

use super::proposer::Proposer;
use super::read_barrier::ReadBarrier;
use super::state::{Node, Settings};
use super::stats::Stats;

fn raft_config(cfg: &Config) -> anyhow::Result<Arc<openraft::Config>> {
    let rc = openraft::Config {
        cluster_name: "sdr".to_string(),
        heartbeat_interval: cfg.raft.heartbeat_interval_ms,
        election_timeout_min: cfg.raft.election_timeout_min_ms,
        election_timeout_max: cfg.raft.election_timeout_max_ms,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(cfg.snapshot_every),
        // Keep one snapshot interval of log behind the newest snapshot, so that boot can fall
        // back to the previous snapshot if the newest is corrupt (storage refuses a gap).
        max_in_snapshot_log_to_keep: cfg.snapshot_every,
        // The receiving side's InstallSnapshot limit is derived from this.
        snapshot_max_chunk_size: crate::raft::peer_limits::SNAPSHOT_CHUNK_BYTES,
        ..Default::default()
    };
    Ok(Arc::new(
        rc.validate().context("invalid raft configuration")?,
    ))
}

/// Opens storage, starts Raft, serves clients until SIGINT/SIGTERM, then shuts down cleanly.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    cfg.validate()?;
    let data_dir = cfg.data_dir();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
    let port_file = data_dir.join("port");
    let _ = std::fs::remove_file(&port_file);

    let mut root = Keyspace::default();
    // Sharded clusters have db 0 only (Redis Cluster); MOVE/SWAPDB/COPY DB are refused in
    // the session before they could name another.
    let sharded = cfg.cluster.as_ref().is_some_and(|c| c.shards.len() > 1);
    root.set_db_count(if sharded { 1 } else { cfg.databases });
    let keyspace: SharedKeyspace = Arc::new(RwLock::new(root));
    let wal = WalOptions {
        fsync: cfg.fsync,
        segment_bytes: cfg.wal_segment_bytes,
        unsafe_skip_fsync: cfg.unsafe_test_faults.skip_fsync,
    };
    let (log_store, state_machine) = storage::open(&data_dir, wal, keyspace.clone())
        .with_context(|| format!("cannot open data dir {}", data_dir.display()))?;

    let (host, port) = cfg.client_listen();
    let listener = TcpListener::bind((host.as_str(), port))
        .await
        .with_context(|| format!("cannot listen on {host}:{port}"))?;
    let local_addr = listener.local_addr()?;

    let book = AddressBook::from_config(&cfg);
    let auth = cfg.cluster.as_ref().map(|c| PeerAuth {
        cluster_id: c.id.clone(),
        secret: c.secret.clone(),
    });
    let network = GrpcNetwork::new(auth.clone(), book.clone());
    let blocking = Arc::new(super::blocking::Registry::default());
    let pubsub = super::pubsub::PubSub::new(
        crate::config::OutputBufferLimits::default().pubsub,
        auth.clone()
            .map(|a| crate::raft::pubsub_peer::PeerLinkClient::new(a, cfg.node_id)),
    );
    let tracking = super::tracking::Tracking::new(pubsub.clone());
    state_machine.set_ready_keys(Arc::new(super::apply_hooks::ApplyHooks {
        blocking: blocking.clone(),
        tracking: tracking.clone(),
        pubsub: pubsub.clone(),
    }));
    let (budget_log, budget_sm) = (log_store.clone(), state_machine.clone());
    let read_log = log_store.clone();
    let scripts = state_machine.scripts();
    let raft = Raft::new(
        cfg.node_id,
        raft_config(&cfg)?,
        network,
        log_store,
        state_machine,
    )
    .await
    .context("cannot start raft")?;

    let (shutdown_tx, _) = watch::channel(false);
    tokio::spawn(crate::raft::log_budget::run(
        raft.clone(),
        budget_log,
        budget_sm,
        cfg.snapshot_log_bytes,
        shutdown_tx.subscribe(),
    ));
    if let (Some(auth), Some(raft_listen)) = (auth, cfg.raft_listen()) {
        let addr: SocketAddr = raft_listen
            .parse()
            .with_context(|| format!("raft listen address '{raft_listen}' is not host:port"))?;
        // Bind first so a port conflict is reported at boot, not in a background task.
        std::net::TcpListener::bind(addr)
            .with_context(|| format!("cannot listen for peers on {addr}"))?;
        let mut stop = shutdown_tx.subscribe();
        let (r, b, id) = (raft.clone(), book.clone(), cfg.node_id);
        let max_conns = cfg.peer_max_connections;
        let sink: Arc<dyn crate::raft::pubsub_peer::PeerSink> = pubsub.clone();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop.changed().await;
            };
            if let Err(e) = service::serve(addr, max_conns, r, auth, b, id, sink, shutdown).await {
                tracing::error!(error = %e, "peer gRPC server failed");
            }
        });
        tracing::info!(%addr, "serving raft and admin gRPC");
    }
    let topology = Topology::from_config(&cfg)
        .context("cannot place slots on shards")?
        .map(Arc::new);
    if let (Some(topo), Some(c)) = (&topology, &cfg.cluster) {
        let auth = PeerAuth {
            cluster_id: c.id.clone(),
            secret: c.secret.clone(),
        };
        tokio::spawn(refresh_leaders(topo.clone(), auth, shutdown_tx.subscribe()));
    }
    let advertised = cfg
        .me()
        .map(|m| m.client.clone())
        .unwrap_or_else(|| local_addr.to_string());
    bootstrap::bootstrap(&raft, &cfg, &advertised).await?;
    // Written last: tools treat the port file as "listening and booted".
    std::fs::write(&port_file, local_addr.port().to_string())
        .with_context(|| format!("cannot write {}", port_file.display()))?;

    let node = Arc::new(Node {
        id: cfg.node_id,
        reads: ReadBarrier::spawn(
            raft.clone(),
            Duration::from_millis(cfg.request_timeout_ms),
            Some((cfg.node_id, read_log)),
        ),
        proposer: Proposer::spawn(
            raft.clone(),
            keyspace.clone(),
            Duration::from_millis(cfg.request_timeout_ms),
            cfg.unsafe_test_faults.ack_before_commit,
        ),
        evictor: Default::default(),
        active_expire: std::sync::atomic::AtomicBool::new(true),
        pubsub,
        blocking,
        tracking,
        config_params: Default::default(),
        scripts,
        scripting: Default::default(),
        raft: raft.clone(),
        keyspace,
        settings: RwLock::new(Settings {
            requirepass: cfg.requirepass.clone(),
            maxclients: {
                let n = super::fd_limit::fit_maxclients(cfg.maxclients);
                if n < cfg.maxclients {
                    tracing::warn!(
                        maxclients = cfg.maxclients,
                        serving = n,
                        "the open-files limit (ulimit -n) is too low for maxclients; serving fewer clients"
                    );
                }
                n
            },
            timeout_secs: cfg.timeout,
            proto_max_bulk_len: cfg.proto_max_bulk_len,
            client_query_buffer_limit: cfg.client_query_buffer_limit,
            output_limits: crate::config::OutputBufferLimits::default(),
            maxmemory: cfg.maxmemory,
            maxmemory_policy: cfg.maxmemory_policy,
        }),
        config: cfg,
        stats: Stats::default(),
        started: Instant::now(),
        local_addr,
        clients: Mutex::new(BTreeMap::new()),
        book,
        topology,
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
    raft.shutdown()
        .await
        .map_err(|e| anyhow::anyhow!("raft shutdown failed: {e}"))?;
    tracing::info!("shut down cleanly");
    Ok(())
}

async fn accept_loop(
    node: Arc<Node>,
    listener: TcpListener,
    live: Arc<AtomicU64>,
) -> anyhow::Result<()> {
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
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
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
