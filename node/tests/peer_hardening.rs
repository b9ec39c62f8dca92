//! Hostile and heavy peer traffic: a lagging follower fed large entries catches up (batches
//! are bounded by bytes, never more than one gRPC message), the Raft log is bounded by bytes,
//! and peer RPCs are authenticated before their body is read.

mod common;

use std::time::{Duration, Instant};

use common::{TestCluster, TestNode};
use redis::Commands;

/// Polls `f` until it returns true or `secs` pass.
fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn applied(n: &TestNode) -> u64 {
    TestCluster::info_field(n, "raft_applied_index")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A follower that was down while ~84 MB of 3.5 MB values were written must catch up: the
/// leader used to send it up to 300 entries in one AppendEntries (over the 64 MiB gRPC limit,
/// and far over what completes in openraft's one-heartbeat RPC timeout), fail, and resend the
/// same range forever. Afterwards the group keeps taking writes and the follower sees them.
#[test]
fn lagging_follower_catches_up_through_large_entries() {
    let mut cluster = TestCluster::start_with(3, "request-timeout-ms: 10000\n");
    let leader = cluster.wait_for_leader();
    let lagger = (1..=3).find(|&i| i != leader).expect("a follower");
    cluster.node(lagger).terminate();

    let value_len = 3_500_000;
    let n = 24;
    let mut c = cluster.leader_conn();
    for i in 0..n {
        let v = vec![b'a' + (i % 26) as u8; value_len];
        let () = c.set(format!("big{i}"), v).expect("large SET acknowledged");
    }
    let target = applied(cluster.node(leader));

    let started = Instant::now();
    cluster
        .node(lagger)
        .spawn_no_wait()
        .expect("restart the follower");
    assert!(
        eventually(20, || applied(cluster.node(lagger)) >= target),
        "the follower catches up to index {target} (at {}): {}",
        applied(cluster.node(lagger)),
        cluster.node(lagger).log()
    );
    eprintln!(
        "follower caught up {} MB in {:?}",
        n * value_len / 1_000_000,
        started.elapsed()
    );

    // The group still takes writes, and the follower applies them.
    let mut c = cluster.leader_conn();
    let () = c.set("after", "yes").expect("write after catch-up");
    let target = applied(cluster.node(leader));
    assert!(eventually(10, || applied(cluster.node(lagger)) >= target));
    let mut ro = cluster.node(lagger).conn();
    let () = redis::cmd("READONLY").query(&mut ro).expect("READONLY");
    assert_eq!(ro.get::<_, String>("after").unwrap(), "yes");
    let v: Vec<u8> = ro.get(format!("big{}", n - 1)).unwrap();
    assert_eq!(v.len(), value_len);
    assert!(v.iter().all(|&b| b == b'a' + ((n - 1) % 26) as u8));
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn persistence_field(c: &mut redis::Connection, field: &str) -> Option<u64> {
    let info: String = redis::cmd("INFO").arg("persistence").query(c).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
}

/// With `--snapshot-log-bytes 4mb`, 100 writes of 1 MB (far fewer entries than
/// `snapshot-every`) still snapshot and purge: the WAL directory settles within about twice
/// the limit plus segments and never holds more than a few times the limit while writes
/// arrive at disk speed (snapshots take time to build), at most two snapshot files exist, and
/// after a restart every acknowledged write is there.
#[test]
fn log_is_bounded_by_bytes_under_large_values() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = tmp.path().join("node.yaml");
    std::fs::write(&cfg, "wal-segment-bytes: 1mb\n").expect("write config");
    let cfg = cfg.display().to_string();
    let mut node = TestNode::start(&["--config", &cfg, "--snapshot-log-bytes", "4mb"]);
    let mut c = node.conn();
    let value_len = 1_000_000;
    let mut max_wal = 0;
    for i in 0..100u32 {
        let v = vec![b'a' + (i % 26) as u8; value_len];
        let () = c.set(format!("k{}", i % 4), v).expect("SET");
        max_wal = max_wal.max(dir_bytes(&node.wal_dir()));
    }
    // The budget task polls every 100 ms: give it a moment after the last write.
    assert!(
        eventually(5, || dir_bytes(&node.wal_dir()) <= 11 * 1024 * 1024),
        "WAL dir {} bytes",
        dir_bytes(&node.wal_dir())
    );
    eprintln!("largest WAL dir seen while writing 100 MB: {max_wal} bytes");
    assert!(
        max_wal < 26 * 1024 * 1024,
        "the WAL never held much more than twice the limit: {max_wal}"
    );
    let snap = persistence_field(&mut c, "sdr_last_snapshot_index").unwrap_or(0);
    let purged = persistence_field(&mut c, "sdr_purged_index").unwrap_or(0);
    assert!(snap > 80, "snapshots were taken by bytes: last at {snap}");
    assert!(purged > 60, "the log was purged: up to {purged}");
    let snaps: Vec<String> = std::fs::read_dir(node.dir.join("snapshots"))
        .expect("snapshots dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".bin"))
        .collect();
    assert!(snaps.len() <= 2, "snapshot files: {snaps:?}");

    node.terminate();
    node.spawn().expect("restart");
    let mut c = node.conn();
    for k in 0..4u32 {
        let last = (96..100)
            .find(|i| i % 4 == k)
            .expect("last write of the key");
        let v: Vec<u8> = c.get(format!("k{k}")).expect("GET");
        assert_eq!(v.len(), value_len);
        assert!(v.iter().all(|&b| b == b'a' + (last % 26) as u8), "k{k}");
    }
}

/// Peak resident set (`VmHWM`) of a process, in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn stamped<T>(msg: T, cluster: &str, secret: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut()
        .insert("x-sdr-cluster", cluster.parse().expect("metadata"));
    req.metadata_mut()
        .insert("x-sdr-secret", secret.parse().expect("metadata"));
    req
}

/// A client on the peer port with the right cluster id but a wrong secret sends eight
/// concurrent AppendEntries of 60 MB: each is rejected (`UNAUTHENTICATED`) from its metadata,
/// before the body is read, so the node's peak RSS does not grow by the bodies (it used to
/// decode up to 64 MiB per stream before checking). The right secret still works, and the
/// group still takes writes.
#[test]
fn peer_rpc_with_wrong_secret_is_rejected_before_its_body() {
    use sdr_proto::admin as apb;
    use sdr_proto::raft as pb;
    let mut cluster = TestCluster::start(1);
    let raft_port = cluster.members[0].1;
    let cluster_id = cluster.cluster_id.clone();
    let secret = cluster.secret.clone();
    let pid = cluster.nodes[0].pid();
    let before = peak_rss(pid);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let url = format!("http://127.0.0.1:{raft_port}");
        let channel = tonic::transport::Endpoint::from_shared(url)
            .expect("endpoint")
            .connect()
            .await
            .expect("connect to the peer port");
        // A small request with the wrong secret: exactly UNAUTHENTICATED.
        let mut client =
            pb::raft_client::RaftClient::new(channel.clone()).max_encoding_message_size(usize::MAX);
        let err = client
            .vote(stamped(pb::VoteRequest::default(), &cluster_id, "wrong"))
            .await
            .expect_err("wrong secret refused");
        assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err:?}");
        let err = client
            .vote(stamped(
                pb::VoteRequest::default(),
                "other-cluster",
                &secret,
            ))
            .await
            .expect_err("wrong cluster refused");
        assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");

        // Eight huge bodies at once, wrong secret.
        let body = vec![7u8; 60 * 1024 * 1024];
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let mut c = client.clone();
            let msg = pb::AppendRequest {
                entries: vec![body.clone()],
                ..Default::default()
            };
            let req = stamped(msg, &cluster_id, "wrong");
            tasks.push(tokio::spawn(async move { c.append(req).await }));
        }
        for t in tasks {
            let r = t.await.expect("task");
            let err = r.expect_err("a huge unauthenticated append is refused");
            // The node answers from the headers, then resets the stream it will not read: the
            // client sees the status, or the reset if it was still sending.
            assert!(
                matches!(
                    err.code(),
                    tonic::Code::Unauthenticated
                        | tonic::Code::Cancelled
                        | tonic::Code::Unknown
                        | tonic::Code::Internal
                ),
                "{err:?}"
            );
        }

        // The right credentials still work on the same port.
        let mut admin = apb::admin_client::AdminClient::new(channel);
        let st = admin
            .status(stamped(apb::StatusRequest {}, &cluster_id, &secret))
            .await
            .expect("authenticated status")
            .into_inner();
        assert_eq!(st.node_id, 1);
    });
    let grown = peak_rss(pid).saturating_sub(before);
    eprintln!("peak RSS grew by {grown} bytes during 8 x 60 MB unauthenticated appends");
    assert!(
        grown < 64 * 1024 * 1024,
        "the node buffered unauthenticated bodies: peak RSS grew by {grown} bytes"
    );
    let mut c = cluster.leader_conn();
    let () = c.set("still", "serving").expect("writes after the attack");
    assert_eq!(c.get::<_, String>("still").unwrap(), "serving");
}

/// Limits by RPC kind: with the right credentials, a 10 MiB vote (votes carry a few dozen
/// bytes) is refused with `RESOURCE_EXHAUSTED` from its gRPC frame header, before its body is
/// buffered — it used to be accepted up to the 64 MiB AppendEntries limit, buffered, decoded
/// and only then found malformed (`INVALID_ARGUMENT`). Eight at once leave peak RSS nearly
/// flat. A snapshot chunk above its limit is refused the same way; an AppendEntries of the
/// same 10 MiB is within its limit (it reaches the handler and is refused there as malformed).
/// Afterwards votes, admin calls and writes still work.
#[test]
fn oversized_vote_is_refused_before_its_body_is_buffered() {
    use sdr_proto::admin as apb;
    use sdr_proto::raft as pb;
    let mut cluster = TestCluster::start(1);
    let raft_port = cluster.members[0].1;
    let cluster_id = cluster.cluster_id.clone();
    let secret = cluster.secret.clone();
    let pid = cluster.nodes[0].pid();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let before = peak_rss(pid);
    rt.block_on(async {
        let url = format!("http://127.0.0.1:{raft_port}");
        let channel = tonic::transport::Endpoint::from_shared(url)
            .expect("endpoint")
            .connect()
            .await
            .expect("connect to the peer port");
        let client =
            pb::raft_client::RaftClient::new(channel.clone()).max_encoding_message_size(usize::MAX);
        let big = vec![9u8; 10 * 1024 * 1024];

        let err = client
            .clone()
            .vote(stamped(
                pb::VoteRequest {
                    vote: big.clone(),
                    ..Default::default()
                },
                &cluster_id,
                &secret,
            ))
            .await
            .expect_err("a 10 MiB vote is refused");
        assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");

        let mut tasks = Vec::new();
        for _ in 0..8 {
            let mut c = client.clone();
            let req = stamped(
                pb::VoteRequest {
                    vote: big.clone(),
                    ..Default::default()
                },
                &cluster_id,
                &secret,
            );
            tasks.push(tokio::spawn(async move { c.vote(req).await }));
        }
        for t in tasks {
            let err = t.await.expect("task").expect_err("refused");
            // The status, or the reset of a stream the node stopped reading.
            assert!(
                matches!(
                    err.code(),
                    tonic::Code::ResourceExhausted | tonic::Code::Cancelled | tonic::Code::Unknown
                ),
                "{err:?}"
            );
        }

        let chunk = vec![1u8; 5 * 1024 * 1024];
        let err = client
            .clone()
            .install_snapshot(stamped(
                pb::SnapshotChunk {
                    data: chunk,
                    ..Default::default()
                },
                &cluster_id,
                &secret,
            ))
            .await
            .expect_err("a 5 MiB snapshot chunk is refused");
        assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");

        let err = client
            .clone()
            .append(stamped(
                pb::AppendRequest {
                    entries: vec![big.clone()],
                    ..Default::default()
                },
                &cluster_id,
                &secret,
            ))
            .await
            .expect_err("garbage entries are malformed");
        assert_eq!(
            err.code(),
            tonic::Code::InvalidArgument,
            "within the append limit: {err:?}"
        );

        // A well-formed small vote still reaches Raft (and gets a Raft answer or refusal,
        // never RESOURCE_EXHAUSTED); admin calls work.
        let r = client
            .clone()
            .vote(stamped(pb::VoteRequest::default(), &cluster_id, &secret))
            .await;
        if let Err(e) = r {
            assert_ne!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
        }
        let mut admin = apb::admin_client::AdminClient::new(channel);
        let st = admin
            .status(stamped(apb::StatusRequest {}, &cluster_id, &secret))
            .await
            .expect("authenticated status")
            .into_inner();
        assert_eq!(st.node_id, 1);
    });
    let grown = peak_rss(pid).saturating_sub(before);
    eprintln!("peak RSS grew by {grown} bytes during 9 x 10 MiB votes");
    assert!(
        grown < 40 * 1024 * 1024,
        "the node buffered oversized votes: peak RSS grew by {grown} bytes"
    );
    let mut c = cluster.leader_conn();
    let () = c.set("still", "serving").expect("writes after the attack");
}

/// True once the peer closed `s` (EOF or reset); false while it stays open.
fn closed_by_peer(s: &mut std::net::TcpStream) -> bool {
    use std::io::Read;
    let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
    let mut b = [0u8; 16];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// `peer-max-connections: 4`: of eight raw TCP connections to the peer port, those beyond
/// the fourth are closed on accept (they used to be held, each costing a descriptor and an
/// HTTP/2 connection), the node keeps serving clients meanwhile, and the four it holds are
/// closed once they fail to send the HTTP/2 preface in time (5 s), so silent sockets cannot
/// hold the slots. Then a real peer call gets through.
#[test]
fn peer_connections_beyond_the_limit_are_refused() {
    use sdr_proto::admin as apb;
    let mut cluster = TestCluster::start_with(1, "peer-max-connections: 4\n");
    let raft_port = cluster.members[0].1;
    let cluster_id = cluster.cluster_id.clone();
    let secret = cluster.secret.clone();
    let mut socks: Vec<std::net::TcpStream> = (0..8)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", raft_port)).expect("tcp connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let mut closed = vec![false; socks.len()];
    for (i, s) in socks.iter_mut().enumerate() {
        closed[i] = closed_by_peer(s);
    }
    let early = closed.iter().filter(|c| **c).count();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "checked well before the preface deadline"
    );
    assert!(
        early >= 4,
        "connections past the limit are refused: {closed:?}"
    );
    assert!(early < 8, "up to the limit are held: {closed:?}");

    // The node serves clients meanwhile.
    let mut c = cluster.leader_conn();
    let () = c
        .set("during", "ok")
        .expect("a write while the peer port is full");

    // The held ones never speak HTTP/2: the node closes them.
    assert!(
        eventually(15, || {
            for (i, s) in socks.iter_mut().enumerate() {
                if !closed[i] {
                    closed[i] = closed_by_peer(s);
                }
            }
            closed.iter().all(|c| *c)
        }),
        "silent connections are closed after the preface deadline: {closed:?}"
    );
    drop(socks);

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let url = format!("http://127.0.0.1:{raft_port}");
        let channel = tonic::transport::Endpoint::from_shared(url)
            .expect("endpoint")
            .connect()
            .await
            .expect("a peer connects once slots are free");
        let mut admin = apb::admin_client::AdminClient::new(channel);
        let st = admin
            .status(stamped(apb::StatusRequest {}, &cluster_id, &secret))
            .await
            .expect("authenticated status")
            .into_inner();
        assert_eq!(st.node_id, 1);
    });
}
